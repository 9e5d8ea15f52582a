#pragma once
// Part of the standard-attention test oracle (standard_attention.cuh), shaped by its needs.
// The row-wise kernels of standard attention, run between its cuBLAS GEMMs on a materialized
// score matrix (one row per (head, query) pair, s_k contiguous elements each):
//   row_softmax        P = softmax(mask(score_mod(S))) in place, and LSE per row
//   output_row_dot     D = rowsum(dO ∘ O), the softmax-backward correction
//   softmax_backward   dS = P ∘ (dP − D) · scale · score_mod'(S)
//   apply_dropout      X ∘= Z / (1 − p), with the fused kernels' mask (softmax/dropout.cuh)
// All arithmetic is fp32 whatever the element type; S, P, dP and dS are stored in the element
// type, as a plain same-precision implementation stores them.

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "../core/element.cuh"
#include "../core/error.cuh"
#include "../mask/band.cuh"
#include "../mask/variant.cuh"
#include "../softmax/dropout.cuh"

namespace attnkit::reference {

// The rows of one chunk of the score matrix: heads [first_head, first_head + head_count) of
// batch entry batch_index; row r is head first_head + r / seqlen_q, query r % seqlen_q.
// seqlen_q / seqlen_k are this entry's own lengths (the mask's positions are within them).
struct ScoreRows {
  int batch_index = 0;
  int first_head = 0;
  int head_count = 0;
  int seqlen_q = 0;
  int seqlen_k = 0;

  ATTNKIT_HOST_DEVICE int64_t count() const { return static_cast<int64_t>(head_count) * seqlen_q; }
  ATTNKIT_HOST_DEVICE int head_of(int64_t row) const { return first_head + static_cast<int>(row / seqlen_q); }
  ATTNKIT_HOST_DEVICE int query_of(int64_t row) const { return static_cast<int>(row % seqlen_q); }
};

// One batch entry's rows of a (row, head, head_dim) tensor, head_dim contiguous.
template <class T>
struct HeadRows {
  T* data = nullptr;  // row 0, head 0 of the entry
  int64_t row_stride = 0;
  int64_t head_stride = 0;

  ATTNKIT_HOST_DEVICE T* at(int row, int head) const { return data + row * row_stride + head * head_stride; }
};

namespace detail {

// What the softmax sees for one score: -inf where the band or the variant's mask drops it,
// otherwise the variant's score_mod of it.
template <class Variant>
__device__ ATTNKIT_FORCEINLINE float masked_score(float score, const ScoreRows& rows, const BandMask& band,
                                                  const Variant& variant, int head, int q, int k) {
  if (!band.keep(q, k, rows.seqlen_q, rows.seqlen_k)) return -INFINITY;
  if constexpr (Variant::has_mask_mod) {
    if (!variant.mask_mod(rows.batch_index, head, q, k)) return -INFINITY;
  }
  if constexpr (Variant::has_score_mod) return variant.score_mod(score, rows.batch_index, head, q, k);
  return score;
}

// Running (max, sum of exp(x - max)) of a set of scores. An empty set, or one of only -inf,
// is {-inf, 0}; merging never evaluates exp(-inf - (-inf)).
struct MaxSum {
  float max = -INFINITY;
  float sum = 0.f;

  __device__ void absorb(float x) {
    if (x == -INFINITY) return;
    if (x > max) {
      sum = sum * expf(max - x) + 1.f;
      max = x;
    } else {
      sum += expf(x - max);
    }
  }
  __device__ void merge(const MaxSum& other) {
    if (other.max == -INFINITY) return;
    if (max == -INFINITY) {
      *this = other;
      return;
    }
    const float new_max = fmaxf(max, other.max);
    sum = sum * expf(max - new_max) + other.sum * expf(other.max - new_max);
    max = new_max;
  }
};

// Reduces one MaxSum per thread to the block's, returned to every thread.
template <int kThreads>
__device__ MaxSum block_reduce(MaxSum partial) {
  static_assert(kThreads % kWarpSize == 0 && kThreads <= 32 * kWarpSize, "block must be whole warps, at most 32");
  constexpr int kWarps = kThreads / kWarpSize;
  // Plain floats: a __shared__ object may not have a constructor, and MaxSum has one.
  __shared__ float warp_max[kWarps], warp_sum[kWarps];
  __shared__ float block_max, block_sum;
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    MaxSum other;
    other.max = __shfl_xor_sync(0xffffffffu, partial.max, offset);
    other.sum = __shfl_xor_sync(0xffffffffu, partial.sum, offset);
    partial.merge(other);
  }
  const int warp = threadIdx.x / kWarpSize;
  if (threadIdx.x % kWarpSize == 0) {
    warp_max[warp] = partial.max;
    warp_sum[warp] = partial.sum;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    MaxSum total;
    for (int w = 0; w < kWarps; ++w) {
      MaxSum other;
      other.max = warp_max[w];
      other.sum = warp_sum[w];
      total.merge(other);
    }
    block_max = total.max;
    block_sum = total.sum;
  }
  __syncthreads();
  MaxSum result;
  result.max = block_max;
  result.sum = block_sum;
  return result;
}

}  // namespace detail

