#pragma once
// FlashAttention-1's split-K combine: the W warps of a CTA each computed, for the same Rows
// query rows, a softmax over their own slice of the keys: a partial row max m_w, a partial row
// sum l_w = Σ exp2((s − m_w)·c) and a partial output P̃_w V_w (unnormalized, weighted relative
// to m_w). Joined through shared memory they give the block's statistics and output:
//
//   m̃ = max_w m_w,   l̃ = Σ_w exp2((m_w − m̃)·c) · l_w,   P̃V = Σ_w exp2((m_w − m̃)·c) · P̃_w V_w
//
// (softmax_merge.cuh's merge_partials). Three phases, with a CTA barrier between each:
//
//   1. publish      every warp writes its m_w, l_w per row and its fp32 partial output
//   2. merge_row    one thread per row merges the W statistics, keeps the W factors
//                   exp2((m_w − m̃)·c) for phase 3, returns (m̃, l̃)
//   3. sum_columns  any thread sums the W partial outputs of 4 columns of a row, each times
//                   its factor, in warp order (deterministic)
//
// The cost of split-K is visible here: Rows × Cols partial outputs per warp cross shared
// memory at every step, where FlashAttention-2's split-Q needs no exchange at all.
//
// Device code; the arithmetic it relies on is host-tested through softmax_merge.cuh.

#include "../layout/mma_fragment.cuh"
#include "../layout/padded_rows.cuh"
#include "../mma/register_tile.cuh"
#include "../mma/row_reduce.cuh"
#include "online_softmax.cuh"
#include "softmax_merge.cuh"

namespace attnkit {

template <int Rows, int Cols, int Warps, int RowPadding>
class CrossWarpCombine {
 public:
  using PartialLayout = layout::PaddedRows<Rows, Cols, RowPadding>;
  // fp32 words of shared memory: the W partial outputs, then W × Rows each of m_w, l_w, factor.
  static constexpr int kFloats = Warps * PartialLayout::kElements + 3 * Warps * Rows;
  static constexpr int kBytes = kFloats * 4;

  // `storage`: kBytes of shared memory, 16-byte aligned.
  ATTNKIT_DEVICE explicit CrossWarpCombine(float* storage)
      : partial_outputs_(storage),
        warp_max_(storage + Warps * PartialLayout::kElements),
        warp_sum_(warp_max_ + Warps * Rows),
        warp_factor_(warp_sum_ + Warps * Rows) {}

  // Phase 1, by every lane of warp `warp`. `softmax` absorbed exactly this step's scores of
  // the warp (its row_max is m_w already agreed across the 4 lanes of a row; its row_sum is
  // still each lane's share of l_w); `partial_output` is the warp's P̃_w V_w, all Rows rows.
  template <int MTiles, int NTiles>
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void publish(int warp, int lane, const OnlineSoftmax<2 * MTiles>& softmax,
                                                  const AccumulatorTile<MTiles, NTiles>& partial_output) const {
    static_assert(16 * MTiles == Rows && 8 * NTiles == Cols, "the warp's partial output must cover the whole tile");
    using Tile = AccumulatorTile<MTiles, NTiles>;
    const AccumulatorRowReduce reduce;
#pragma unroll
    for (int r = 0; r < Tile::kThreadRows; ++r) {
      const float row_sum = reduce.sum(softmax.row_sum[r]);  // all lanes take part in the shuffle
      if (layout::lane_in_group(lane) == 0) {
        const int row = Tile::tile_row(lane, r);
        warp_max_[warp * Rows + row] = softmax.row_max[r];
        warp_sum_[warp * Rows + row] = row_sum;
      }
    }
    float* const partial = partial_outputs_ + warp * PartialLayout::kElements;
    partial_output.for_each_pair(lane, [&](int row, int col, float first, float second) {
      *reinterpret_cast<float2*>(partial + PartialLayout::offset(row, col)) = make_float2(first, second);
    });
  }

  // Phase 2, after a barrier, by one thread per row: the block's (m̃, l̃) for `row`.
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE SoftmaxStats merge_row(int row, float scale_log2) const {
    SoftmaxStats parts[Warps];
#pragma unroll
    for (int w = 0; w < Warps; ++w) parts[w] = {warp_max_[w * Rows + row], warp_sum_[w * Rows + row]};
    float factor[Warps];
    const SoftmaxStats block = merge_partials(parts, scale_log2, factor);
#pragma unroll
    for (int w = 0; w < Warps; ++w) warp_factor_[w * Rows + row] = factor[w];
    return block;
  }

  // Phase 3, after another barrier: Σ_w factor_w · (P̃_w V_w)[row, col .. col + 3], col a
  // multiple of 4. Consecutive threads reading consecutive columns read conflict-free.
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE float4 sum_columns(int row, int col) const {
    float4 sum = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
    for (int w = 0; w < Warps; ++w) {
      const float factor = warp_factor_[w * Rows + row];
      const float* const partial = partial_outputs_ + w * PartialLayout::kElements;
      const float4 part = *reinterpret_cast<const float4*>(partial + PartialLayout::offset(row, col));
      sum.x = fmaf(factor, part.x, sum.x);
      sum.y = fmaf(factor, part.y, sum.y);
      sum.z = fmaf(factor, part.z, sum.z);
      sum.w = fmaf(factor, part.w, sum.w);
    }
    return sum;
  }

 private:
  float* partial_outputs_;  // [Warps][PartialLayout]
  float* warp_max_;         // [Warps][Rows]: m_w
  float* warp_sum_;         // [Warps][Rows]: l_w
  float* warp_factor_;      // [Warps][Rows]: exp2((m_w − m̃)·c), 0 for a warp that kept nothing
};

}  // namespace attnkit
