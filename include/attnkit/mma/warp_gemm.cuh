#pragma once
// Warp-tile GEMMs over shared-memory tiles, the products of attention:
//   gemm_a_bt:     acc += A[rows] · Bᵀ   (S = Q Kᵀ: A = Q tile, B = K tile, both row-major)
//   gemm_regs_b:   acc += A_regs · B     (O += P V: A = P in registers, B = V tile, k-major)
//   gemm_a_b:      acc += A[rows] · B[.., cols]  (dV += Pᵀ dO with Pᵀ staged in shared memory:
//                  A row-major, B k-major)
//   gemm_at_b:     acc += (Aᵀ)[.., cols]ᵀ · B  (dQ = dS K in the backward: A stored transposed
//                  as dSᵀ, B = K tile, k-major)
// Each warp computes its own rows; no CTA synchronization inside.

#include "../layout/mma_fragment.cuh"
#include "../tile/ldmatrix.cuh"
#include "mma_sync.cuh"
#include "register_tile.cuh"

namespace attnkit {

namespace detail {
// One 16-deep step with B k-major (read with ldmatrix.trans from rows k·16.., columns from chunk
// b_chunk0 on): acc += a · B_step, for A fragments already in registers.
template <class Element, class BLayout, int MTiles, int NTiles>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void mma_step_b_kmajor(AccumulatorTile<MTiles, NTiles>& acc,
                                                          const uint32_t (&a)[MTiles][4], uint32_t b_base,
                                                          unsigned b_lane, int k, int b_chunk0) {
#pragma unroll
  for (int n = 0; n < NTiles; n += 2) {
    uint32_t b[4];
    ldmatrix_x4_trans(b, b_base + BLayout::step(b_lane, k * 16, b_chunk0 + n));
#pragma unroll
    for (int m = 0; m < MTiles; ++m) {
      mma_m16n8k16<Element>(acc.v[m][n], a[m], b[0], b[1]);
      mma_m16n8k16<Element>(acc.v[m][n + 1], a[m], b[2], b[3]);
    }
  }
}
}  // namespace detail

// acc (16·MTiles × 8·NTiles) += A[a_row0 .. a_row0 + 16·MTiles, :] · B[b_row0 .. b_row0 + 8·NTiles, :]ᵀ,
// the reduction running over the full width of both tiles. b_row0 is a multiple of 16.
template <class Element, class ALayout, class BLayout, int MTiles, int NTiles>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void gemm_a_bt(AccumulatorTile<MTiles, NTiles>& acc, const Element* a_tile,
                                                  int a_row0, const Element* b_tile, int lane, int b_row0 = 0) {
  static_assert(ALayout::kCols == BLayout::kCols, "A and B must have the same reduction width");
  static_assert(NTiles % 2 == 0, "B fragments are loaded two n-tiles at a time");
  static_assert(BLayout::kRows >= 8 * NTiles, "B tile has fewer rows than the accumulator has columns");
  const layout::Coord a_source = layout::ldmatrix_a_source(lane);
  const layout::Coord b_source = layout::ldmatrix_b_source(lane);
  const uint32_t a_base = shared_address(a_tile);
  const uint32_t b_base = shared_address(b_tile);
  const unsigned a_lane = ALayout::byte_offset(a_row0 + a_source.row, a_source.col);
  const unsigned b_lane = BLayout::byte_offset(b_row0 + b_source.row, b_source.col);
#pragma unroll
  for (int k = 0; k < ALayout::kCols / 16; ++k) {
    uint32_t a[MTiles][4];
#pragma unroll
    for (int m = 0; m < MTiles; ++m) ldmatrix_x4(a[m], a_base + ALayout::step(a_lane, m * 16, k * 2));
#pragma unroll
    for (int n = 0; n < NTiles; n += 2) {
      uint32_t b[4];
      ldmatrix_x4(b, b_base + BLayout::step(b_lane, n * 8, k * 2));
#pragma unroll
      for (int m = 0; m < MTiles; ++m) {
        mma_m16n8k16<Element>(acc.v[m][n], a[m], b[0], b[1]);
        mma_m16n8k16<Element>(acc.v[m][n + 1], a[m], b[2], b[3]);
      }
    }
  }
}

// acc (16·MTiles × 8·NTiles) += a (16·MTiles × 16·KTiles) · B[0 .. 16·KTiles, 0 .. 8·NTiles],
// B stored with the reduction dimension as rows (V: keys × head dim), read with ldmatrix.trans.
template <class Element, class BLayout, int MTiles, int KTiles, int NTiles>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void gemm_regs_b(AccumulatorTile<MTiles, NTiles>& acc,
                                                    const OperandTileA<MTiles, KTiles>& a, const Element* b_tile,
                                                    int lane) {
  static_assert(NTiles % 2 == 0, "B fragments are loaded two n-tiles at a time");
  static_assert(BLayout::kRows >= 16 * KTiles && BLayout::kCols >= 8 * NTiles, "B tile smaller than the product");
  const layout::Coord b_source = layout::ldmatrix_b_trans_source(lane);
  const uint32_t b_base = shared_address(b_tile);
  const unsigned b_lane = BLayout::byte_offset(b_source.row, b_source.col);
#pragma unroll
  for (int k = 0; k < KTiles; ++k) {
#pragma unroll
    for (int n = 0; n < NTiles; n += 2) {
      uint32_t b[4];
      ldmatrix_x4_trans(b, b_base + BLayout::step(b_lane, k * 16, n));
#pragma unroll
      for (int m = 0; m < MTiles; ++m) {
        mma_m16n8k16<Element>(acc.v[m][n], a.v[m][k], b[0], b[1]);
        mma_m16n8k16<Element>(acc.v[m][n + 1], a.v[m][k], b[2], b[3]);
      }
    }
  }
}

// acc (16·MTiles × 8·NTiles) += A · B[.., n_chunk0 · 8 ..], where A (16·MTiles × 16·KTiles) is
// stored transposed in `a_tile` (rows = the reduction dim, cols = A's rows, starting at chunk
// a_chunk0) and read with ldmatrix.trans; B is k-major (rows = the reduction dim), columns from
// chunk b_chunk0. Both chunk offsets must be even (16-column aligned).
template <class Element, class ATransposedLayout, class BLayout, int KTiles, int MTiles, int NTiles>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void gemm_at_b(AccumulatorTile<MTiles, NTiles>& acc, const Element* a_tile,
                                                  int a_chunk0, const Element* b_tile, int b_chunk0, int lane) {
  static_assert(NTiles % 2 == 0, "B fragments are loaded two n-tiles at a time");
  static_assert(ATransposedLayout::kRows >= 16 * KTiles && BLayout::kRows >= 16 * KTiles,
                "tiles shorter than the reduction");
  const layout::Coord a_source = layout::ldmatrix_a_trans_source(lane);
  const layout::Coord b_source = layout::ldmatrix_b_trans_source(lane);
  const uint32_t a_base = shared_address(a_tile);
  const uint32_t b_base = shared_address(b_tile);
  const unsigned a_lane = ATransposedLayout::byte_offset(a_source.row, a_source.col);
  const unsigned b_lane = BLayout::byte_offset(b_source.row, b_source.col);
#pragma unroll
  for (int k = 0; k < KTiles; ++k) {
    uint32_t a[MTiles][4];
#pragma unroll
    for (int m = 0; m < MTiles; ++m)
      ldmatrix_x4_trans(a[m], a_base + ATransposedLayout::step(a_lane, k * 16, a_chunk0 + m * 2));
    detail::mma_step_b_kmajor<Element, BLayout>(acc, a, b_base, b_lane, k, b_chunk0);
  }
}

// acc (16·MTiles × 8·NTiles) += A[a_row0 .., 0 .. 16·KTiles] · B[0 .. 16·KTiles, b_chunk0 · 8 ..]:
// A row-major (read with ldmatrix), B k-major (ldmatrix.trans); b_chunk0 even.
template <class Element, class ALayout, class BLayout, int KTiles, int MTiles, int NTiles>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void gemm_a_b(AccumulatorTile<MTiles, NTiles>& acc, const Element* a_tile,
                                                 int a_row0, const Element* b_tile, int b_chunk0, int lane) {
  static_assert(NTiles % 2 == 0, "B fragments are loaded two n-tiles at a time");
  static_assert(ALayout::kCols >= 16 * KTiles && BLayout::kRows >= 16 * KTiles, "tiles shorter than the reduction");
  const layout::Coord a_source = layout::ldmatrix_a_source(lane);
  const layout::Coord b_source = layout::ldmatrix_b_trans_source(lane);
  const uint32_t a_base = shared_address(a_tile);
  const uint32_t b_base = shared_address(b_tile);
  const unsigned a_lane = ALayout::byte_offset(a_row0 + a_source.row, a_source.col);
  const unsigned b_lane = BLayout::byte_offset(b_source.row, b_source.col);
#pragma unroll
  for (int k = 0; k < KTiles; ++k) {
    uint32_t a[MTiles][4];
#pragma unroll
    for (int m = 0; m < MTiles; ++m) ldmatrix_x4(a[m], a_base + ALayout::step(a_lane, m * 16, k * 2));
    detail::mma_step_b_kmajor<Element, BLayout>(acc, a, b_base, b_lane, k, b_chunk0);
  }
}

}  // namespace attnkit
