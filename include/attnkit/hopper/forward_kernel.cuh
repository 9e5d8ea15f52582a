#pragma once
// Attention forward on Hopper (sm_90a): the FlashAttention-2 math on TMA, mbarrier pipelines
// and wgmma, warp-specialized (the schedule of FlashAttention-3, Shah et al. 2024).
//
// Grid: (query block of 64 rows per consumer, head, batch), longest blocks first. Warpgroups:
//   producer   one thread loads Q once, then K and V of each block into a kStages ring
//              (TMA, completion counted on the stage's `full` mbarrier);
//   consumers  two or three warpgroups, 64 query rows each, walk the same K/V blocks in the
//              order of the walk (attention/key_block_walk.cuh: the band's blocks last first,
//              or a block mask's):
//
//     S₀ = Q K₀ᵀ; P₀ = softmax(S₀)                                  (j: position in the walk)
//     for j = 1 ..:   issue Sⱼ = Q Kⱼᵀ and O += Pⱼ₋₁ Vⱼ₋₁ together      (wgmma, async)
//                     wait for Sⱼ; release Kⱼ; mask, online softmax → Pⱼ, rescale factors
//                     wait for the P·V; release Vⱼ₋₁; O *= rescale      (overlaps the softmax)
//     O += P_last V_last;  O /= l;  LSE = m + log l
//
//   With PingPong the consumers take turns issuing their GEMMs (named barriers, round robin),
//   so one's softmax overlaps another's GEMMs as well.
// The per-warp register tiles, masks and online softmax are the mma.sync path's: a wgmma
// accumulator is, warp by warp, an AccumulatorTile (layout/wgmma_layout.cuh).

#include <cuda.h>

#include "../attention/key_block_walk.cuh"
#include "../attention/sequence.cuh"
#include "../core/math.cuh"
#include "../mask/attention_mask.cuh"
#include "../mask/mask_score_tile.cuh"
#include "../mma/accumulator_store.cuh"
#include "../mma/row_reduce.cuh"
#include "../softmax/online_softmax.cuh"
#include "../tile/shared_to_global.cuh"
#include "forward_config.cuh"
#include "tma_load.cuh"
#include "warp_specialization.cuh"
#include "wgmma.cuh"

