#pragma once
// FlashAttention-1 backward (Dao et al., 2022, Algorithm 4), assembled from attnkit's blocks.
//
// Grid: one CTA per (KV head, batch entry). The CTA walks its head's key blocks one after the
// other (line 5), and for each runs the pass both papers share (fa2/backward_key_block.cuh):
// K_j, V_j on chip, dK_j = dV_j = 0 (lines 6-7); for every query block i of every query head
// of the GQA group that sees block j, recompute S and P from Q_i, K_j and the forward's m_i,
// ℓ_i, regenerate the dropout mask, and add to dV_j, dK_j and dQ_i (lines 8-20); write dK_j,
// dV_j (line 21).
//
// As in the paper, dQ_i lives in HBM and is read, added to and written back by every key
// block (line 20); it is an fp32 accumulator, converted once at the end. A CTA owns all the
// key blocks of its query heads, so no other CTA touches its dQ rows: plain loads and stores,
// no atomics, and the same sums in the same order on every run.
//
// Line 12's P = diag(ℓ)⁻¹ exp(S − m) is evaluated as exp2(S·c − (m·c + log2 ℓ)): the same
// number, with one exponent per row folded by the preprocess (RowMaxAndSum). Line 19's
// D_i = rowsum(dO_i ∘ O_i) is computed once per row by the preprocess rather than once per
// (i, j) step: the same value, read instead of recomputed.

#include "../fa2/backward_key_block.cuh"
#include "workspace.cuh"

namespace attnkit::fa1 {

// The forward's m and ℓ (fa1/workspace.cuh) as the preprocess's row statistics:
// LSE·log2(e) = m·c + log2 ℓ, +inf for a row that kept no key (ℓ = 0). c is the forward's
// exponent scale: softmax_scale·log2(e), or log2(e) when a score_mod scaled the scores first.
struct RowMaxAndSum {
  ForwardWorkspaceView forward;
  float scale_log2;

  ATTNKIT_DEVICE float log2_lse(const AttentionProblem&, const SequenceSpan&, int batch, int head, int row) const {
    const int64_t at = forward.first_row(batch, head) + row;
    const float sum = forward.row_sum[at];
    return sum > 0.f ? fmaf(forward.row_max[at], scale_log2, log2f(sum)) : INFINITY;
  }
};

// `problem.softmax_scale` must already be resolved (> 0): the launcher does it. `Config` is a
// backward tile config (fa2/backward_config.cuh); `Dropout` as in the forward.
template <class Config, class Variant, bool Dropout = false>
__global__ void __launch_bounds__(Config::kThreads, 1)
    backward_kernel(const __grid_constant__ AttentionProblem problem, const __grid_constant__ BackwardGradients grads,
                    const BackwardScratch scratch, const Variant variant) {
  extern __shared__ __align__(128) unsigned char shared_bytes[];
  const int head_kv = blockIdx.x;
  const int batch = blockIdx.y;
  const int key_blocks = ceil_div(locate_sequence(problem, batch).seqlen_k, Config::kBlockN);
  for (int n_block = 0; n_block < key_blocks; ++n_block) {
    // The previous block's dK and dV leave through the shared K and V tiles, which this
    // block's loads overwrite: every warp must be done storing them.
    __syncthreads();
    fa2::backward_key_block<Config, Variant, Dropout, fa2::DqAccumulation::owned>(problem, grads, scratch, variant,
                                                                                 shared_bytes, n_block, head_kv, batch);
  }
}

}  // namespace attnkit::fa1
