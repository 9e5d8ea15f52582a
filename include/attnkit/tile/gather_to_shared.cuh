#pragma once
// Global→shared row gather by one warp: a (Rows × Cols) SwizzledTile whose rows each come from
// their own address (a paged KV cache's page table, a GQA row map), copied with 16-byte
// cp.async. `row_source(row)` gives row `row`'s first element, or nullptr for a row to
// zero-fill (past the sequence end, or a row the caller found invalid): such rows are never
// read; their copies point at `any_global_row`, a valid global address (cp.async wants one
// even when it reads nothing).
//
// Same ownership as load_tile_async_warps (layout/block_copy.cuh): lane L copies row L % 8 of
// every 8-row group, chunks L / 8, L / 8 + 4, ...; so each lane looks up Rows / 8 row
// addresses, all before its first copy, and each 8-row group's lookups run on 8 lanes at once.

#include <cstdint>

#include "../layout/block_copy.cuh"
#include "../layout/swizzle.cuh"
#include "cp_async.cuh"

namespace attnkit {

namespace detail {
// Copies this lane's chunks of row group g of a tile whose row starts at `row` (nullptr: zeros).
template <class SmemLayout, class Element>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void copy_gathered_row_async(unsigned char* shared_bytes, unsigned shared_lane,
                                                                const layout::Coord& source, int g,
                                                                const Element* row, const Element* any_global_row) {
  constexpr int kChunkQuads = SmemLayout::kChunksPerRow / layout::kBlockCopyChunks;
  static_assert(SmemLayout::kChunksPerRow % layout::kBlockCopyChunks == 0, "rows must hold a multiple of 4 chunks");
  const bool valid = row != nullptr;
  const Element* const first = valid ? row + source.col * SmemLayout::kChunkElements : any_global_row;
#pragma unroll
  for (int q = 0; q < kChunkQuads; ++q) {
    const unsigned offset = SmemLayout::step(shared_lane, g * layout::kBlockCopyRows, q * layout::kBlockCopyChunks);
    const int column = q * layout::kBlockCopyChunks * SmemLayout::kChunkElements;
    cp_async_16(shared_bytes + offset, valid ? first + column : first, valid);
  }
}
}  // namespace detail

template <class SmemLayout, class Element, class RowSource>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void gather_rows_async_warp(Element* shared_tile, const RowSource& row_source,
                                                               const Element* any_global_row, int lane) {
  constexpr int kRowGroups = SmemLayout::kRows / layout::kBlockCopyRows;
  const layout::Coord source = layout::block_copy_source(lane);
  const unsigned shared_lane = SmemLayout::byte_offset(source.row, source.col);
  const Element* rows[kRowGroups];
#pragma unroll
  for (int g = 0; g < kRowGroups; ++g) rows[g] = row_source(g * layout::kBlockCopyRows + source.row);
#pragma unroll
  for (int g = 0; g < kRowGroups; ++g)
    detail::copy_gathered_row_async<SmemLayout>(reinterpret_cast<unsigned char*>(shared_tile), shared_lane, source, g,
                                                rows[g], any_global_row);
}

// Two tiles gathered from the same rows (a KV cache's K and V): `row_pair(row)` gives both
// addresses, {nullptr, nullptr} for a row to zero-fill, so a page-table lookup serves both.
template <class Element>
struct GatheredRowPair {
  const Element* first;
  const Element* second;
};

template <class SmemLayout, class Element, class RowPairSource>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void gather_row_pairs_async_warp(Element* first_tile, Element* second_tile,
                                                                    const RowPairSource& row_pair,
                                                                    const Element* any_global_row, int lane) {
  constexpr int kRowGroups = SmemLayout::kRows / layout::kBlockCopyRows;
  const layout::Coord source = layout::block_copy_source(lane);
  const unsigned shared_lane = SmemLayout::byte_offset(source.row, source.col);
  GatheredRowPair<Element> rows[kRowGroups];
#pragma unroll
  for (int g = 0; g < kRowGroups; ++g) rows[g] = row_pair(g * layout::kBlockCopyRows + source.row);
#pragma unroll
  for (int g = 0; g < kRowGroups; ++g)
    detail::copy_gathered_row_async<SmemLayout>(reinterpret_cast<unsigned char*>(first_tile), shared_lane, source, g,
                                                rows[g].first, any_global_row);
#pragma unroll
  for (int g = 0; g < kRowGroups; ++g)
    detail::copy_gathered_row_async<SmemLayout>(reinterpret_cast<unsigned char*>(second_tile), shared_lane, source,
                                                g, rows[g].second, any_global_row);
}

}  // namespace attnkit
