#pragma once
// Global→shared tile loader: a (Rows × Cols) tile whose rows are `row_stride` elements apart
// in global memory, copied with 16-byte cp.async by all `Threads` threads of the CTA into a
// SwizzledTile. Rows at or past `valid_rows` are zero-filled (sequence end), never read.

#include <cstdint>

#include "../layout/swizzle.cuh"
#include "cp_async.cuh"

namespace attnkit {

template <class SmemLayout, int Threads, class Element>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void load_tile_async(Element* shared_tile, const Element* global_tile,
                                                        int64_t row_stride, int valid_rows, int thread) {
  constexpr int kChunksPerRow = SmemLayout::kChunksPerRow;
  constexpr int kChunks = SmemLayout::kRows * kChunksPerRow;
  static_assert(kChunks % Threads == 0, "every thread copies the same number of chunks");
  // Consecutive threads take consecutive chunks of a row: coalesced 16-byte global reads, and
  // (with the swizzle) conflict-free shared writes.
  if constexpr (Threads % kChunksPerRow == 0 && (Threads / kChunksPerRow) % 8 == 0) {
    // Each thread keeps one column chunk and walks down the rows in steps of a multiple of 8,
    // which leaves the swizzle unchanged: one base address per thread and constant strides,
    // so nothing per copy stays live across the caller's loop.
    constexpr int kRowStep = Threads / kChunksPerRow;
    constexpr int kSharedStep = kRowStep * SmemLayout::kPanelChunks * SmemLayout::kChunkElements;
    const int row0 = thread / kChunksPerRow;
    const int chunk = thread % kChunksPerRow;
    Element* shared = shared_tile + SmemLayout::chunk_offset(row0, chunk);
    const Element* global = global_tile + row0 * row_stride + chunk * SmemLayout::kChunkElements;
    const int64_t global_step = kRowStep * row_stride;
    if (valid_rows >= SmemLayout::kRows) {  // the common case: no row to predicate
#pragma unroll
      for (int i = 0; i < kChunks / Threads; ++i) {
        cp_async_16(shared + i * kSharedStep, global, true);
        global += global_step;
      }
    } else {
#pragma unroll
      for (int i = 0; i < kChunks / Threads; ++i) {
        const bool valid = row0 + i * kRowStep < valid_rows;
        cp_async_16(shared + i * kSharedStep, valid ? global : global_tile, valid);
        global += global_step;
      }
    }
  } else {
#pragma unroll
    for (int i = 0; i < kChunks / Threads; ++i) {
      const int chunk_index = thread + i * Threads;
      const int row = chunk_index / kChunksPerRow;
      const int chunk = chunk_index % kChunksPerRow;
      const bool valid = row < valid_rows;
      const Element* source = global_tile + (valid ? row * row_stride : 0) + chunk * SmemLayout::kChunkElements;
      cp_async_16(shared_tile + SmemLayout::chunk_offset(row, chunk), source, valid);
    }
  }
}

}  // namespace attnkit
