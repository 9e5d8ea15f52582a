#pragma once
// FlashAttention-1 forward (Dao et al., 2022, Algorithm 1), assembled from attnkit's blocks.
//
// Grid: one CTA per (query head, batch entry). The CTA walks the whole score matrix of its
// head, K/V blocks outermost; O, m and ℓ live in HBM (the workspace) between steps and the
// output is normalized at every step:
//
//   O = 0, ℓ = 0, m = −∞                                          (line 2)
//   for each K/V block j                                          (line 5)
//     load K_j, V_j: warp w its slice of B_c / W keys             (line 6)
//     for each query block i that sees block j                    (line 7)
//       load Q_i, O_i, ℓ_i, m_i                                   (line 8)
//       S_w = Q_i K_wᵀ;  m_w, P̃_w = exp(S_w − m_w), ℓ_w          (lines 9-10, each warp its keys)
//       P̃V_w = (P̃_w ∘ Z) V_w                                     (Z: the dropout mask, Algorithm 2)
//       m̃, ℓ̃, P̃V = cross-warp combine of the W partials         (split-K, through shared memory)
//       m_new, ℓ_new;  O_i ← (ℓ_i e^{m_i−m_new} O_i + e^{m̃−m_new} P̃V / (1−p)) / ℓ_new
//       write O_i, ℓ_i ← ℓ_new, m_i ← m_new to HBM                (lines 11-13)
//   O (16-bit) ← O (fp32);  LSE = m + log ℓ
//
// The steps come from the query-block walk (fa1/schedule.cuh): the band's, where tiles the mask
// drops entirely are never visited, or a block mask's (fa1/block_mask_schedule.cuh, Algorithm 5),
// where only the listed tiles are. Rows that no step reaches keep line 2's O = 0, ℓ = 0, m = −∞,
// which the last lines turn into O = 0 and LSE = −∞. Each step is one step ahead in its copies:
// the next Q block, and the next K/V block when the step is the last of its block, load while
// this step computes; O_i, m_i, ℓ_i load while S and P̃V are computed.

#include <type_traits>

#include "../attention/sequence.cuh"
#include "../core/math.cuh"
#include "../mask/mask_score_tile.cuh"
#include "../mma/row_reduce.cuh"
#include "../mma/warp_gemm.cuh"
#include "../softmax/dropout.cuh"
#include "../softmax/online_softmax.cuh"
#include "../softmax/softmax_merge.cuh"
#include "../tile/warp_global_to_shared.cuh"
#include "forward_config.cuh"
#include "schedule.cuh"
#include "workspace.cuh"

