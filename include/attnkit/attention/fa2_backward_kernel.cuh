#pragma once
// FlashAttention-2 backward (Dao, 2023, Algorithm 2), assembled from attnkit's blocks.
//
// Grid: (key block, KV head, batch). The CTA loads its K and V block once and walks every
// (query head of the group, query block) that can see it, recomputing the probabilities from
// Q, K and the forward's LSE instead of storing them:
//
//   for each query block i (double-buffered Q, dO, LSE, D)
//     Sᵀ  = K Qᵢᵀ,  dPᵀ = V dOᵢᵀ                  (warp w: key rows 16w..16w+15)
//     Pᵀ  = exp(score_mod(Sᵀ·scale) − LSE)        (masks only on partial tiles)
//     dSᵀ = Pᵀ ∘ (dPᵀ − D) ∘ score_mod'
//     dV += Pᵀ dOᵢ,  dK += dSᵀ Qᵢ                 (Pᵀ, dSᵀ reused from registers)
//     dQᵢ += dS K                                  (dSᵀ through shared memory; fp32 atomics)
//   dK ·= scale;  store dK, dV
//
// D = rowsum(dO ∘ O) comes from the preprocess kernel, and dQ is scaled and rounded by the
// postprocess kernel (fa2_backward_pre_post.cuh).

#include <type_traits>

#include "../core/math.cuh"
#include "../mask/attention_mask.cuh"
#include "../mma/accumulator_store.cuh"
#include "../mma/warp_gemm.cuh"
#include "../tile/atomic_accumulate.cuh"
#include "../tile/global_to_shared.cuh"
#include "../tile/shared_to_global.cuh"
#include "backward_problem.cuh"
#include "fa2_backward_config.cuh"
#include "fa2_backward_pre_post.cuh"
#include "sequence.cuh"

