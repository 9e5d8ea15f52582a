// Block-sparse FA2 backward (fa2::backward_block_sparse), bf16, on the masks of
// bench_block_sparse.cu (block_sparse_masks.cuh: batch 2, 16 heads, 8192 tokens, head dim 128):
//   fa2_sparse_bwd/causal, /window1024, /local+global, /dense, /random/density<p>
// The sparse forward runs once, untimed, to leave O and LSE; the workspace is allocated once.
// TFLOPS counts the kept blocks only: 2.5 × 4·b·h·s²·d · density. Causal and the window are
// one variant type (a window of unbounded left reach is causal), so this file instantiates
// two backward kernel sets, not four.

#include <functional>
#include <string>

#include "attention_tensors.cuh"
#include "attnkit/attention/backward_problem.cuh"
#include "attnkit/fa2/backward.cuh"
#include "attnkit/hopper/forward.cuh"
#include "attnkit/mask/block_mask_builder.cuh"
#include "attnkit/mask/mask_patterns.cuh"
#include "block_sparse_masks.cuh"
#include "harness.cuh"

namespace {

using namespace attnkit;
using namespace attnkit::bench;

template <class Variant>
void time_sparse_backward(benchmark::State& state, const std::function<HostBlockMask()>& make_mask,
                          const Variant& variant) {
  const GridPoint point = sparse_point();
  GpuTimer timer;
  ForwardTensors tensors(point);
  BackwardTensors backward_tensors(point, tensors.problem);
  const BackwardGradients& grads = backward_tensors.grads;
  const HostBlockMask host = make_mask();
  const DeviceBlockMask mask = DeviceBlockMask::upload(host);
  const double density = host.density();
  state.counters["density"] = benchmark::Counter(density);
  ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());  // the random fills ran on the default stream
  hopper::forward_block_sparse<bfloat16_t, kHeadDim>(tensors.problem, mask.view(), variant, timer.stream());
  ATTNKIT_CUDA_CHECK(cudaStreamSynchronize(timer.stream()));
  time_on_gpu(state, timer, point.flops(true) * density, backward_bytes(point), [&] {
    fa2::backward_block_sparse<bfloat16_t, kHeadDim>(tensors.problem, grads, mask.view(), variant, timer.stream());
  });
}

template <class Variant>
void register_sparse_backward(const std::string& name, const std::function<HostBlockMask()>& make_mask,
                              const Variant& variant) {
  benchmark::RegisterBenchmark(name.c_str(),
                               [make_mask, variant](benchmark::State& state) {
                                 record_grid_point(state, sparse_point());
                                 try {
                                   time_sparse_backward(state, make_mask, variant);
                                 } catch (const std::exception& e) {
                                   if (!state.error_occurred()) state.SkipWithError(e.what());
                                 }
                               })
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
}

}  // namespace

int main(int argc, char** argv) {
  const SlidingWindowPattern causal{{}, 1 << 30, 0};
  const SlidingWindowPattern window{{}, 1023, 0};
  register_sparse_backward("fa2_sparse_bwd/causal", pattern_mask(causal), causal);
  register_sparse_backward("fa2_sparse_bwd/window1024", pattern_mask(window), window);
  register_sparse_backward("fa2_sparse_bwd/local+global", pattern_mask(BlockLocalGlobal{}), NoVariant{});
  register_sparse_backward("fa2_sparse_bwd/dense", all_full_mask(), NoVariant{});
  for (const double fraction : kDensities) {
    char name[64];
    std::snprintf(name, sizeof name, "fa2_sparse_bwd/random/density%.2f", fraction);
    register_sparse_backward(name, [fraction] { return random_mask(fraction, kHeads, kSeqlen); }, NoVariant{});
  }
  return run_benchmarks(argc, argv);
}
