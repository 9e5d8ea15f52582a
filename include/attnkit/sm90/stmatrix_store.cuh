#pragma once
// A warp's fp32 accumulator rows to a swizzled shared tile as 16-bit elements with stmatrix
// (sm_90): one instruction stores four 8 × 8 matrices, 16 bytes a row, where the per-element
// path (mma/accumulator_store.cuh) takes four 4-byte stores.
//
// Who holds what: in an mma.sync C fragment, lane L holds columns 2·(L%4), +1 of row L/4 of
// each 8 × 8 block (v[0][n][0..1] rows 0-7, v[0][n][2..3] rows 8-15, block column n), which is
// stmatrix's per-lane share of a matrix. Each instruction here takes blocks (rows 0-7, n),
// (rows 8-15, n), (rows 0-7, n + 1), (rows 8-15, n + 1) as matrices 0..3, and lane L gives the
// address of row L%8 of matrix L/8: one 16-byte chunk of the tile, found through the layout's
// swizzle.

#include <cstdint>

#include "../core/config.cuh"
#include "../core/element.cuh"
#include "../mma/register_tile.cuh"
#include "wgmma.cuh"

namespace attnkit::hopper {

// Rows row0 .. row0 + 15 of `shared_tile` (a SmemLayout tile, 8·NTiles columns wide) from a
// warp's 16-row accumulator.
template <class Element, class SmemLayout, int NTiles>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void store_accumulator_stmatrix(const AccumulatorTile<1, NTiles>& acc,
                                                                   Element* shared_tile, int row0, int lane) {
  static_assert(NTiles % 2 == 0, "stmatrix .x4 stores column blocks in pairs");
  static_assert(SmemLayout::kCols == 8 * NTiles, "accumulator width must match the tile's");
#if ATTNKIT_DEVICE_SM90A
  const int matrix = lane / 8;
  const int row = row0 + (matrix % 2) * 8 + lane % 8;
#pragma unroll
  for (int n = 0; n < NTiles; n += 2) {
    const uint32_t address = shared_address(shared_tile + SmemLayout::offset(row, (n + matrix / 2) * 8));
    asm volatile("stmatrix.sync.aligned.m8n8.x4.shared.b16 [%0], {%1, %2, %3, %4};\n" ::"r"(address),
                 "r"(pack2<Element>(acc.v[0][n][0], acc.v[0][n][1])), "r"(pack2<Element>(acc.v[0][n][2], acc.v[0][n][3])),
                 "r"(pack2<Element>(acc.v[0][n + 1][0], acc.v[0][n + 1][1])),
                 "r"(pack2<Element>(acc.v[0][n + 1][2], acc.v[0][n + 1][3]))
                 : "memory");
  }
#endif
}

}  // namespace attnkit::hopper
