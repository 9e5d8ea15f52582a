#pragma once
// Register tiles owned by one warp: the fp32 accumulator of a (16·MTiles × 8·NTiles) product,
// and the 16-bit A operand of a (16·MTiles × 16·KTiles) block. Their element ownership follows
// layout/mma_fragment.cuh.
//
// Row view (used by the online softmax): of a (16·MTiles)-row accumulator a lane owns
// 2·MTiles rows (g and g + 8 of each m-tile) and 2·NTiles columns in each of them; the other
// three lanes of its group own the remaining columns of those rows.

#include <cstdint>

#include "../core/element.cuh"
#include "../layout/mma_fragment.cuh"

namespace attnkit {

template <int MTiles, int NTiles>
struct AccumulatorTile {
  static constexpr int kMTiles = MTiles;
  static constexpr int kNTiles = NTiles;
  static constexpr int kRows = 16 * MTiles;
  static constexpr int kCols = 8 * NTiles;
  static constexpr int kThreadRows = 2 * MTiles;  // rows this lane holds part of
  static constexpr int kThreadCols = 2 * NTiles;  // elements this lane holds in each such row

  float v[MTiles][NTiles][4];

  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void fill(float value) {
#pragma unroll
    for (int m = 0; m < MTiles; ++m)
#pragma unroll
      for (int n = 0; n < NTiles; ++n)
#pragma unroll
        for (int i = 0; i < 4; ++i) v[m][n][i] = value;
  }

  // Element `col` of this lane's thread-row `row` (row in [0, kThreadRows), col in [0, kThreadCols)).
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE float& at(int row, int col) { return v[row / 2][col / 2][(row % 2) * 2 + col % 2]; }

  // Tile row (0..kRows) of this lane's thread-row `row`.
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE static int tile_row(int lane, int row) {
    return (row / 2) * 16 + layout::mma_c_coord(lane, (row % 2) * 2).row;
  }

  // Tile column (0..kCols) of this lane's element `col` in each of its rows.
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE static int tile_col(int lane, int col) {
    return (col / 2) * 8 + layout::mma_c_coord(lane, col % 2).col;
  }

  // Calls f(tile_row, tile_col, element&) for every element this lane owns.
  template <class F>
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void for_each(int lane, F&& f) {
#pragma unroll
    for (int m = 0; m < MTiles; ++m)
#pragma unroll
      for (int n = 0; n < NTiles; ++n)
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const layout::Coord c = layout::mma_c_coord(lane, i);
          f(m * 16 + c.row, n * 8 + c.col, v[m][n][i]);
        }
  }

  // Calls f(tile_row, tile_col, first, second) for every pair of adjacent columns
  // (tile_col, tile_col + 1) this lane owns: the unit of a 2-element store.
  template <class F>
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void for_each_pair(int lane, F&& f) const {
#pragma unroll
    for (int m = 0; m < MTiles; ++m)
#pragma unroll
      for (int n = 0; n < NTiles; ++n)
#pragma unroll
        for (int i = 0; i < 4; i += 2) {
          const layout::Coord c = layout::mma_c_coord(lane, i);
          f(m * 16 + c.row, n * 8 + c.col, v[m][n][i], v[m][n][i + 1]);
        }
  }

  // Multiplies thread-row r by factor[r] (the online-softmax rescale of O).
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void scale_rows(const float (&factor)[kThreadRows]) {
#pragma unroll
    for (int m = 0; m < MTiles; ++m)
#pragma unroll
      for (int n = 0; n < NTiles; ++n)
#pragma unroll
        for (int i = 0; i < 4; ++i) v[m][n][i] *= factor[m * 2 + i / 2];
  }
};

template <int MTiles, int KTiles>
struct OperandTileA {
  uint32_t v[MTiles][KTiles][4];
};

// Reuses an fp32 accumulator as the A operand of the next mma (FlashAttention's P·V with P
// straight from registers): C tiles 2k and 2k+1 hold exactly A block k's elements
// (layout::accumulator_to_a_register), rounded to Element.
template <class Element, int MTiles, int NTiles>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE OperandTileA<MTiles, NTiles / 2> to_operand_a(
    const AccumulatorTile<MTiles, NTiles>& accumulator) {
  static_assert(NTiles % 2 == 0, "an A block spans two accumulator n-tiles (16 columns)");
  OperandTileA<MTiles, NTiles / 2> operand;
#pragma unroll
  for (int m = 0; m < MTiles; ++m)
#pragma unroll
    for (int n = 0; n < NTiles; ++n)
#pragma unroll
      for (int i = 0; i < 4; i += 2)
        operand.v[m][n / 2][layout::accumulator_to_a_register(n % 2, i)] =
            pack2<Element>(accumulator.v[m][n][i], accumulator.v[m][n][i + 1]);
  return operand;
}

}  // namespace attnkit
