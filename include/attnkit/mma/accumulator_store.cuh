#pragma once
// Register→shared store of an fp32 accumulator, rounded to 16-bit elements, into a swizzled
// tile: each lane writes its two adjacent columns as one 32-bit word. The pair never straddles
// a 16-byte chunk, and the 8 rows of a group land in 8 different swizzle slots, so the store is
// free of bank conflicts. A second pass (tile/shared_to_global.cuh) then writes whole 16-byte
// chunks to global memory, which the fragment layout could not do directly.

#include <cstdint>

#include "../layout/mma_fragment.cuh"
#include "register_tile.cuh"

namespace attnkit {

// Rows row0.., columns col0.. of the tile (col0 a multiple of 8).
template <class Element, class SmemLayout, int MTiles, int NTiles>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void store_accumulator(const AccumulatorTile<MTiles, NTiles>& acc,
                                                          Element* shared_tile, int row0, int col0, int lane) {
  static_assert(SmemLayout::kCols >= 8 * NTiles, "accumulator wider than the tile");
  acc.for_each_pair(lane, [&](int row, int col, float first, float second) {
    *reinterpret_cast<uint32_t*>(shared_tile + SmemLayout::offset(row0 + row, col0 + col)) =
        pack2<Element>(first, second);
  });
}

// The accumulator as full-width rows row0.. of the tile.
template <class Element, class SmemLayout, int MTiles, int NTiles>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void store_accumulator(const AccumulatorTile<MTiles, NTiles>& acc,
                                                          Element* shared_tile, int row0, int lane) {
  static_assert(SmemLayout::kCols == 8 * NTiles, "accumulator width must match the tile's");
  store_accumulator<Element, SmemLayout>(acc, shared_tile, row0, 0, lane);
}

}  // namespace attnkit
