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
ATTNKIT_EXEC_CHECK_DISABLE
  template <class ScoreTile, class Reduce>
  ATTNKIT_HOST_DEVICE ATTNKIT_FORCEINLINE void absorb(ScoreTile& scores, float scale_log2, float (&o_rescale)[Rows],
                                                      const Reduce& reduce) {
    static_assert(ScoreTile::kThreadRows == Rows, "score tile rows must match the accumulator's");
#pragma unroll
    for (int r = 0; r < Rows; ++r) {
      float block_max = scores.at(r, 0);
#pragma unroll
      for (int c = 1; c < ScoreTile::kThreadCols; ++c) block_max = fmaxf(block_max, scores.at(r, c));
      const float new_max = fmaxf(row_max[r], reduce.max(block_max));
      const float subtracted = new_max == negative_infinity() ? 0.f : new_max * scale_log2;
      o_rescale[r] = fast_exp2(row_max[r] * scale_log2 - subtracted);
      row_max[r] = new_max;
      float block_sum = 0.f;
#pragma unroll
      for (int c = 0; c < ScoreTile::kThreadCols; ++c) {
        const float p = fast_exp2(fmaf(scores.at(r, c), scale_log2, -subtracted));
        scores.at(r, c) = p;
        block_sum += p;
      }
      row_sum[r] = row_sum[r] * o_rescale[r] + block_sum;
    }
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
      o_normalizer[r] = empty ? 0.f : 1.f / sum;
      lse[r] = empty ? negative_infinity() : (row_max[r] * scale_log2 + log2f(sum)) * kLn2;
    }
  }
};

}  // namespace attnkit
