#pragma once
// The online-softmax accumulator (Milakov & Gimelshein 2018; FlashAttention): per row, the
// running maximum m of the scores seen so far and the running sum l of exp(score − m). Each
// new block of scores is turned into unnormalized probabilities in place, and the output
// accumulator is told by how much to rescale what it has summed so far. Only at the end is O
// divided by l (FlashAttention-2's deferred normalization) and LSE = m + log l produced.
//
// Everything is in log2 units: p = exp2(score · c − m · c) with c = softmax_scale · log2(e)
// folded into one FFMA per element, and exp2 is one MUFU instruction on the GPU.
//
// The same code runs on the host (tests) and on the device. A "score tile" is anything with
//   static constexpr int kThreadRows, kThreadCols;   float& at(int row, int col);
// holding the part of each row this thread owns; `Reduce` combines a value across the threads
// that share a row (identity on the host, AccumulatorRowReduce for an mma accumulator).
//
// Masked scores are -inf. A row with no kept score so far has m = -inf: it subtracts 0
// instead (so exp2(-inf - (-inf)) never makes a NaN), gives p = 0 and l = 0, and finalizes to
// O = 0 and LSE = -inf.

#include "../core/math.cuh"

namespace attnkit {

// Combines per-thread values of a row when a single thread owns the whole row.
struct ThreadRowReduce {
  ATTNKIT_HOST_DEVICE float max(float x) const { return x; }
  ATTNKIT_HOST_DEVICE float sum(float x) const { return x; }
};

// op over the Cols elements of thread-row `row` of a score tile, as a balanced pairwise tree.
ATTNKIT_EXEC_CHECK_DISABLE
template <int Cols, class ScoreTile, class Op>
ATTNKIT_HOST_DEVICE ATTNKIT_FORCEINLINE float tree_reduce(ScoreTile& scores, int row, Op op) {
  float values[Cols];
#pragma unroll
  for (int c = 0; c < Cols; ++c) values[c] = scores.at(row, c);
#pragma unroll
  for (int stride = 1; stride < Cols; stride *= 2) {
#pragma unroll
    for (int c = 0; c + stride < Cols; c += 2 * stride) values[c] = op(values[c], values[c + stride]);
  }
  return values[0];
}

template <int Rows>
struct OnlineSoftmax {
  float row_max[Rows];  // m: the largest score seen so far (score units, before scaling), -inf if none
  float row_sum[Rows];  // l: sum of exp2((score - m) · c) over this thread's columns (partial until finalize)

  ATTNKIT_HOST_DEVICE void reset() {
    for (int r = 0; r < Rows; ++r) {
      row_max[r] = negative_infinity();
      row_sum[r] = 0.f;
    }
  }

  // Absorbs a block of scores: each score s becomes p = exp2(s·c − m_new·c), and
  // o_rescale[r] = exp2((m_old − m_new)·c) is the factor the caller must apply to row r of the
  // output accumulated from earlier blocks. c = `scale_log2` (must be > 0).
  //
  // Written for latency, not instruction count: on the GPU one warp often runs this alone on
  // its scheduler (the other warps wait on their GEMMs), so what it costs is its longest chain
  // of dependent instructions. Row maxima and sums are pairwise trees (depth log2 of the
  // row's columns, not one long chain), and each phase runs over every row before the next,
  // so that the rows' cross-lane shuffles and exponentials overlap.
ATTNKIT_EXEC_CHECK_DISABLE
  template <class ScoreTile, class Reduce>
  ATTNKIT_HOST_DEVICE ATTNKIT_FORCEINLINE void absorb(ScoreTile& scores, float scale_log2, float (&o_rescale)[Rows],
                                                      const Reduce& reduce) {
    static_assert(ScoreTile::kThreadRows == Rows, "score tile rows must match the accumulator's");
    constexpr int kCols = ScoreTile::kThreadCols;
    float block_max[Rows];
#pragma unroll
    for (int r = 0; r < Rows; ++r) block_max[r] = tree_reduce<kCols>(scores, r, [](float a, float b) { return fmaxf(a, b); });
#pragma unroll
    for (int r = 0; r < Rows; ++r) block_max[r] = reduce.max(block_max[r]);
    float subtracted[Rows];
#pragma unroll
    for (int r = 0; r < Rows; ++r) {
      const float new_max = fmaxf(row_max[r], block_max[r]);
      subtracted[r] = new_max == negative_infinity() ? 0.f : new_max * scale_log2;
      o_rescale[r] = fast_exp2(row_max[r] * scale_log2 - subtracted[r]);
      row_max[r] = new_max;
    }
#pragma unroll
    for (int r = 0; r < Rows; ++r) {
#pragma unroll
      for (int c = 0; c < kCols; ++c) scores.at(r, c) = fast_exp2(fmaf(scores.at(r, c), scale_log2, -subtracted[r]));
    }
#pragma unroll
    for (int r = 0; r < Rows; ++r)
      row_sum[r] = row_sum[r] * o_rescale[r] + tree_reduce<kCols>(scores, r, [](float a, float b) { return a + b; });
  }

  // Completes the row sums across threads and gives, per row, the factor that normalizes the
  // output (1/l, or 0 for a row that kept nothing) and the natural-log LSE (m·c·ln2 + ln l,
  // i.e. log Σ exp(softmax_scale · score); -inf for a row that kept nothing).
ATTNKIT_EXEC_CHECK_DISABLE
  template <class Reduce>
  ATTNKIT_HOST_DEVICE ATTNKIT_FORCEINLINE void finalize(float scale_log2, const Reduce& reduce,
                                                        float (&o_normalizer)[Rows], float (&lse)[Rows]) {
#pragma unroll
    for (int r = 0; r < Rows; ++r) {
      const float sum = reduce.sum(row_sum[r]);
      row_sum[r] = sum;
      const bool empty = !(sum > 0.f);
      o_normalizer[r] = empty ? 0.f : fast_reciprocal(sum);
      lse[r] = empty ? negative_infinity() : (row_max[r] * scale_log2 + fast_log2(sum)) * kLn2;
    }
  }
};

}  // namespace attnkit
