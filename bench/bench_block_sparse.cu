// Block-sparse attention forward, bf16, at the shape FlexAttention is usually compared on
// (batch 2, 16 heads, 8192 tokens, head dim 128), on 128 × 128 block masks:
//   <kernel>/causal            CausalPattern (diagonal blocks partial)
//   <kernel>/window1024        1024 keys up to and including the diagonal
//   <kernel>/local+global      a query block sees its own key block and every 8th one (block-
//                              aligned, all kept blocks full)
//   <kernel>/dense             every block full: the sparse walk's cost over the dense kernel
//   <kernel>/random/density<p> p of each query block's key blocks, drawn at random, all full:
//                              time against density (linear when the walk costs nothing)
//   mask_build/<pattern>       building the mask on the GPU from the pattern's mask_mod
// for kernel = hopper_sparse_fwd (hopper::forward_block_sparse) and fa2_sparse_fwd
// (fa2::forward_block_sparse). TFLOPS counts the kept blocks only, as FlexAttention's
// benchmarks do: 4·b·h·s²·d · density, density = kept blocks / all blocks.

#include <algorithm>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "attention_tensors.cuh"
#include "attnkit/fa2/forward.cuh"
#include "attnkit/hopper/forward.cuh"
#include "attnkit/mask/block_mask_builder.cuh"
#include "attnkit/mask/mask_patterns.cuh"
#include "block_sparse_masks.cuh"
#include "harness.cuh"

namespace {

using namespace attnkit;
using namespace attnkit::bench;

using SparseForward = std::function<void(const AttentionProblem&, const BlockMaskView&, cudaStream_t)>;

template <class Variant>
SparseForward hopper_sparse(const Variant& variant) {
  return [variant](const AttentionProblem& p, const BlockMaskView& m, cudaStream_t s) {
    hopper::forward_block_sparse<bfloat16_t, kHeadDim>(p, m, variant, s);
  };
}
template <class Variant>
SparseForward fa2_sparse(const Variant& variant) {
  return [variant](const AttentionProblem& p, const BlockMaskView& m, cudaStream_t s) {
    fa2::forward_block_sparse<bfloat16_t, kHeadDim>(p, m, variant, s);
  };
}

// Times `forward` on a fresh set of tensors over `mask` (owned by the caller's lambda).
void time_sparse(benchmark::State& state, const std::function<HostBlockMask()>& make_mask,
                 const SparseForward& forward) {
  const GridPoint point = sparse_point();
  GpuTimer timer;
  ForwardTensors tensors(point);
  const HostBlockMask host = make_mask();
  const DeviceBlockMask mask = DeviceBlockMask::upload(host);
  const double density = host.density();
  state.counters["density"] = benchmark::Counter(density);
  time_on_gpu(state, timer, point.flops(false) * density, forward_bytes(point),
              [&] { forward(tensors.problem, mask.view(), timer.stream()); });
}

void register_sparse(const std::string& name, const std::function<HostBlockMask()>& make_mask,
                     const SparseForward& forward) {
  benchmark::RegisterBenchmark(name.c_str(),
                               [make_mask, forward](benchmark::State& state) {
                                 record_grid_point(state, sparse_point());
                                 try {
                                   time_sparse(state, make_mask, forward);
                                 } catch (const std::exception& e) {
                                   if (!state.error_occurred()) state.SkipWithError(e.what());
                                 }
                               })
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
}

// The GPU builder's time from a mask_mod (one mask shared by the heads).
template <class Pattern>
void register_mask_build(const std::string& name, const Pattern& pattern) {
  benchmark::RegisterBenchmark(name.c_str(),
                               [pattern](benchmark::State& state) {
                                 GpuTimer timer;
                                 time_on_gpu(state, timer, 0.0, 0.0, [&] {
                                   DeviceBlockMask mask = build_block_mask_from_mask_mod(pattern, 1, 1, kSeqlen,
                                                                                         kSeqlen, kDefaultMaskBlock,
                                                                                         kDefaultMaskBlock,
                                                                                         timer.stream());
                                   ATTNKIT_CUDA_CHECK(cudaStreamSynchronize(timer.stream()));
                                 });
                               })
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
}

}  // namespace

int main(int argc, char** argv) {
  const CausalPattern causal{};
  const SlidingWindowPattern window{{}, 1023, 0};  // keys q - 1023 .. q: 1024 of them
  const BlockLocalGlobal local_global{};
  const std::pair<std::string, std::function<SparseForward(int)>> kernels[] = {
      {"hopper_sparse_fwd", [&](int which) {
         return which == 0 ? hopper_sparse(causal) : which == 1 ? hopper_sparse(window)
                : which == 2 ? hopper_sparse(local_global) : hopper_sparse(NoVariant{});
       }},
      {"fa2_sparse_fwd", [&](int which) {
         return which == 0 ? fa2_sparse(causal) : which == 1 ? fa2_sparse(window)
                : which == 2 ? fa2_sparse(local_global) : fa2_sparse(NoVariant{});
       }},
  };
  for (const auto& [kernel, forward] : kernels) {
    register_sparse(kernel + "/causal", pattern_mask(causal), forward(0));
    register_sparse(kernel + "/window1024", pattern_mask(window), forward(1));
    register_sparse(kernel + "/local+global", pattern_mask(local_global), forward(2));
    register_sparse(kernel + "/dense", all_full_mask(), forward(3));
    for (const double fraction : kDensities) {
      char name[64];
      std::snprintf(name, sizeof name, "%s/random/density%.2f", kernel.c_str(), fraction);
      register_sparse(name, [fraction] { return random_mask(fraction, kHeads, kSeqlen); }, forward(3));
    }
  }
  register_mask_build("mask_build/causal", causal);
  register_mask_build("mask_build/window1024", window);
  return run_benchmarks(argc, argv);
}
