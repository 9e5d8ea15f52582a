#pragma once
// Attention forward on Hopper (sm_90a): the FlashAttention-2 math on TMA, mbarrier pipelines
// and wgmma, warp-specialized (the schedule of FlashAttention-3, Shah et al. 2024).
//
// The kernel is the wiring of four roles, each a block of its own:
//   tile scheduler  which tiles (query block, head, batch) the CTA computes: one, or with
//                   Config::kPersistent a list of them, at most one CTA per SM
//                   (forward_tile_scheduler.cuh, tile_schedule.cuh);
//   producer        warpgroup 0, one thread: each tile's Q and its walk's K/V blocks into the
//                   mbarrier pipelines (forward_producer.cuh);
//   main loop       each consumer warpgroup (two or three, 64 query rows each): the GEMMs and
//                   the online softmax over the walk's blocks (forward_mainloop.cuh);
//   epilogue        each consumer warpgroup: O /= l, O and LSE out (forward_epilogue.cuh).
// The consumers' schedule (ping-pong turns, S a block ahead) is the main loop's, drawn at the top
// of forward_mainloop.cuh. Q is released after the tile's last S GEMM (or after the O store,
// where O is staged in the Q tile), so the producer loads the next tile's Q and first K/V
// blocks while the consumers finish this one.
// The variants' hooks see each batch entry as for_sequence makes it (mask/variant.cuh).

#include "../attention/key_block_walk.cuh"
#include "../core/config.cuh"
#include "../core/warp_uniform.cuh"
#include "../mask/variant.cuh"
#include "../sm90/warp_specialization.cuh"
#include "forward_config.cuh"
#include "forward_epilogue.cuh"
#include "forward_mainloop.cuh"
#include "forward_producer.cuh"
#include "forward_tensor_maps.cuh"
#include "forward_tile_scheduler.cuh"
#include "shared_storage.cuh"

namespace attnkit::hopper {

// `problem.softmax_scale` must already be resolved (> 0): the launcher does it. `KeyBlocks`
// says which K/V blocks each query block visits (key_block_walk.cuh): the band's (dense) or a
// block mask's (block-sparse).
template <class Config, class Variant, class KeyBlocks = BandWalk>
__global__ void __launch_bounds__(Config::kThreads, 1)
    forward_kernel(const __grid_constant__ AttentionProblem problem, const __grid_constant__ ForwardTensorMaps maps,
                   const Variant unbound_variant, const KeyBlocks key_blocks, const TileSchedule schedule) {
#if ATTNKIT_DEVICE_SM90A
  auto& smem = aligned_shared_storage<typename Config::SharedStorage>();
  if (threadIdx.x == 0) {
#pragma unroll
    for (int c = 0; c < Config::kConsumerWarpgroups; ++c) smem.q_pipe[c].init();
    smem.k_pipe.init();
    smem.v_pipe.init();
  }
  __syncthreads();

  const ForwardTileScheduler<Config> scheduler(problem, schedule);
  auto walk_of = [&](const ForwardTile& tile) { return key_block_walk<Config>(key_blocks, problem.band, tile); };

  if (warpgroup_index() == 0) {
    warpgroup_release_registers<Config::kProducerRegisters>();
    // The other lanes exit, not wait: the scheduler's warp_uniform shuffles then name only
    // non-exited lane 0, which the shuffle's contract allows.
    if (threadIdx.x != 0) return;
    ForwardProducer<Config> producer(smem, maps, problem.cu_seqlens_q != nullptr);
    scheduler.for_each_tile([&](const ForwardTile& tile) { producer.load(tile, walk_of(tile)); });
    return;
  }

  warpgroup_claim_registers<Config::kConsumerRegisters>();
  const int consumer = warpgroup_index() - 1;
  ForwardMainloop<Config, Variant> mainloop(smem, consumer, problem.softmax_scale, problem.band);
  ForwardEpilogue<Config> epilogue(smem, maps, problem, consumer);
  PipelineState q_state, k_state;  // this consumer's positions in the Q and K/V pipelines
  mainloop.begin();
  scheduler.for_each_tile([&](const ForwardTile& tile) {
    const Variant variant = variant_for_sequence(unbound_variant, tile.span.seqlen_q, tile.span.seqlen_k);
    const auto walk = walk_of(tile);
    const int n_blocks = warp_uniform(walk.size());  // a block mask's count is loaded
    typename Config::OutputTile o;
    o.fill(0.f);
    typename ForwardMainloop<Config, Variant>::Softmax softmax;
    softmax.reset();
    if (n_blocks > 0) mainloop.compute(tile, walk, n_blocks, variant, o, softmax, q_state, k_state);
    epilogue.store(tile, n_blocks, o, softmax, mainloop.scale_log2(), q_state);
  });
  mainloop.end();
  epilogue.finish();
#elif defined(__CUDA_ARCH__)
  __trap();  // compiled without sm_90a: the launchers refuse such a build (device_support.cuh)
#endif
}

}  // namespace attnkit::hopper