// One block per score row. Reads the row twice (max and sum in one online pass, then the
// normalized write) so rows of any length work without holding them on chip. `probs` may
// alias `scores`: each thread rewrites only the elements it read. A row the mask empties gets
// P = 0 and LSE = -inf, so O = P V is exactly 0 and nothing is NaN.
template <class Element, class Variant, int kThreads>
__global__ void __launch_bounds__(kThreads)
    row_softmax_kernel(const Element* scores, Element* probs, ScoreRows rows, BandMask band, Variant variant,
                       float* lse, int64_t lse_head_stride) {
  const int64_t row = blockIdx.x;
  const int head = rows.head_of(row);
  const int q = rows.query_of(row);
  const Element* score_row = scores + row * rows.seqlen_k;
  Element* prob_row = probs + row * rows.seqlen_k;

  detail::MaxSum partial;
  for (int k = threadIdx.x; k < rows.seqlen_k; k += kThreads)
    partial.absorb(detail::masked_score(to_float(score_row[k]), rows, band, variant, head, q, k));
  const detail::MaxSum total = detail::block_reduce<kThreads>(partial);

  const bool empty = total.max == -INFINITY;
  const float inv_sum = empty ? 0.f : 1.f / total.sum;
  for (int k = threadIdx.x; k < rows.seqlen_k; k += kThreads) {
    const float s = detail::masked_score(to_float(score_row[k]), rows, band, variant, head, q, k);
    prob_row[k] = from_float<Element>(empty ? 0.f : expf(s - total.max) * inv_sum);
  }
  if (lse != nullptr && threadIdx.x == 0)
    lse[head * lse_head_stride + q] = empty ? -INFINITY : total.max + logf(total.sum);
}

// One warp per row: D[row] = Σ_c dO[q, head, c] · O[q, head, c], accumulated in fp32.
template <class Element>
__global__ void output_row_dot_kernel(HeadRows<const Element> d_out, HeadRows<const Element> out, ScoreRows rows,
                                      int head_dim, float* row_dot) {
  constexpr int kWarpsPerBlock = 4;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarpSize;
  if (row >= rows.count()) return;
  const int lane = threadIdx.x % kWarpSize;
  const int head = rows.head_of(row);
  const int q = rows.query_of(row);
  const Element* d_out_row = d_out.at(q, head);
  const Element* out_row = out.at(q, head);
  float dot = 0.f;
  for (int c = lane; c < head_dim; c += kWarpSize)
    dot += to_float(d_out_row[c]) * to_float(out_row[c]);
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) dot += __shfl_xor_sync(0xffffffffu, dot, offset);
  if (lane == 0) row_dot[row] = dot;
}

// One block per row: dP is overwritten with dS = P ∘ (dP − D) · scale, times score_mod'(S)
// when the variant has a score_mod (then `raw_scores` holds the scaled, unmodified S).
// Elements with P = 0 (masked, or underflowed) get exactly 0, so a score_mod' that is not
// finite where the mask dropped the score cannot leak a NaN.
template <class Element, class Variant, int kThreads>
__global__ void __launch_bounds__(kThreads)
    softmax_backward_kernel(const Element* probs, Element* d_probs, const Element* raw_scores,
                            const float* row_dot, float softmax_scale, ScoreRows rows, Variant variant) {
  const int64_t row = blockIdx.x;
  const int head = rows.head_of(row);
  const int q = rows.query_of(row);
  const float correction = row_dot[row];
  const int64_t row_begin = row * rows.seqlen_k;
  for (int k = threadIdx.x; k < rows.seqlen_k; k += kThreads) {
    const float p = to_float(probs[row_begin + k]);
    float d_score = 0.f;
    if (p != 0.f) {
      d_score = p * (to_float(d_probs[row_begin + k]) - correction) * softmax_scale;
      if constexpr (Variant::has_score_mod)
        d_score *= variant.score_mod_grad(to_float(raw_scores[row_begin + k]), rows.batch_index, head, q, k);
    }
    d_probs[row_begin + k] = from_float<Element>(d_score);
  }
}

