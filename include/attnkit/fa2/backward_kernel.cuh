#pragma once
// FlashAttention-2 backward (Dao, 2023, Algorithm 2): grid (key block, KV head, batch), one
// key block's pass (fa2/backward_key_block.cuh) per CTA. dQ parts from the CTAs of different key
// blocks meet in an fp32 accumulator: with atomics, or in key-block order (Deterministic).

#include "backward_key_block.cuh"

namespace attnkit::fa2 {

// `problem.softmax_scale` must already be resolved (> 0) and problem.lse set: the launcher does
// both. `Dropout` as in the forward: false compiles out the RNG. `Deterministic`: dQ added in
// key-block order (scratch.dq_turns) instead of in whatever order the atomics land.
// `QueryBlocks` says which query blocks each key block visits (query_block_walk.cuh): the
// band's (dense), or a block mask's.
template <class Config, class Variant, bool Dropout = false, bool Deterministic = false,
          class QueryBlocks = BandQueryWalk>
__global__ void __launch_bounds__(Config::kThreads, 1)
    backward_kernel(const __grid_constant__ AttentionProblem problem, const __grid_constant__ BackwardGradients grads,
                    const BackwardScratch scratch, const Variant variant, const QueryBlocks query_blocks) {
  extern __shared__ __align__(128) unsigned char shared_bytes[];
  constexpr DqAccumulation kDq = Deterministic ? DqAccumulation::ordered : DqAccumulation::atomic;
  backward_key_block<Config, Variant, Dropout, kDq>(problem, grads, scratch, variant, shared_bytes, blockIdx.x,
                                                    blockIdx.y, blockIdx.z, query_blocks);
}

}  // namespace attnkit::fa2
