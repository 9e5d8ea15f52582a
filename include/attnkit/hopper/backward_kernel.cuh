#pragma once
// Attention backward on Hopper (sm_90a): the FlashAttention-2 backward's math (Dao, 2023,
// Algorithm 2; attention/backward_key_block.cuh is the mma.sync pass) on TMA, mbarrier
// pipelines and wgmma, warp-specialized.
//
// Grid: one CTA per (128-key block, KV head, batch). Warpgroups:
//   producers  one thread loads K and V once, then for every (query head of the group, query
//              block) the walk visits (attention/query_block_walk.cuh) that block's Q and dO
//              into a kStages ring (TMA, completion counted on the stage's `full` mbarrier);
//              one warp copies the block's LSE·log2(e) and D beside them (cp.async, arriving
//              on the same barrier);
//   consumers  two warpgroups, 64 keys each (wgmma's M), per query block:
//
//     Sᵀ  = K Qᵀ,  dPᵀ = V dOᵀ                   (wgmma, both operands from shared memory)
//     Pᵀ  = exp2(score_mod(Sᵀ·scale)·log2e − LSE·log2e),  dSᵀ = Pᵀ ∘ (dPᵀ − D) ∘ score_mod'
//     dV += Pᵀ dO,  dK += dSᵀ Q                  (Pᵀ, dSᵀ from registers; dK, dV stay there)
//     dSᵀ → shared memory; both groups' halves in, then dQ += dS K, each group its half
//                                                  (config: rows or columns), added to the
//                                                  fp32 accumulator with vector reductions
//   dK ·= scale; dK, dV → global memory
//
// D and LSE·log2(e) come from the FA2 backward's preprocess, and dQ is scaled and rounded by
// its postprocess (attention/fa2_backward_pre_post.cuh), which the launcher runs around this.

#include <type_traits>

#include <cuda.h>

#include "../attention/backward_key_block.cuh"
#include "../attention/fa2_backward_pre_post.cuh"
#include "../attention/query_block_walk.cuh"
#include "../attention/sequence.cuh"
#include "../core/math.cuh"
#include "../mask/attention_mask.cuh"
#include "../mask/mask_score_tile.cuh"
#include "../mma/accumulator_store.cuh"
#include "../tile/atomic_accumulate.cuh"
#include "../tile/cp_async.cuh"
#include "../tile/shared_to_global.cuh"
#include "backward_config.cuh"
#include "tma_load.cuh"
#include "warp_specialization.cuh"
#include "wgmma.cuh"