// One block per row: element (q, k) is zeroed where the mask drops it and scaled by 1/(1 − p)
// where it keeps it, one DropoutMask::keep per element (a reference, not a fast path).
template <class Element>
__global__ void dropout_kernel(Element* matrix, ScoreRows rows, DropoutParams dropout, int heads_q) {
  const int64_t row = blockIdx.x;
  const int head = rows.head_of(row);
  const int q = rows.query_of(row);
  const DropoutMask mask(dropout.seed, dropout.offset, dropout_threshold(dropout.probability),
                         static_cast<uint32_t>(rows.batch_index * heads_q + head));
  const float keep_scale = dropout_keep_scale(dropout.probability);
  Element* const values = matrix + row * rows.seqlen_k;
  for (int k = threadIdx.x; k < rows.seqlen_k; k += blockDim.x)
    values[k] = from_float<Element>(mask.keep(q, k) ? to_float(values[k]) * keep_scale : 0.f);
}

// ---------------------------------------------------------------------------------------------
// Launchers. Short rows get a smaller block: at s_k = 512 a 256-thread block would spend more
// time reducing than reading.

template <class Element, class Variant>
void row_softmax(const Element* scores, Element* probs, const ScoreRows& rows, const BandMask& band,
                 const Variant& variant, float* lse, int64_t lse_head_stride, cudaStream_t stream) {
  require(rows.count() > 0 && rows.count() <= INT32_MAX, "row_softmax: row count ", rows.count(), " out of range");
  const auto grid = static_cast<unsigned>(rows.count());
  // The rows are one batch entry's.
  const Variant entry_variant = variant_for_sequence(variant, rows.seqlen_q, rows.seqlen_k);
  if (rows.seqlen_k <= 1024)
    row_softmax_kernel<Element, Variant, 128>
        <<<grid, 128, 0, stream>>>(scores, probs, rows, band, entry_variant, lse, lse_head_stride);
  else
    row_softmax_kernel<Element, Variant, 256>
        <<<grid, 256, 0, stream>>>(scores, probs, rows, band, entry_variant, lse, lse_head_stride);
  ATTNKIT_CHECK_LAUNCH();
}

template <class Element>
void output_row_dot(HeadRows<const Element> d_out, HeadRows<const Element> out, const ScoreRows& rows, int head_dim,
                    float* row_dot, cudaStream_t stream) {
  constexpr int kWarpsPerBlock = 4;
  const int64_t blocks = (rows.count() + kWarpsPerBlock - 1) / kWarpsPerBlock;
  require(blocks > 0 && blocks <= INT32_MAX, "output_row_dot: row count ", rows.count(), " out of range");
  output_row_dot_kernel<Element><<<static_cast<unsigned>(blocks), kWarpsPerBlock * kWarpSize, 0, stream>>>(
      d_out, out, rows, head_dim, row_dot);
  ATTNKIT_CHECK_LAUNCH();
}

template <class Element, class Variant>
void softmax_backward(const Element* probs, Element* d_probs, const Element* raw_scores, const float* row_dot,
                      float softmax_scale, const ScoreRows& rows, const Variant& variant, cudaStream_t stream) {
  require(rows.count() > 0 && rows.count() <= INT32_MAX, "softmax_backward: row count ", rows.count(),
          " out of range");
  const auto grid = static_cast<unsigned>(rows.count());
  const Variant entry_variant = variant_for_sequence(variant, rows.seqlen_q, rows.seqlen_k);
  if (rows.seqlen_k <= 1024)
    softmax_backward_kernel<Element, Variant, 128>
        <<<grid, 128, 0, stream>>>(probs, d_probs, raw_scores, row_dot, softmax_scale, rows, entry_variant);
  else
    softmax_backward_kernel<Element, Variant, 256>
        <<<grid, 256, 0, stream>>>(probs, d_probs, raw_scores, row_dot, softmax_scale, rows, entry_variant);
  ATTNKIT_CHECK_LAUNCH();
}

template <class Element>
void apply_dropout(Element* matrix, const ScoreRows& rows, const DropoutParams& dropout, int heads_q,
                   cudaStream_t stream) {
  require(rows.count() > 0 && rows.count() <= INT32_MAX, "apply_dropout: row count ", rows.count(), " out of range");
  dropout_kernel<Element><<<static_cast<unsigned>(rows.count()), 128, 0, stream>>>(matrix, rows, dropout, heads_q);
  ATTNKIT_CHECK_LAUNCH();
}

}  // namespace attnkit::reference
