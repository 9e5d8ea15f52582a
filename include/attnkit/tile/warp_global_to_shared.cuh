#pragma once
// Global→shared tile loader in blocks of 8 rows × 4 chunks (one chunk = 16 bytes), handed out
// to warps: a (Rows × Cols) SwizzledTile copied with 16-byte cp.async by `Warps` warps, block b
// by warp b % Warps. With Warps = 1 a single warp copies a tile only it reads (FlashAttention-1's
// split-K gives each warp its own slice of K and V). Rows at or past `valid_rows` are
// zero-filled, never read.
//
// Ownership inside a block: lane L copies row L % 8, chunk L / 8 (layout/block_copy.cuh).
//
// Why this shape: moving by whole blocks never changes a lane's swizzle term, so every
// address is the lane's first one plus a compile-time XOR and add (SwizzledTile::step). A copy
// issued inside a kernel's main loop then keeps one shared and one global base per lane live,
// where a per-chunk index computation would keep one address per chunk (hoisted out of the
// loop by the compiler) and spill. Blocks are visited in a compile-time order and a warp skips
// the ones that are not its own, so the tile need not divide evenly between warps. Each
// quarter-warp writes one chunk of 8 rows, 8 different 16-byte bank groups (conflict-free);
// each row read is 64 contiguous bytes (two 32-byte sectors).

#include <cstdint>

#include "../layout/block_copy.cuh"
#include "../layout/swizzle.cuh"
#include "cp_async.cuh"

namespace attnkit {

template <class SmemLayout, int Warps, class Element>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void load_tile_async_warps(Element* shared_tile, const Element* global_tile,
                                                              int64_t row_stride, int valid_rows, int warp, int lane) {
  constexpr int kRowGroups = SmemLayout::kRows / layout::kBlockCopyRows;
  constexpr int kChunkQuads = SmemLayout::kChunksPerRow / layout::kBlockCopyChunks;
  static_assert(SmemLayout::kChunksPerRow % layout::kBlockCopyChunks == 0, "rows must hold a multiple of 4 chunks");
  const layout::Coord source = layout::block_copy_source(lane);
  const int row0 = source.row;
  const int chunk0 = source.col;
  const unsigned shared_lane = SmemLayout::byte_offset(row0, chunk0);
  unsigned char* const shared_bytes = reinterpret_cast<unsigned char*>(shared_tile);
  const Element* const global_lane = global_tile + row0 * row_stride + chunk0 * SmemLayout::kChunkElements;
#pragma unroll
  for (int g = 0; g < kRowGroups; ++g) {
    const bool valid = g * layout::kBlockCopyRows + row0 < valid_rows;
    // A zero-filled row still needs a valid address: the tile's own.
    const Element* const global_row = valid ? global_lane + g * layout::kBlockCopyRows * row_stride : global_tile;
#pragma unroll
    for (int q = 0; q < kChunkQuads; ++q) {
      if (Warps == 1 || (g * kChunkQuads + q) % Warps == warp) {
        const unsigned offset =
            SmemLayout::step(shared_lane, g * layout::kBlockCopyRows, q * layout::kBlockCopyChunks);
        const int column = q * layout::kBlockCopyChunks * SmemLayout::kChunkElements;
        cp_async_16(shared_bytes + offset, global_row + (valid ? column : 0), valid);
      }
    }
  }
}

}  // namespace attnkit
