#pragma once
// Merging softmaxes taken over disjoint sets of keys of the same row: the arithmetic that lets
// FlashAttention-1 split a row's keys between warps (split-K) and between K/V blocks visited
// one after the other, keeping only (m, l) per row and a partial output per part.
//
// A part's statistics are m = its largest score and l = Σ exp2((s − m)·c) over its kept
// scores, c = softmax_scale · log2(e) (the units of OnlineSoftmax). A part that kept nothing is
// "empty": m = −inf, l = 0. Its partial output P̃V was weighted by exp2((s − m)·c), so moving it
// to a common maximum M multiplies it by exp2((m − M)·c) ≤ 1.
//
// Every function handles empty parts without producing a NaN (−inf − (−inf)), so a row that a
// mask empties in one warp, one block or everywhere needs no special case in the kernel.
// The same code runs on the host (tests) and on the device.

#include "../core/math.cuh"

namespace attnkit {

struct SoftmaxStats {
  float max;  // m, in score units (before c); −inf when empty
  float sum;  // l = Σ exp2((s − m)·c); 0 when empty

  ATTNKIT_HOST_DEVICE static SoftmaxStats empty() { return {negative_infinity(), 0.f}; }
};

// exp2((from_max − to_max)·c), the factor that re-expresses a sum (or an output) weighted
// relative to `from_max` relative to `to_max` (to_max ≥ from_max). 0 when the part is empty:
// there is nothing to move, and −inf − (−inf) must not be evaluated.
ATTNKIT_HOST_DEVICE ATTNKIT_FORCEINLINE float rescale_factor(float from_max, float to_max, float scale_log2) {
  return from_max == negative_infinity() ? 0.f : fast_exp2((from_max - to_max) * scale_log2);
}

// The larger of two maxima, −inf the identity (fmaxf, spelled out so host and device agree).
ATTNKIT_HOST_DEVICE ATTNKIT_FORCEINLINE float merged_max(float a, float b) { return a > b ? a : b; }

// Merges Parts statistics into one and gives, per part, the factor exp2((m_part − m)·c) its
// partial output must be multiplied by before the partial outputs are summed:
//   m = max_p m_p,  l = Σ_p exp2((m_p − m)·c) · l_p,  P̃V = Σ_p factor_p · P̃V_p
template <int Parts>
ATTNKIT_HOST_DEVICE ATTNKIT_FORCEINLINE SoftmaxStats merge_partials(const SoftmaxStats (&parts)[Parts],
                                                                    float scale_log2, float (&part_factor)[Parts]) {
  SoftmaxStats merged = SoftmaxStats::empty();
#pragma unroll
  for (int p = 0; p < Parts; ++p) merged.max = merged_max(merged.max, parts[p].max);
#pragma unroll
  for (int p = 0; p < Parts; ++p) {
    part_factor[p] = rescale_factor(parts[p].max, merged.max, scale_log2);
    merged.sum += part_factor[p] * parts[p].sum;
  }
  return merged;
}

// One step of FlashAttention-1's output update (Algorithm 1, lines 11-12), where the output is
// kept normalized between steps:
//   m_new = max(m_i, m̃),  l_new = exp2((m_i − m_new)·c)·l_i + exp2((m̃ − m_new)·c)·l̃
//   O_new = old_scale · O_i + block_scale · P̃V
//   old_scale   = l_i · exp2((m_i − m_new)·c) / l_new   (undoes O_i's 1/l_i, moves it to m_new)
//   block_scale = exp2((m̃ − m_new)·c) / l_new
// While the row has kept nothing (l_new = 0) both scales are 0 and O stays 0.
struct NormalizedUpdate {
  SoftmaxStats stats;  // (m_new, l_new), what goes back to memory
  float old_scale;
  float block_scale;
};

ATTNKIT_HOST_DEVICE ATTNKIT_FORCEINLINE NormalizedUpdate normalized_update(SoftmaxStats running, SoftmaxStats block,
                                                                           float scale_log2) {
  NormalizedUpdate update;
  update.stats.max = merged_max(running.max, block.max);
  const float old_factor = rescale_factor(running.max, update.stats.max, scale_log2);
  const float block_factor = rescale_factor(block.max, update.stats.max, scale_log2);
  update.stats.sum = old_factor * running.sum + block_factor * block.sum;
  const float inverse_sum = update.stats.sum > 0.f ? 1.f / update.stats.sum : 0.f;
  update.old_scale = running.sum * old_factor * inverse_sum;
  update.block_scale = block_factor * inverse_sum;
  return update;
}

// The natural-log log-sum-exp of the row, log Σ exp(softmax_scale · s) (the LSE the kernels
// save), from its statistics: (m·c + log2 l)·ln 2; −inf for a row that kept nothing.
ATTNKIT_HOST_DEVICE ATTNKIT_FORCEINLINE float log_sum_exp(SoftmaxStats stats, float scale_log2) {
  return stats.sum > 0.f ? (stats.max * scale_log2 + log2f(stats.sum)) * kLn2 : negative_infinity();
}

}  // namespace attnkit