namespace attnkit::hopper {

struct BackwardTensorMaps {
  CUtensorMap q;    // boxes of BlockM rows
  CUtensorMap d_o;  // likewise
  CUtensorMap k;    // boxes of 128 rows
  CUtensorMap v;
};

// Named barrier ids of the two consumer warpgroups (256 threads).
inline constexpr int kDsReadyBarrier = 1;  // both halves of dSᵀ are in shared memory
inline constexpr int kKeysFreeBarrier = 2; // no dQ GEMM reads K any more: dK, dV may take its place

// The scratch buffers are fa2::BackwardScratch's. `problem.softmax_scale` must be resolved.
template <class Config, class Variant, class QueryBlocks = BandQueryWalk>
__global__ void __launch_bounds__(Config::kThreads, 1)
    backward_kernel(const __grid_constant__ AttentionProblem problem, const __grid_constant__ BackwardTensorMaps maps,
                    const TensorRef d_k, const TensorRef d_v, const fa2::BackwardScratch scratch,
                    const Variant unbound_variant, const QueryBlocks query_blocks) {
#if ATTNKIT_DEVICE_SM90A
  using Element = typename Config::Element;
  using KVLayout = typename Config::KVLayout;
  using DSLayout = typename Config::DSLayout;
  using ScoreTile = typename Config::ScoreTile;
  using Storage = typename Config::SharedStorage;
  constexpr int kBlockM = Config::kBlockM;
  constexpr int kBlockN = Config::kBlockN;
  constexpr int kHeadDim = Config::kHeadDim;
  constexpr int kStages = Config::kStages;
  constexpr int kKeys = Config::kWarpgroupKeys;

  extern __shared__ __align__(16) unsigned char shared_bytes[];
  const uint32_t misalignment = shared_address(shared_bytes) % 1024;
  Storage& smem = *reinterpret_cast<Storage*>(shared_bytes + (misalignment ? 1024 - misalignment : 0));

  if (threadIdx.x == 0) {
    smem.kv_pipe.init();
    smem.q_pipe.init();
  }
  __syncthreads();

  const int n_block = blockIdx.x, head_kv = blockIdx.y, batch = blockIdx.z;
  const SequenceSpan span = locate_sequence(problem, batch);
  const int seqlen_q = span.seqlen_q;
  const int seqlen_k = span.seqlen_k;
  const int k_begin = n_block * kBlockN;
  if (k_begin >= seqlen_k) return;  // varlen: this entry is shorter than the longest
  // The variant as this entry's own lengths make it (mask/variant.cuh, for_sequence).
  const Variant variant = variant_for_sequence(unbound_variant, seqlen_q, seqlen_k);

  const bool varlen = problem.cu_seqlens_q != nullptr;
  const int group = problem.heads_q / problem.heads_kv;
  const BandMask band = problem.band;
  const auto walk =
      query_blocks.template walk<kBlockM, kBlockN, false>(band, batch, head_kv, group, n_block, seqlen_q, seqlen_k);
  using WalkPosition = typename decltype(walk)::Position;
  const int steps = walk.size();
  const int64_t scratch_rows = int64_t(problem.batch) * problem.seqlen_q;
  // Query block steps in packed scratch order: (query head, row).
  auto scratch_index = [&](int head, int row) { return head * scratch_rows + fa2::scratch_row(problem, span, batch, row); };

  if (warpgroup_index() == 0) {
    // ---- producers: thread 0 issues the TMA copies, warp 1 copies the row statistics ----
    warpgroup_release_registers<Config::kProducerRegisters>();
    const int warp = threadIdx.x / 32;
    if (warp == 1) {
      const int lane = threadIdx.x % 32;
      PipelineState state;
      WalkPosition position = walk.start();
      for (int step = 0; step < steps; ++step) {
        const int head = head_kv * group + walk.head_offset(position);
        const int q_begin = walk.block(position) * kBlockM;
        const int64_t first_row = scratch_index(head, q_begin);
        mbarrier_wait(&smem.q_pipe.empty[state.stage], state.parity ^ 1u);
        // Rows past the sequence read as zeros (never used: the consumers mask them).
        for (int row = lane; row < kBlockM; row += 32) {
          const bool valid = q_begin + row < seqlen_q;
          const int64_t at = valid ? first_row + row : first_row;
          cp_async_4(&smem.lse_log2[state.stage][row], scratch.lse_log2_rows + at, valid);
          cp_async_4(&smem.d[state.stage][row], scratch.d_rows + at, valid);
        }
        cp_async_arrive_on(&smem.q_pipe.full[state.stage]);
        state.advance<kStages>();
        walk.advance(position);
      }
      return;
    }
    if (threadIdx.x != 0) return;
    tma_prefetch_map(maps.q);
    tma_prefetch_map(maps.d_o);
    // Tensor coordinates: varlen rows are packed, with one "batch" in the map.
    const int map_batch = varlen ? 0 : batch;
    const int q_row0 = static_cast<int>(span.q_row_offset);
    uint64_t* kv_full = smem.kv_pipe.producer_acquire(PipelineState{}, 2 * Config::kKVBytes);
    const int k_row = static_cast<int>(span.k_row_offset) + k_begin;
    tma_load_panels<kHeadDim, kBlockN * 64>(smem.k, maps.k, k_row, head_kv, map_batch, kv_full);
    tma_load_panels<kHeadDim, kBlockN * 64>(smem.v, maps.v, k_row, head_kv, map_batch, kv_full);
    PipelineState state;
    WalkPosition position = walk.start();
    for (int step = 0; step < steps; ++step) {
      const int head = head_kv * group + walk.head_offset(position);
      const int q_begin = walk.block(position) * kBlockM;
      uint64_t* full = smem.q_pipe.producer_acquire(state, 2 * Config::kQBytes);
      tma_load_panels<kHeadDim, kBlockM * 64>(smem.q[state.stage], maps.q, q_row0 + q_begin, head, map_batch, full);
      tma_load_panels<kHeadDim, kBlockM * 64>(smem.d_o[state.stage], maps.d_o, q_row0 + q_begin, head, map_batch,
                                              full);
      state.advance<kStages>();
      walk.advance(position);
    }
    return;
  }

  // ---- consumers ----
  warpgroup_claim_registers<Config::kConsumerRegisters>();
  const int consumer = warpgroup_index() - 1;
  const int thread = threadIdx.x % 128;
  const int lane = thread % 32;
  const int warp_row = (thread / 32) * 16;           // this warp's first row within the group's 64
  const int key_row0 = consumer * kKeys;             // the group's first key within the block
  const int warp_key0 = k_begin + key_row0 + warp_row;
  // The group's keys: rows key_row0.. of each 64-column panel of K and V.
  const Element* const k_rows = smem.k + key_row0 * 64;
  const Element* const v_rows = smem.v + key_row0 * 64;
  const float scale = problem.softmax_scale;
  const float score_to_log2 = Variant::has_score_mod ? kLog2e : scale * kLog2e;

  // The group's part of dQ: rows (dq_row0 ..) and columns (dq_col0 ..) of the query block;
  // the A operand is dSᵀ's 64-column panel of those rows, B the 64-column panels of K from
  // those columns.
  const int dq_row0 = Config::kDqSplitsRows ? consumer * 64 : 0;
  const int dq_col0 = Config::kDqSplitsRows ? 0 : consumer * Config::kDqCols;
  const Element* const k_dq_panels = smem.k + dq_col0 * kBlockN;  // panel dq_col0 / 64
  const int64_t dq_row_stride = int64_t(problem.heads_q) * kHeadDim;

  typename Config::GradTile dk, dv;
  dk.fill(0.f);
  dv.fill(0.f);
  smem.kv_pipe.consumer_wait(PipelineState{});

  // Adds a step's dQ part to the fp32 accumulator. This lane's dQ elements: rows g and g + 8 of
  // its warp's 16, two adjacent columns per n-tile.
  auto add_dq = [&](const typename Config::DqTile& dq, int head, int q_begin) {
    const layout::Coord first = layout::mma_c_coord(lane, 0);
    const int q_first = q_begin + dq_row0 + warp_row + first.row;
    float* const dq_first_row = scratch.dq_accumulator +
                                fa2::scratch_row(problem, span, batch, q_first) * dq_row_stride +
                                head * kHeadDim + dq_col0 + first.col;
    const bool first_valid = q_first < seqlen_q;
    const bool second_valid = q_first + 8 < seqlen_q;
#pragma unroll
    for (int n = 0; n < Config::DqTile::kNTiles; ++n) {
      if (first_valid) atomic_add_pair(dq_first_row + n * 8, dq.v[0][n][0], dq.v[0][n][1]);
      if (second_valid) atomic_add_pair(dq_first_row + 8 * dq_row_stride + n * 8, dq.v[0][n][2], dq.v[0][n][3]);
    }
  };

  PipelineState state;
  WalkPosition position = walk.start();
  for (int step = 0; step < steps; ++step) {
    const int head = head_kv * group + walk.head_offset(position);
    const int q_begin = walk.block(position) * kBlockM;
    const int stage = state.stage;
    // Reused two steps later: by then both groups have retired this step's dQ GEMM (each
    // retires it before its next arrival at kDsReadyBarrier, and writes only after that).
    Element* const ds_tile = smem.ds[step % 2];

    smem.q_pipe.consumer_wait(state);
    ScoreTile s, dp;
    wgmma_fence();
    warpgroup_gemm_a_bt<Element, kBlockN, kBlockM, kHeadDim / 16>(s, k_rows, smem.q[stage], false);
    wgmma_commit_group();
    warpgroup_gemm_a_bt<Element, kBlockN, kBlockM, kHeadDim / 16>(dp, v_rows, smem.d_o[stage], false);
    wgmma_commit_group();

    // A block hanging over the end of the queries is masked too: its rows past the sequence
    // hold another sequence's Q and dO (varlen), which must not count.
    TileClass tile_class = walk.classify(position, band, variant, batch, head,
                                         TileBounds{q_begin, q_begin + kBlockM, k_begin + key_row0,
                                                    k_begin + key_row0 + kKeys},
                                         seqlen_q, seqlen_k);
    if (q_begin + kBlockM > seqlen_q) tile_class = TileClass::partial;

    wgmma_wait_group<1>();
    fence_operands(s);
    // With a score_mod, its derivative at each score, kept for dSᵀ (the tile becomes Pᵀ).
    ScoreTile score_grad;
    if constexpr (Variant::has_score_mod) {
#pragma unroll
      for (int r = 0; r < ScoreTile::kThreadRows; ++r)
#pragma unroll
        for (int c = 0; c < ScoreTile::kThreadCols; ++c) {
          const int q = q_begin + ScoreTile::tile_col(lane, c);
          const int key = warp_key0 + ScoreTile::tile_row(lane, r);
          const float score = s.at(r, c) * scale;
          score_grad.at(r, c) = variant.score_mod_grad(score, batch, head, q, key);
          s.at(r, c) = variant.score_mod(score, batch, head, q, key);
        }
    }
    // Pᵀ in place of Sᵀ, then dSᵀ in place of dPᵀ. This lane's columns are queries, in
    // adjacent pairs: their LSE and D are read as one float2 each. On masked tiles the dropped
    // elements are set to zero outright rather than through exp2(−inf − LSE), so no value of a
    // dropped element's LSE or D (a row that kept no key, a row past the sequence) reaches dSᵀ.
    const float* const lse_log2 = smem.lse_log2[stage];
    const float* const d_rows = smem.d[stage];
    auto to_gradients = [&](auto masked) {
#pragma unroll
      for (int r = 0; r < ScoreTile::kThreadRows; ++r)
#pragma unroll
        for (int c = 0; c < ScoreTile::kThreadCols; c += 2) {
          const float2 lse_pair = *reinterpret_cast<const float2*>(lse_log2 + ScoreTile::tile_col(lane, c));
#pragma unroll
          for (int half = 0; half < 2; ++half) {
            float& score = s.at(r, c + half);
            const float p = fast_exp2(fmaf(score, score_to_log2, -(half ? lse_pair.y : lse_pair.x)));
            score = decltype(masked)::value && score == negative_infinity() ? 0.f : p;
          }
        }
      wgmma_wait_group<0>();
      fence_operands(dp);
#pragma unroll
      for (int r = 0; r < ScoreTile::kThreadRows; ++r)
#pragma unroll
        for (int c = 0; c < ScoreTile::kThreadCols; c += 2) {
          const float2 d_pair = *reinterpret_cast<const float2*>(d_rows + ScoreTile::tile_col(lane, c));
#pragma unroll
          for (int half = 0; half < 2; ++half) {
            const float p = s.at(r, c + half);
            float d_score = p * (dp.at(r, c + half) - (half ? d_pair.y : d_pair.x));
            if constexpr (Variant::has_score_mod) d_score *= score_grad.at(r, c + half);
            // A dropped element's P is 0; a kept one's D is a real row's, so 0 there is exact.
            if constexpr (decltype(masked)::value) d_score = p == 0.f ? 0.f : d_score;
            dp.at(r, c + half) = d_score;
          }
        }
    };
    if (tile_class == TileClass::full) {
      to_gradients(std::false_type{});
    } else {
      mask_transposed_score_tile(s, band, variant, batch, head, warp_key0, q_begin, seqlen_q, seqlen_k, lane);
      to_gradients(std::true_type{});
    }

    auto p = to_operand_a<Element>(s);
    auto ds = to_operand_a<Element>(dp);
    // dSᵀ for the dQ GEMM, which reads it through the async proxy: the generic-proxy writes
    // are fenced for it before the barrier that tells the other group they are in.
    store_accumulator<Element, DSLayout>(dp, ds_tile, key_row0 + warp_row, lane);
    cuda::ptx::fence_proxy_async(cuda::ptx::space_shared);
    fence_operands(p);
    fence_operands(ds);

    // dQ first (it needs both groups' dSᵀ), then dV and dK: dQ's part is added to the
    // accumulator while they run.
    named_barrier_sync<256>(kDsReadyBarrier);
    typename Config::DqTile dq;
    wgmma_fence();
    warpgroup_gemm_at_b<Element, kBlockN, kBlockN / 16>(dq, ds_tile + dq_row0 * kBlockN, k_dq_panels, false);
    wgmma_commit_group();
    warpgroup_gemm_regs_b<Element, kBlockM>(dv, p, smem.d_o[stage]);
    warpgroup_gemm_regs_b<Element, kBlockM>(dk, ds, smem.q[stage]);
    wgmma_commit_group();

    wgmma_wait_group<1>();
    fence_operands(dq);
    add_dq(dq, head, q_begin);

    wgmma_wait_group<0>();  // dV and dK are in: Q and dO of this stage are free
    fence_operands(dv);
    fence_operands(dk);
    fence_operands(p);
    fence_operands(ds);
    // A branch around the arrive, not its predicate as in the forward: here the predicated
    // form measured 1-5% slower (bench/README.md, Hopper backward decisions).
    if (lane == 0) smem.q_pipe.consumer_release(state, true);

    state.advance<kStages>();
    walk.advance(position);
  }

  // dK and dV leave through the K and V tiles, once no dQ GEMM of either group reads K; each
  // warp then stores its own 16 rows.
  named_barrier_sync<256>(kKeysFreeBarrier);
  dk.for_each(lane, [&](int, int, float& value) { value *= scale; });
  store_accumulator<Element, KVLayout>(dk, smem.k, key_row0 + warp_row, lane);
  store_accumulator<Element, KVLayout>(dv, smem.v, key_row0 + warp_row, lane);
  __syncwarp();
  Element* const dk_global =
      sequence_start<Element>(d_k, span.k_row_offset, batch, head_kv, varlen) + k_begin * d_k.row_stride;
  Element* const dv_global =
      sequence_start<Element>(d_v, span.k_row_offset, batch, head_kv, varlen) + k_begin * d_v.row_stride;
  store_rows<KVLayout, 16, 32>(smem.k, dk_global, d_k.row_stride, key_row0 + warp_row, seqlen_k - k_begin, lane);
  store_rows<KVLayout, 16, 32>(smem.v, dv_global, d_v.row_stride, key_row0 + warp_row, seqlen_k - k_begin, lane);
#elif defined(__CUDA_ARCH__)
  __trap();  // compiled without sm_90a: the launcher never runs this on such a build
#endif
}

}  // namespace attnkit::hopper
