// The FlashAttention-2 forward kernel (attention/fa2_forward.cuh), bf16, over the papers' grid.

#include "attention_tensors.cuh"
#include "attnkit/attention/fa2_forward.cuh"
#include "harness.cuh"

namespace {

using namespace attnkit;
using namespace attnkit::bench;

template <int HeadDim>
void launch_forward(const AttentionProblem& problem, cudaStream_t stream) {
  fa2::forward<bfloat16_t, HeadDim>(problem, NoVariant{}, stream);
}

void forward(benchmark::State& state, const GridPoint& point) {
  GpuTimer timer;
  ForwardTensors tensors(point);
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
  register_paper_grid("fa2_fwd", forward);
  return run_benchmarks(argc, argv);
}