namespace attnkit::fa2 {

// `problem.softmax_scale` must already be resolved (> 0), and problem.lse set: the launcher
// does both.
template <class Config, class Variant>
__global__ void __launch_bounds__(Config::kThreads, 1)
    backward_kernel(const __grid_constant__ AttentionProblem problem, const __grid_constant__ BackwardGradients grads,
                    float* dq_accumulator, const float* d_rows, const Variant variant) {
  using Element = typename Config::Element;
  using QLayout = typename Config::QLayout;
  using KVLayout = typename Config::KVLayout;
  using DSLayout = typename Config::DSLayout;
  using ScoreTile = typename Config::ScoreTile;
  constexpr int kBlockM = Config::kBlockM;
  constexpr int kBlockN = Config::kBlockN;
  constexpr int kHeadDim = Config::kHeadDim;

  extern __shared__ __align__(128) unsigned char shared_bytes[];
  Element* const k_tile = reinterpret_cast<Element*>(shared_bytes);
  Element* const v_tile = k_tile + Config::kKVElements;
  Element* const q_tiles = v_tile + Config::kKVElements;  // stage s: Q at 2s, dO at 2s + 1
  Element* const ds_tile = q_tiles + Config::kStages * 2 * Config::kQElements;
  float* const row_stats = reinterpret_cast<float*>(shared_bytes + Config::kElementBytes);  // s: LSE 2s, D 2s+1
  auto q_tile = [&](int stage) { return q_tiles + (2 * stage) * Config::kQElements; };
  auto do_tile = [&](int stage) { return q_tiles + (2 * stage + 1) * Config::kQElements; };
  auto lse_row = [&](int stage) { return row_stats + (2 * stage) * kBlockM; };
  auto d_row = [&](int stage) { return row_stats + (2 * stage + 1) * kBlockM; };

  const int n_block = blockIdx.x;
  const int head_kv = blockIdx.y;
  const int batch = blockIdx.z;
  const SequenceSpan span = locate_sequence(problem, batch);
  const int seqlen_q = span.seqlen_q;
  const int seqlen_k = span.seqlen_k;
  const int k_begin = n_block * kBlockN;
  if (k_begin >= seqlen_k) return;  // varlen: this entry is shorter than the longest

  const bool varlen = problem.cu_seqlens_q != nullptr;
  const int group = problem.heads_q / problem.heads_kv;
  const int thread = threadIdx.x;
  const int lane = thread % 32;
  const int warp = thread / 32;
  const int warp_row0 = warp * Config::kWarpRows;
  const float scale = problem.softmax_scale;

  load_tile_async<KVLayout, Config::kThreads>(
      k_tile, sequence_start<const Element>(problem.k, span.k_row_offset, batch, head_kv, varlen) +
                  k_begin * problem.k.row_stride,
      problem.k.row_stride, seqlen_k - k_begin, thread);
  load_tile_async<KVLayout, Config::kThreads>(
      v_tile, sequence_start<const Element>(problem.v, span.k_row_offset, batch, head_kv, varlen) +
                  k_begin * problem.v.row_stride,
      problem.v.row_stride, seqlen_k - k_begin, thread);

  // The query rows that keep any of these keys, for every query head of the group.
  const BandMask band = problem.band;
  const int q_first = band.first_query(k_begin, seqlen_q, seqlen_k);
  const int q_last_end = band.end_query(k_begin + kBlockN, seqlen_q, seqlen_k);
  const int m_first = q_first / kBlockM;
  const int m_count = q_last_end > q_first ? ceil_div(q_last_end, kBlockM) - m_first : 0;
  const int steps = group * m_count;
  const int64_t scratch_rows = int64_t(problem.batch) * problem.seqlen_q;

  auto step_head = [&](int step) { return head_kv * group + step / m_count; };
  auto step_q_begin = [&](int step) { return (m_first + step % m_count) * kBlockM; };

  auto load_query_block = [&](int step, int stage) {
    const int head = step_head(step);
    const int q_begin = step_q_begin(step);
    const int valid_rows = seqlen_q - q_begin;
    load_tile_async<QLayout, Config::kThreads>(
        q_tile(stage),
        sequence_start<const Element>(problem.q, span.q_row_offset, batch, head, varlen) + q_begin * problem.q.row_stride,
        problem.q.row_stride, valid_rows, thread);
    load_tile_async<QLayout, Config::kThreads>(
        do_tile(stage),
        sequence_start<const Element>(grads.d_o, span.q_row_offset, batch, head, varlen) + q_begin * grads.d_o.row_stride,
        grads.d_o.row_stride, valid_rows, thread);
    // LSE and D rows: 4-byte copies (their rows need not be 16-byte aligned); rows past the
    // sequence read as 0, which with the zero-filled Q and dO rows gives them zero gradients.
    const float* lse_global = lse_start(problem, span, batch, head) + q_begin;
    const float* d_global = d_rows + head * scratch_rows + scratch_row(problem, span, batch, q_begin);
    for (int row = thread; row < kBlockM; row += Config::kThreads) {
      const bool valid = row < valid_rows;
      cp_async_4(lse_row(stage) + row, valid ? lse_global + row : lse_global, valid);
      cp_async_4(d_row(stage) + row, valid ? d_global + row : d_global, valid);
    }
  };

  if (steps > 0) load_query_block(0, 0);
  cp_async_commit();

  typename Config::GradTile dk, dv;
  dk.fill(0.f);
  dv.fill(0.f);
  const int dq_row0 = (warp % Config::kDqRowGroups) * 16;
  const int dq_col0 = (warp / Config::kDqRowGroups) * Config::kDqCols;

  for (int step = 0; step < steps; ++step) {
    const int stage = step % Config::kStages;
    const int head = step_head(step);
    const int q_begin = step_q_begin(step);
    // As in the forward: one barrier publishes block `step` and frees the other stage.
    cp_async_wait<0>();
    __syncthreads();
    if (step + 1 < steps) {
      load_query_block(step + 1, (step + 1) % Config::kStages);
      cp_async_commit();
    }

    const TileClass tile_class = classify_tile(band, variant, batch, head,
                                               TileBounds{q_begin, q_begin + kBlockM, k_begin, k_begin + kBlockN},
                                               seqlen_q, seqlen_k);
    if (tile_class == TileClass::skip) continue;  // uniform across the CTA

    ScoreTile s, dp;
    s.fill(0.f);
    dp.fill(0.f);
    gemm_a_bt<Element, KVLayout, QLayout>(s, k_tile, warp_row0, q_tile(stage), lane);
    gemm_a_bt<Element, KVLayout, QLayout>(dp, v_tile, warp_row0, do_tile(stage), lane);

    // Pᵀ and dSᵀ element by element; this lane's rows are keys, its columns queries.
    const float* lse = lse_row(stage);
    const float* d = d_row(stage);
#pragma unroll
    for (int r = 0; r < ScoreTile::kThreadRows; ++r) {
      const int key = k_begin + warp_row0 + ScoreTile::tile_row(lane, r);
      // The band keeps an interval of queries per key.
      const int query_first = band.first_query(key, seqlen_q, seqlen_k) - q_begin;
      const int query_end = band.end_query(key + 1, seqlen_q, seqlen_k) - q_begin;
#pragma unroll
      for (int c = 0; c < ScoreTile::kThreadCols; ++c) {
        const int col = ScoreTile::tile_col(lane, c);
        float score = s.at(r, c) * scale;
        float score_grad = 1.f;
        if constexpr (Variant::has_score_mod) {
          score_grad = variant.score_mod_grad(score, batch, head, q_begin + col, key);
          score = variant.score_mod(score, batch, head, q_begin + col, key);
        }
        bool keep = true;
        if (tile_class == TileClass::partial) {
          keep = key < seqlen_k && col >= query_first && col < query_end;
          if constexpr (Variant::has_mask_mod) keep = keep && variant.mask_mod(batch, head, q_begin + col, key);
        }
        // A row that kept no key in the forward has LSE = -inf and no gradient.
        const float row_lse = lse[col];
        const float p = keep && row_lse != negative_infinity() ? fast_exp2((score - row_lse) * kLog2e) : 0.f;
        s.at(r, c) = p;
        dp.at(r, c) = p * (dp.at(r, c) - d[col]) * score_grad;
      }
    }

    gemm_regs_b<Element, QLayout>(dv, to_operand_a<Element>(s), do_tile(stage), lane);
    gemm_regs_b<Element, QLayout>(dk, to_operand_a<Element>(dp), q_tile(stage), lane);

    // dQ needs every key row of dS: through shared memory, then a 2-D split over the warps.
    store_accumulator<Element, DSLayout>(dp, ds_tile, warp_row0, lane);
    __syncthreads();
    typename Config::DqTile dq;
    dq.fill(0.f);
    gemm_at_b<Element, DSLayout, KVLayout, kBlockN / 16>(dq, ds_tile, dq_row0 / 8, k_tile, dq_col0 / 8, lane);
    float* const dq_rows = dq_accumulator + scratch_row(problem, span, batch, q_begin) * problem.heads_q * kHeadDim +
                           head * kHeadDim;
#pragma unroll
    for (int n = 0; n < Config::DqTile::kNTiles; ++n)
#pragma unroll
      for (int i = 0; i < 4; i += 2) {
        const layout::Coord c = layout::mma_c_coord(lane, i);
        const int row = dq_row0 + c.row;
        if (q_begin + row < seqlen_q)
          atomic_add_pair(dq_rows + int64_t(row) * problem.heads_q * kHeadDim + dq_col0 + n * 8 + c.col,
                          dq.v[0][n][i], dq.v[0][n][i + 1]);
      }
  }

  // Every warp is done reading K (for dQ) and every copy has landed before dK and dV are
  // staged where K and V were.
  cp_async_wait<0>();
  __syncthreads();
  dk.for_each(lane, [&](int, int, float& value) { value *= scale; });
  store_accumulator<Element, KVLayout>(dk, k_tile, warp_row0, lane);
  store_accumulator<Element, KVLayout>(dv, v_tile, warp_row0, lane);
  __syncwarp();
  Element* const dk_global =
      sequence_start<Element>(grads.d_k, span.k_row_offset, batch, head_kv, varlen) + k_begin * grads.d_k.row_stride;
  Element* const dv_global =
      sequence_start<Element>(grads.d_v, span.k_row_offset, batch, head_kv, varlen) + k_begin * grads.d_v.row_stride;
  store_rows<KVLayout, Config::kWarpRows, 32>(k_tile, dk_global, grads.d_k.row_stride, warp_row0, seqlen_k - k_begin,
                                              lane);
  store_rows<KVLayout, Config::kWarpRows, 32>(v_tile, dv_global, grads.d_v.row_stride, warp_row0, seqlen_k - k_begin,
                                              lane);
}

}  // namespace attnkit::fa2
