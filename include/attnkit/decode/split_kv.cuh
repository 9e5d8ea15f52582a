#pragma once
// Split-KV (flash-decoding): when batch × KV heads cannot fill the GPU, each sequence's keys
// are cut into `splits` ranges, one CTA each; every CTA writes its rows' output normalized
// over its own keys (fp32) and their LSE, and a combine step merges the parts by their LSEs:
//
//   LSE = log Σ_s exp(LSE_s),   O = Σ_s exp(LSE_s − LSE) · O_s
//
// A part whose keys the mask or the sequence's length emptied has LSE_s = −inf and weight 0;
// a row that every part emptied gets O = 0 and LSE = −inf.
//
// The blocks here: the partials' layout (SplitPartials), the split-count heuristic, and the
// combine (combine_split_row, one warp a row, and the kernel built on it).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "../core/element.cuh"
#include "../core/math.cuh"

namespace attnkit {

// The partial results of `splits` parts over `rows` output rows of `head_dim` features:
// output[split][row][head_dim] (fp32, normalized per part), lse[split][row] (natural log).
struct SplitPartials {
  float* output = nullptr;
  float* lse = nullptr;
  int splits = 1;
  int64_t rows = 0;
  int head_dim = 0;

  static std::size_t aligned(std::size_t n) { return (n + 255) / 256 * 256; }
  static std::size_t output_bytes(int splits, int64_t rows, int head_dim) {
    return aligned(sizeof(float) * splits * rows * head_dim);
  }
  static std::size_t bytes(int splits, int64_t rows, int head_dim) {
    return output_bytes(splits, rows, head_dim) + aligned(sizeof(float) * splits * rows);
  }
  // Carves the two arrays out of `workspace` (256-byte aligned, at least bytes() long).
  static SplitPartials in(void* workspace, int splits, int64_t rows, int head_dim) {
    SplitPartials p;
    p.output = static_cast<float*>(workspace);
    p.lse = reinterpret_cast<float*>(static_cast<char*>(workspace) + output_bytes(splits, rows, head_dim));
    p.splits = splits;
    p.rows = rows;
    p.head_dim = head_dim;
    return p;
  }
  ATTNKIT_HOST_DEVICE float* output_row(int split, int64_t row) const {
    return output + (split * rows + row) * head_dim;
  }
  ATTNKIT_HOST_DEVICE float& lse_of(int split, int64_t row) const { return lse[split * rows + row]; }
};

// How many parts to cut each sequence's keys into. `ctas` is the grid without splitting,
// `ctas_per_sm` how many fit on an SM at once, `max_keys` the longest sequence (an upper
// bound will do), `min_keys_per_split` the least work worth a CTA. One part when the grid
// already fills 80% of the GPU; else as many parts as fit one wave (never a second wave for a
// few CTAs: measured on H100, 17 parts × 8 heads = 136 CTAs on 132 SMs ran at 0.70 of the
// copy bandwidth where 128 CTAs would each have one SM), as long as each keeps at least
// min_keys_per_split keys, and at most kMaxSplits.
inline constexpr int kMaxSplits = 64;

inline int choose_num_splits(int64_t ctas, int sms, int ctas_per_sm, int64_t max_keys, int min_keys_per_split) {
  const int64_t slots = static_cast<int64_t>(sms) * std::max(ctas_per_sm, 1);
  if (ctas <= 0 || ctas * 5 >= slots * 4) return 1;
  const int64_t by_grid = slots / ctas;
  const int64_t by_length = std::max<int64_t>(1, max_keys / std::max(min_keys_per_split, 1));
  return static_cast<int>(std::clamp<int64_t>(std::min(by_grid, by_length), 1, kMaxSplits));
}

// Merges the parts of row `row` into `output` (HeadDim elements, Element) and, when `lse` is
// not null, its LSE; by one warp, lane-strided over the features.
template <int HeadDim, class Element>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void combine_split_row(const SplitPartials& parts, int64_t row, Element* output,
                                                          float* lse, int lane) {
  float max_lse = negative_infinity();
  for (int s = 0; s < parts.splits; ++s) max_lse = fmaxf(max_lse, parts.lse_of(s, row));
  constexpr int kPairs = (HeadDim + 63) / 64;  // feature pairs per lane
  float2 sum[kPairs];
#pragma unroll
  for (int i = 0; i < kPairs; ++i) sum[i] = make_float2(0.f, 0.f);
  float weight_sum = 0.f;
  if (max_lse != negative_infinity()) {
    for (int s = 0; s < parts.splits; ++s) {
      const float part_lse = parts.lse_of(s, row);
      if (part_lse == negative_infinity()) continue;
      const float weight = expf(part_lse - max_lse);
      weight_sum += weight;
      const float* const part = parts.output_row(s, row);
#pragma unroll
      for (int i = 0; i < kPairs; ++i) {
        const int col = 2 * (lane + 32 * i);
        if (col < HeadDim) {
          const float2 value = *reinterpret_cast<const float2*>(part + col);
          sum[i].x = fmaf(weight, value.x, sum[i].x);
          sum[i].y = fmaf(weight, value.y, sum[i].y);
        }
      }
    }
  }
  const float inverse = weight_sum > 0.f ? 1.f / weight_sum : 0.f;
#pragma unroll
  for (int i = 0; i < kPairs; ++i) {
    const int col = 2 * (lane + 32 * i);
    if (col < HeadDim) {
      output[col] = from_float<Element>(sum[i].x * inverse);
      output[col + 1] = from_float<Element>(sum[i].y * inverse);
    }
  }
  if (lse != nullptr && lane == 0) lse[0] = weight_sum > 0.f ? max_lse + logf(weight_sum) : negative_infinity();
}

}  // namespace attnkit