namespace attnkit::fa1 {

// `problem.softmax_scale` must already be resolved (> 0): the launcher does it. `Dropout`
// false compiles out every trace of the RNG; true applies problem.dropout, with the same mask
// as the FA2 kernels (softmax/dropout.cuh). `QueryBlocks` says which query blocks each K/V
// block visits (fa1/schedule.cuh): the band's (dense), or a block mask's.
template <class Config, class Variant, bool Dropout = false, class QueryBlocks = BandQueryBlocks>
__global__ void __launch_bounds__(Config::kThreads, 1)
    forward_kernel(const __grid_constant__ AttentionProblem problem, const Variant unbound_variant,
                   const ForwardWorkspaceView workspace, const QueryBlocks query_blocks) {
  using Element = typename Config::Element;
  using QLayout = typename Config::QLayout;
  using KVSliceLayout = typename Config::KVSliceLayout;
  using Accumulate = typename Config::Accumulate;
  constexpr int kBlockM = Config::kBlockM;
  constexpr int kBlockN = Config::kBlockN;
  constexpr int kHeadDim = Config::kHeadDim;
  constexpr int kWarpKeys = Config::kWarpKeys;
  constexpr int kThreads = Config::kThreads;

  const int head = blockIdx.x;
  const int batch = blockIdx.y;
  const SequenceSpan span = locate_sequence(problem, batch);
  const int seqlen_q = span.seqlen_q;
  const int seqlen_k = span.seqlen_k;
  if (seqlen_q <= 0) return;  // varlen: an empty entry
  // The variant as this entry's own lengths make it (mask/variant.cuh, for_sequence).
  const Variant variant = variant_for_sequence(unbound_variant, seqlen_q, seqlen_k);

  const int thread = threadIdx.x;
  const int lane = thread % 32;
  const int warp = thread / 32;

  extern __shared__ __align__(128) unsigned char shared_bytes[];
  Element* const kv_slices = reinterpret_cast<Element*>(shared_bytes);
  Element* const k_slice = kv_slices + (2 * warp) * KVSliceLayout::kElements;  // this warp's keys only
  Element* const v_slice = kv_slices + (2 * warp + 1) * KVSliceLayout::kElements;
  auto q_tile = [&](int buffer) {
    return reinterpret_cast<Element*>(shared_bytes + Config::kQOffset) + buffer * QLayout::kElements;
  };
  float* const staged_o = reinterpret_cast<float*>(shared_bytes + Config::kStagedOOffset);
  const typename Config::Combine combine(reinterpret_cast<float*>(shared_bytes + Config::kCombineOffset));
  float* const staged_max = reinterpret_cast<float*>(shared_bytes + Config::kRowStatsOffset);
  float* const staged_sum = staged_max + kBlockM;
  float* const old_scale = staged_sum + kBlockM;
  float* const block_scale = old_scale + kBlockM;

  const bool varlen = problem.cu_seqlens_q != nullptr;
  const int head_kv = head / (problem.heads_q / problem.heads_kv);
  const Element* const q_global = sequence_start<const Element>(problem.q, span.q_row_offset, batch, head, varlen);
  const Element* const k_global = sequence_start<const Element>(problem.k, span.k_row_offset, batch, head_kv, varlen);
  const Element* const v_global = sequence_start<const Element>(problem.v, span.k_row_offset, batch, head_kv, varlen);
  const int64_t first_row = workspace.first_row(batch, head);
  float* const o_hbm = workspace.output + first_row * kHeadDim;  // rows of kHeadDim floats
  float* const m_hbm = workspace.row_max + first_row;
  float* const l_hbm = workspace.row_sum + first_row;

  // Line 2: O = 0, ℓ = 0, m = −∞ in HBM, for this (batch, head)'s rows. A row no step reaches
  // keeps these: besides the finalize below, fa1::backward reads them (RowMaxAndSum) and takes
  // ℓ = 0 as "kept no key" (P = 0), so a backward over the same block mask may visit or skip
  // such rows alike.
  clear_rows<kHeadDim, kThreads>(o_hbm, kHeadDim, seqlen_q, thread);
  for (int row = thread; row < seqlen_q; row += kThreads) {
    m_hbm[row] = negative_infinity();
    l_hbm[row] = 0.f;
  }

  auto load_q_block = [&](int q_block, int buffer) {
    const int q_begin = q_block * kBlockM;
    load_tile_async_warps<QLayout, Config::kWarps>(q_tile(buffer), q_global + q_begin * problem.q.row_stride,
                                                   problem.q.row_stride, seqlen_q - q_begin, warp, lane);
  };
  // Only this warp's keys of block j; a slice past the sequence end reads as zeros (the copy
  // then points at the sequence start, which is always a valid address).
  auto load_kv_slice = [&](int kv_block) {
    const int key0 = kv_block * kBlockN + warp * kWarpKeys;
    const int64_t offset = key0 < seqlen_k ? key0 : 0;
    load_tile_async_warps<KVSliceLayout, 1>(k_slice, k_global + offset * problem.k.row_stride, problem.k.row_stride,
                                            seqlen_k - key0, 0, lane);
    load_tile_async_warps<KVSliceLayout, 1>(v_slice, v_global + offset * problem.v.row_stride, problem.v.row_stride,
                                            seqlen_k - key0, 0, lane);
  };

  const auto schedule =
      query_blocks.template schedule<kBlockM, kBlockN>(problem.band, variant, batch, head, seqlen_q, seqlen_k);
  typename std::decay_t<decltype(schedule)>::Step step{};
  bool has_step = schedule.first(step);
  if (has_step) {
    load_q_block(step.q_block, 0);
    load_kv_slice(step.kv_block);
  }
  cp_async_commit();

  const float scale = problem.softmax_scale;
  // With a score_mod the logits are scaled before the hook, so only log2(e) remains to apply.
  const float scale_log2 = Variant::has_score_mod ? kLog2e : scale * kLog2e;
  const DropoutMask dropout(problem.dropout.seed, problem.dropout.offset,
                            dropout_threshold(problem.dropout.probability),
                            static_cast<uint32_t>(batch * problem.heads_q + head));
  // Every block's term enters O through block_scale: the 1/(1 − p) of the kept values goes there.
  const float block_keep_scale = Dropout ? dropout_keep_scale(problem.dropout.probability) : 1.f;

  for (int buffer = 0; has_step; buffer ^= 1) {
    auto next = step;
    const bool has_next = schedule.next(next);
    const int q_begin = step.q_block * kBlockM;
    const int valid_rows = min(kBlockM, seqlen_q - q_begin);

    // Q_i and this warp's slices of K_j, V_j have landed, from every thread's copies; and every
    // thread is done with the previous step, whose shared buffers the copies below overwrite.
    // (On the first step the barrier also publishes line 2's initialization of O, ℓ, m.)
    cp_async_wait<0>();
    __syncthreads();

    // Line 8: O_i, ℓ_i, m_i come from HBM while S and P̃V are computed. Each thread stages
    // exactly the chunks and rows it updates at line 12, so its own wait is enough.
    Accumulate::stage(staged_o, o_hbm + q_begin * kHeadDim, kHeadDim, valid_rows, thread);
    for (int row = thread; row < kBlockM; row += kThreads) {
      const bool valid = row < valid_rows;
      cp_async_4(staged_max + row, m_hbm + (valid ? q_begin + row : 0), valid);
      cp_async_4(staged_sum + row, l_hbm + (valid ? q_begin + row : 0), valid);
    }
    cp_async_commit();
    if (has_next) load_q_block(next.q_block, buffer ^ 1);
    cp_async_commit();

    // Lines 9-10, split-K: this warp's keys of block j against all B_r rows of Q_i.
    const int warp_key0 = step.kv_block * kBlockN + warp * kWarpKeys;
    typename Config::ScoreTile s;
    s.fill(0.f);
    gemm_a_bt<Element, QLayout, KVSliceLayout>(s, q_tile(buffer), 0, k_slice, lane);
    if constexpr (Variant::has_score_mod) {
      s.for_each(lane, [&](int row, int col, float& score) {
        score = variant.score_mod(score * scale, batch, head, q_begin + row, warp_key0 + col);
      });
    }
    if (step.tile_class == TileClass::partial) {
      mask_score_tile(s, problem.band, variant, batch, head, q_begin, warp_key0, seqlen_q, seqlen_k, lane);
    }
    // A fresh softmax over this warp's keys alone: m_w, P̃_w = exp2((S − m_w)·c) in place, and
    // this lane's share of ℓ_w.
    OnlineSoftmax<Config::ScoreTile::kThreadRows> warp_softmax;
    warp_softmax.reset();
    float unused_rescale[Config::ScoreTile::kThreadRows];
    warp_softmax.absorb(s, scale_log2, unused_rescale, AccumulatorRowReduce{});
    // Dropout acts on P̃ after its row sum is taken: m and ℓ are the undropped softmax's.
    if constexpr (Dropout) {
      dropout.for_each_rows_queries<typename Config::ScoreTile>(lane, q_begin, warp_key0,
                                                                [&](int m, int n, int i, bool keep) {
                                                                  if (!keep) s.v[m][n][i] = 0.f;
                                                                });
    }
    typename Config::OutputTile partial_o;
    partial_o.fill(0.f);
    gemm_regs_b<Element, KVSliceLayout>(partial_o, to_operand_a<Element>(s), v_slice, lane);

    combine.publish(warp, lane, warp_softmax, partial_o);
    // The warp is done with its slices of K_j and V_j (no other warp reads them): when the next
    // step starts another K/V block, its copy starts now, behind the combine and the update.
    // (Here rather than right after P̃V: with the partial output in shared memory, the copy's
    // addresses do not compete with it for registers.)
    if (has_next && next.kv_block != step.kv_block) {
      __syncwarp();
      load_kv_slice(next.kv_block);
    }
    cp_async_commit();  // possibly empty: the staging of line 8 stays "all but the newest two"

    cp_async_wait<2>();
    // Every warp's partials are in shared memory.
    __syncthreads();

    // Lines 11 and 13, one thread per row: the block's m̃, ℓ̃ across warps, then the running
    // update; the new m_i, ℓ_i go back to HBM, the two scales to line 12.
    for (int row = thread; row < kBlockM; row += kThreads) {
      const SoftmaxStats block = combine.merge_row(row, scale_log2);
      const NormalizedUpdate update = normalized_update({staged_max[row], staged_sum[row]}, block, scale_log2);
      old_scale[row] = update.old_scale;
      block_scale[row] = update.block_scale * block_keep_scale;
      if (row < valid_rows) {
        m_hbm[q_begin + row] = update.stats.max;
        l_hbm[q_begin + row] = update.stats.sum;
      }
    }
    // The per-warp factors and the two scales are in shared memory.
    __syncthreads();

    // Line 12: O_i ← old_scale · O_i + block_scale · Σ_w factor_w · P̃_w V_w, written to HBM.
    Accumulate::apply(o_hbm + q_begin * kHeadDim, kHeadDim, valid_rows, staged_o, old_scale, block_scale,
                      [&](int row, int col) { return combine.sum_columns(row, col); }, thread);

    step = next;
    has_step = has_next;
  }

  // Every thread's last updates of O, ℓ, m (and, with no step at all, line 2's initialization)
  // are in HBM before other threads read them back.
  __syncthreads();
  Element* const o_global = sequence_start<Element>(problem.o, span.q_row_offset, batch, head, varlen);
  convert_rows<kHeadDim, kThreads>(o_hbm, kHeadDim, o_global, problem.o.row_stride, seqlen_q, thread);
  if (problem.lse != nullptr) {
    float* const lse_global = lse_start(problem, span, batch, head);
    for (int row = thread; row < seqlen_q; row += kThreads)
      lse_global[row] = log_sum_exp({m_hbm[row], l_hbm[row]}, scale_log2);
  }
}

}  // namespace attnkit::fa1
