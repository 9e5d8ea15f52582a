#pragma once
// Attention backward on Hopper (sm_90a): the FlashAttention-2 backward's math (Dao, 2023,
// Algorithm 2; fa2/backward_key_block.cuh is the mma.sync pass) on TMA, mbarrier
// pipelines and wgmma, warp-specialized: the wiring of four roles.
//
//   tile       backward_tile.cuh       the CTA's 128-key block (grid: key block, KV head, batch)
//                                      and the query blocks that see it
//   producers  backward_producer.cuh   warpgroup 0: K and V once, then Q, dO (TMA) and the
//                                      rows' LSE·log2(e), D (cp.async) of each step
//   main loop  backward_mainloop.cuh   two consumer warpgroups, 64 keys each: Sᵀ, dPᵀ, Pᵀ, dSᵀ,
//                                      dV, dK in registers, dQ added to the fp32 accumulator
//   epilogue   backward_epilogue.cuh   dK ·= scale; dK, dV out
//
// D and LSE·log2(e) come from the FA2 backward's preprocess, and dQ is scaled and rounded by
// its postprocess (backward/pre_post.cuh), which the launcher runs around this.

#include <type_traits>

#include "../attention/query_block_walk.cuh"
#include "../backward/pre_post.cuh"
#include "../mask/variant.cuh"
#include "../sm90/warp_specialization.cuh"
#include "backward_config.cuh"
#include "backward_epilogue.cuh"
#include "backward_mainloop.cuh"
#include "backward_producer.cuh"
#include "backward_tensor_maps.cuh"
#include "backward_tile.cuh"

namespace attnkit::hopper {

// The scratch buffers are BackwardScratch's. `problem.softmax_scale` must be resolved.
template <class Config, class Variant, class QueryBlocks = BandQueryWalk>
__global__ void __launch_bounds__(Config::kThreads, 1)
    backward_kernel(const __grid_constant__ AttentionProblem problem, const __grid_constant__ BackwardTensorMaps maps,
                    const TensorRef d_k, const TensorRef d_v, const BackwardScratch scratch,
                    const Variant unbound_variant, const QueryBlocks query_blocks) {
#if ATTNKIT_DEVICE_SM90A
  using Storage = typename Config::SharedStorage;
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  const uint32_t misalignment = shared_address(shared_bytes) % 1024;
  Storage& smem = *reinterpret_cast<Storage*>(shared_bytes + (misalignment ? 1024 - misalignment : 0));
  if (threadIdx.x == 0) {
    smem.kv_pipe.init();
    smem.q_pipe.init();
  }
  __syncthreads();

  const BackwardTile<Config> tile(problem);
  if (!tile.valid()) return;
  // The variant as this entry's own lengths make it (mask/variant.cuh, for_sequence).
  const Variant variant = variant_for_sequence(unbound_variant, tile.span.seqlen_q, tile.span.seqlen_k);
  const auto walk = tile.walk(query_blocks, problem.band);
  using Walk = std::decay_t<decltype(walk)>;

  if (warpgroup_index() == 0) {
    warpgroup_release_registers<Config::kProducerRegisters>();
    const BackwardProducer<Config, Walk> producer(smem, problem, tile, walk);
    if (threadIdx.x / 32 == 1) producer.copy_row_statistics(scratch, threadIdx.x % 32);
    if (threadIdx.x == 0) producer.load(maps);
    return;
  }
  warpgroup_claim_registers<Config::kConsumerRegisters>();
  BackwardMainloop<Config, Variant> mainloop(smem, problem, tile, variant, scratch, warpgroup_index() - 1);
  mainloop.run(walk);
  BackwardEpilogue<Config>::store(smem, problem, tile, d_k, d_v, mainloop.dk, mainloop.dv, mainloop.key_row());
#elif defined(__CUDA_ARCH__)
  __trap();  // compiled without sm_90a: the launcher never runs this on such a build
#endif
}

}  // namespace attnkit::hopper
