// The FlashAttention-2 forward kernel (fa2/forward.cuh), bf16, over the papers' grid,
// and with dropout (p = 0.1) on a few seqlens to price the fused RNG.

#include <vector>

#include "attention_tensors.cuh"
#include "attnkit/fa2/forward.cuh"
#include "harness.cuh"

namespace {

using namespace attnkit;
using namespace attnkit::bench;

template <int HeadDim>
void launch_forward(const AttentionProblem& problem, cudaStream_t stream) {
  fa2::forward<bfloat16_t, HeadDim>(problem, NoVariant{}, stream);
}

void forward(benchmark::State& state, const GridPoint& point, float dropout) {
  GpuTimer timer;
  ForwardTensors tensors(point);
  tensors.problem.dropout.probability = dropout;
  auto launch = [&] {
    switch (point.head_dim) {
      case 64: return launch_forward<64>(tensors.problem, timer.stream());
      case 128: return launch_forward<128>(tensors.problem, timer.stream());
      case 256: return launch_forward<256>(tensors.problem, timer.stream());
      default: attnkit::detail::fail("no FA2 forward benchmark for head_dim = ", point.head_dim);
    }
  };
  time_on_gpu(state, timer, point.flops(false), forward_bytes(point), launch);
}

}  // namespace

int main(int argc, char** argv) {
  register_paper_grid("fa2_fwd", [](benchmark::State& state, const GridPoint& point) { forward(state, point, 0.f); });
  std::vector<GridPoint> few;
  for (const GridPoint& point : paper_grid())
    if (point.seqlen == 1024 || point.seqlen == 4096 || point.seqlen == 16384) few.push_back(point);
  register_grid("fa2_fwd_dropout", [](benchmark::State& state, const GridPoint& point) { forward(state, point, 0.1f); },
                few);
  return run_benchmarks(argc, argv);
}