namespace attnkit::hopper {

struct ForwardTensorMaps {
  CUtensorMap q;  // boxes of 64 rows (one consumer warpgroup's)
  CUtensorMap k;  // boxes of BlockN rows
  CUtensorMap v;
};

// Named barrier ids: consumer c waits on kSchedulerBarrier + c for its turn to issue GEMMs.
inline constexpr int kSchedulerBarrier = 1;

// `problem.softmax_scale` must already be resolved (> 0): the launcher does it. `KeyBlocks`
// says which K/V blocks each query block visits (key_block_walk.cuh): the band's (dense) or a
// block mask's (block-sparse).
template <class Config, class Variant, class KeyBlocks = BandWalk>
__global__ void __launch_bounds__(Config::kThreads, 1)
    forward_kernel(const __grid_constant__ AttentionProblem problem, const __grid_constant__ ForwardTensorMaps maps,
                   const Variant variant, const KeyBlocks key_blocks) {
#if ATTNKIT_DEVICE_SM90A
  using Element = typename Config::Element;
  using QLayout = typename Config::QLayout;
  using KVLayout = typename Config::KVLayout;
  using Storage = typename Config::SharedStorage;
  constexpr int kBlockM = Config::kBlockM;
  constexpr int kBlockN = Config::kBlockN;
  constexpr int kStages = Config::kStages;
  constexpr int kRows = Config::kWarpgroupRows;

  extern __shared__ __align__(16) unsigned char shared_bytes[];
  const uint32_t misalignment = shared_address(shared_bytes) % 1024;
  Storage& smem = *reinterpret_cast<Storage*>(shared_bytes + (misalignment ? 1024 - misalignment : 0));

  const int m_block = gridDim.x - 1 - blockIdx.x;
  const int head = blockIdx.y;
  const int batch = blockIdx.z;
  const SequenceSpan span = locate_sequence(problem, batch);
  const int seqlen_q = span.seqlen_q;
  const int seqlen_k = span.seqlen_k;
  const int q_begin = m_block * kBlockM;
  if (q_begin >= seqlen_q) return;  // varlen: this entry is shorter than the longest
  const int q_end = min(q_begin + kBlockM, seqlen_q);
  const int head_kv = head / (problem.heads_q / problem.heads_kv);

  const BandMask band = problem.band;
  // The K/V blocks these rows visit; tiles outside the walk are never loaded.
  const auto walk = key_blocks.template walk<kBlockN>(band, batch, head, q_begin, q_end, seqlen_q, seqlen_k);
  const int n_blocks = walk.size();

  if (threadIdx.x == 0) {
    cuda::ptx::mbarrier_init(&smem.q_full, 1);
    smem.k_pipe.init();
    smem.v_pipe.init();
  }
  __syncthreads();

  if (warpgroup_index() == 0) {
    // ---- producer ----
    warpgroup_release_registers<Config::kProducerRegisters>();
    if (threadIdx.x != 0 || n_blocks == 0) return;
    // Tensor coordinates: varlen rows are packed, with one "batch" in the map.
    const bool varlen = problem.cu_seqlens_q != nullptr;
    const int map_batch = varlen ? 0 : batch;
    const int q_row = static_cast<int>(span.q_row_offset) + q_begin;
    const int k_row = static_cast<int>(span.k_row_offset);
    tma_prefetch_map(maps.q);
    tma_prefetch_map(maps.k);
    tma_prefetch_map(maps.v);
    cuda::ptx::mbarrier_arrive_expect_tx(cuda::ptx::sem_release, cuda::ptx::scope_cta, cuda::ptx::space_shared,
                                         &smem.q_full, Config::kConsumerWarpgroups * Config::kQBytes);
#pragma unroll
    for (int c = 0; c < Config::kConsumerWarpgroups; ++c)
      tma_load_panels<Config::kHeadDim, kRows * 64>(smem.q[c], maps.q, q_row + c * kRows, head, map_batch,
                                                    &smem.q_full);
    PipelineState state;
    for (int i = 0, n_block = walk.block(0); i < n_blocks; ++i) {
      const int row = k_row + n_block * kBlockN;
      uint64_t* k_full = smem.k_pipe.producer_acquire(state, Config::kKVBytes);
      tma_load_panels<Config::kHeadDim, kBlockN * 64>(smem.k[state.stage], maps.k, row, head_kv, map_batch, k_full);
      uint64_t* v_full = smem.v_pipe.producer_acquire(state, Config::kKVBytes);
      tma_load_panels<Config::kHeadDim, kBlockN * 64>(smem.v[state.stage], maps.v, row, head_kv, map_batch, v_full);
      state.advance<kStages>();
      if (i + 1 < n_blocks) n_block = walk.next(n_block, i);
    }
    return;
  }

  // ---- consumers ----
  warpgroup_claim_registers<Config::kConsumerRegisters>();
  const int consumer = warpgroup_index() - 1;
  const int thread = threadIdx.x % 128;
  const int lane = thread % 32;
  const int warp_row = (thread / 32) * 16;  // this warp's first row within the warpgroup's 64
  const int group_q0 = q_begin + consumer * kRows;
  const int warp_q0 = group_q0 + warp_row;
  Element* const q_tile = smem.q[consumer];

  typename Config::OutputTile o;
  o.fill(0.f);
  OnlineSoftmax<Config::OutputTile::kThreadRows> softmax;
  softmax.reset();
  const float scale = problem.softmax_scale;
  const float scale_log2 = Variant::has_score_mod ? kLog2e : scale * kLog2e;

  // Turn-taking: consumer c issues after a sync on its barrier; consumer c - 1 arrives there
  // once it has issued. The last consumer gives consumer 0 the first turn and skips its own
  // final arrival, so the arrivals on each barrier match its syncs exactly.
  constexpr int kLastConsumer = Config::kConsumerWarpgroups - 1;
  const bool ping_pong = Config::kPingPong && n_blocks > 0;
  const int next = consumer == kLastConsumer ? 0 : consumer + 1;
  auto wait_turn = [&] {
    if (ping_pong) named_barrier_sync<256>(kSchedulerBarrier + consumer);
  };
  auto pass_turn = [&](bool last_block) {
    if (ping_pong && !(consumer == kLastConsumer && last_block))
      named_barrier_arrive<256>(kSchedulerBarrier + next);
  };
  if (ping_pong && consumer == kLastConsumer) named_barrier_arrive<256>(kSchedulerBarrier + 0);

  // Every consumer warp releases a stage once its wgmmas reading it have retired.
  auto release = [&](auto& pipe, const PipelineState& state) {
    if (lane == 0) pipe.consumer_release(state);
  };

  typename Config::ScoreTile s;
  auto issue_scores = [&](int stage) {
    warpgroup_gemm_a_bt<Element, kRows, kBlockN, Config::kHeadDim / 16>(s, q_tile, smem.k[stage], false);
  };
  // Pins the register tiles a GEMM batch reads before its wgmma_fence: without it the compiler
  // may sink their last writes (the rescale of O, the P conversion) below the fence, and ptxas
  // then has to insert a second fence of its own.
  auto pin_operands = [&](auto&... tiles) { (fence_operands(tiles), ...); };
  // score_mod, the mask on partial tiles, the online softmax: S becomes P in place.
  auto softmax_block = [&](int i, int n_block, float (&o_rescale)[Config::OutputTile::kThreadRows]) {
    const int k_begin = n_block * kBlockN;
    if constexpr (Variant::has_score_mod) {
      s.for_each(lane, [&](int row, int col, float& score) {
        score = variant.score_mod(score * scale, batch, head, warp_q0 + row, k_begin + col);
      });
    }
    const TileClass tile_class =
        walk.classify(i, band, variant, batch, head, TileBounds{group_q0, group_q0 + kRows, k_begin, k_begin + kBlockN},
                      seqlen_q, seqlen_k);
    if (tile_class != TileClass::full)
      mask_score_tile(s, band, variant, batch, head, warp_q0, k_begin, seqlen_q, seqlen_k, lane);
    softmax.absorb(s, scale_log2, o_rescale, AccumulatorRowReduce{});
  };

  if (n_blocks > 0) {
    mbarrier_wait(&smem.q_full, 0);
    PipelineState k_state;
    float o_rescale[Config::OutputTile::kThreadRows];

    smem.k_pipe.consumer_wait(k_state);
    wait_turn();
    pin_operands(s);
    wgmma_fence();
    issue_scores(k_state.stage);
    wgmma_commit_group();
    pass_turn(n_blocks == 1);
    wgmma_wait_group<0>();
    fence_operands(s);
    release(smem.k_pipe, k_state);
    int n_block = walk.block(0);
    softmax_block(0, n_block, o_rescale);  // O is still zero: rescaling it changes nothing
    auto p = to_operand_a<Element>(s);
    PipelineState v_state = k_state;
    k_state.advance<kStages>();

    // O is rescaled by the previous block's factors while this block's S GEMM runs, just
    // before the P·V that adds to it.
    auto rescale_output = [&] {
      bool rescale_needed = false;
#pragma unroll
      for (int r = 0; r < Config::OutputTile::kThreadRows; ++r) rescale_needed |= o_rescale[r] != 1.f;
      if (__any_sync(0xffffffffu, rescale_needed)) o.scale_rows(o_rescale);
    };
    for (int i = 1; i < n_blocks; ++i) {
      n_block = walk.next(n_block, i - 1);
      smem.k_pipe.consumer_wait(k_state);
      wait_turn();
      pin_operands(s);
      wgmma_fence();
      issue_scores(k_state.stage);
      wgmma_commit_group();
      rescale_output();
      smem.v_pipe.consumer_wait(v_state);
      pin_operands(o, p);
      wgmma_fence();
      warpgroup_gemm_regs_b<Element, kBlockN>(o, p, smem.v[v_state.stage]);
      wgmma_commit_group();
      pass_turn(i == n_blocks - 1);

      wgmma_wait_group<1>();  // S of this block is in; P·V of the previous one still runs
      fence_operands(s);
      release(smem.k_pipe, k_state);
      softmax_block(i, n_block, o_rescale);

      wgmma_wait_group<0>();
      fence_operands(o);
      fence_operands(p);
      release(smem.v_pipe, v_state);
      p = to_operand_a<Element>(s);
      v_state = k_state;
      k_state.advance<kStages>();
    }

    rescale_output();
    smem.v_pipe.consumer_wait(v_state);
    pin_operands(o, p);
    wgmma_fence();
    warpgroup_gemm_regs_b<Element, kBlockN>(o, p, smem.v[v_state.stage]);
    wgmma_commit_group();
    wgmma_wait_group<0>();
    fence_operands(o);
    fence_operands(p);
    release(smem.v_pipe, v_state);
  }

  float o_normalizer[Config::OutputTile::kThreadRows];
  float lse[Config::OutputTile::kThreadRows];
  softmax.finalize(scale_log2, AccumulatorRowReduce{}, o_normalizer, lse);
  o.scale_rows(o_normalizer);

  // O leaves through this warp's own 16 rows of its Q tile (the wgmmas that read Q have
  // retired), then as 16-byte rows to global memory.
  store_accumulator<Element, QLayout>(o, q_tile, warp_row, lane);
  __syncwarp();
  const bool varlen = problem.cu_seqlens_q != nullptr;
  Element* const o_global =
      sequence_start<Element>(problem.o, span.q_row_offset, batch, head, varlen) + group_q0 * problem.o.row_stride;
  store_rows<QLayout, 16, 32>(q_tile, o_global, problem.o.row_stride, warp_row, q_end - group_q0, lane);

  if (problem.lse != nullptr && layout::lane_in_group(lane) == 0) {
    float* const lse_global = lse_start(problem, span, batch, head);
#pragma unroll
    for (int r = 0; r < Config::OutputTile::kThreadRows; ++r) {
      const int q = warp_q0 + Config::OutputTile::tile_row(lane, r);
      if (q < q_end) lse_global[q] = lse[r];
    }
  }
#elif defined(__CUDA_ARCH__)
  __trap();  // compiled without sm_90a: the launcher never runs this on such a build
#endif
}

}  // namespace attnkit::hopper
