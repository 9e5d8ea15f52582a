// The FlashAttention-1 forward kernel (fa1/forward.cuh), bf16, over the papers' grid:
// the 2022 schedule, to set beside bench_fa2_forward's numbers. The workspace (fp32 O, m, ℓ) is
// allocated once, outside the timed loop, so the timing is the kernel alone.
//
// Counters besides the harness's: B_r, B_c and warps (fa1::block_sizes: the paper's rule cut to
// what the kernel holds), o_passes (K/V blocks per head, i.e. read-modify-write passes over
// O in HBM: ⌈N / B_c⌉) and ctas (one per (batch, head): the parallelism FA1 has, where FA2
// also splits the queries).

#include <cstddef>

#include "attention_tensors.cuh"
#include "attnkit/fa1/forward.cuh"
#include "harness.cuh"

namespace {

using namespace attnkit;
using namespace attnkit::bench;

template <int HeadDim>
void launch_forward(const AttentionProblem& problem, cudaStream_t stream, fa1::ForwardWorkspace workspace) {
  fa1::forward<bfloat16_t, HeadDim>(problem, NoVariant{}, stream, workspace);
}

void forward(benchmark::State& state, const GridPoint& point) {
  const fa1::BlockSizes sizes = fa1::block_sizes(point.head_dim);
  state.counters["B_r"] = benchmark::Counter(sizes.block_m);
  state.counters["B_c"] = benchmark::Counter(sizes.block_n);
  state.counters["warps"] = benchmark::Counter(sizes.warps);
  state.counters["o_passes"] = benchmark::Counter((point.seqlen + sizes.block_n - 1) / sizes.block_n);
  state.counters["ctas"] = benchmark::Counter(double(point.batch) * point.heads);

  GpuTimer timer;
  ForwardTensors tensors(point);
  DeviceBuffer<unsigned char> scratch(fa1::forward_workspace_bytes(tensors.problem));
  const fa1::ForwardWorkspace workspace{scratch.get(), scratch.bytes()};
  // The random fills ran on the default stream; the timer's stream does not wait for it.
  ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());
  auto launch = [&] {
    switch (point.head_dim) {
      case 64: return launch_forward<64>(tensors.problem, timer.stream(), workspace);
      case 128: return launch_forward<128>(tensors.problem, timer.stream(), workspace);
      case 256: return launch_forward<256>(tensors.problem, timer.stream(), workspace);
      default: attnkit::detail::fail("no FA1 forward benchmark for head_dim = ", point.head_dim);
    }
  };
  time_on_gpu(state, timer, point.flops(false), forward_bytes(point), launch);
}

}  // namespace

int main(int argc, char** argv) {
  register_paper_grid("fa1_fwd", forward);
  return run_benchmarks(argc, argv);
}
