#pragma once
// Shared→global tile store: rows [row_begin, row_end) of a SwizzledTile written to global
// memory with 16-byte vector stores, rows at or past `valid_rows` skipped (store_zero_rows: zeros
// to the same rows). Used by one warp for
// the rows it owns (no CTA barrier needed) or by the whole CTA.

#include <cstdint>

#include "../layout/swizzle.cuh"
#include "../core/config.cuh"

namespace attnkit {

template <class SmemLayout, int RowCount, int Threads, class Element>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void store_rows(const Element* shared_tile, Element* global_tile,
                                                   int64_t row_stride, int row_begin, int valid_rows, int thread) {
  constexpr int kChunksPerRow = SmemLayout::kChunksPerRow;
  constexpr int kChunks = RowCount * kChunksPerRow;
  static_assert(kChunks % Threads == 0, "every thread stores the same number of chunks");
#pragma unroll
  for (int i = 0; i < kChunks / Threads; ++i) {
    const int chunk_index = thread + i * Threads;
    const int row = row_begin + chunk_index / kChunksPerRow;
    const int chunk = chunk_index % kChunksPerRow;
    if (row < valid_rows) {
      const uint4 value = *reinterpret_cast<const uint4*>(shared_tile + SmemLayout::chunk_offset(row, chunk));
      *reinterpret_cast<uint4*>(global_tile + row * row_stride + chunk * SmemLayout::kChunkElements) = value;
    }
  }
}

// The same rows of global memory set to zero, with the same 16-byte stores (for output rows
// that attend to nothing, without staging a tile of zeros).
template <class SmemLayout, int RowCount, int Threads, class Element>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void store_zero_rows(Element* global_tile, int64_t row_stride, int row_begin,
                                                        int valid_rows, int thread) {
  constexpr int kChunksPerRow = SmemLayout::kChunksPerRow;
  constexpr int kChunks = RowCount * kChunksPerRow;
  static_assert(kChunks % Threads == 0, "every thread stores the same number of chunks");
#pragma unroll
  for (int i = 0; i < kChunks / Threads; ++i) {
    const int chunk_index = thread + i * Threads;
    const int row = row_begin + chunk_index / kChunksPerRow;
    const int chunk = chunk_index % kChunksPerRow;
    if (row < valid_rows)
      *reinterpret_cast<uint4*>(global_tile + row * row_stride + chunk * SmemLayout::kChunkElements) = uint4{0, 0, 0, 0};
  }
}

}  // namespace attnkit
