#pragma once
// Shared-memory layout of a (Rows × Cols) tile of 4-byte elements (fp32 partial results),
// row-major with each row padded by Padding elements.
//
// Why the padding: an mma accumulator leaves registers as one 8-byte pair per lane, lane
// (g, t) writing row g, columns 2t and 2t + 1 (layout/mma_fragment.cuh). With unpadded rows
// of a multiple of 32 floats, rows g and g + 1 start in the same bank, so the 4 rows a
// half-warp writes (one 8-byte store is served half a warp at a time) would collide 4 ways.
// A row stride of 8 (mod 32) floats moves each row 8 banks on: rows g = 0..3 then cover all
// 32 banks once, and the store is conflict-free.
//
//   banks:   0 ....... 7 | 8 ...... 15 | 16 ..... 23 | 24 ..... 31
//   row 0:   t=0..3 pairs
//   row 1:               | t=0..3 pairs
//   row 2:                             | t=0..3 pairs
//   row 3:                                           | t=0..3 pairs
//
// Reading 16 bytes per lane along a row (lane i reading columns 4i..4i+3 of the same row, one
// quarter-warp per 128-byte line) is conflict-free with or without the padding. Both are
// checked for every head dim in test/host/layout_padded_rows.cpp.

#include "../core/config.cuh"

namespace attnkit::layout {

template <int Rows, int Cols, int Padding>
struct PaddedRows {
  static constexpr int kRows = Rows;
  static constexpr int kCols = Cols;
  static constexpr int kRowStride = Cols + Padding;
  static constexpr int kElements = Rows * kRowStride;

  static_assert(Cols % 4 == 0 && Padding % 4 == 0, "rows must stay 16-byte aligned for vector access");

  ATTNKIT_HOST_DEVICE static constexpr int offset(int row, int col) { return row * kRowStride + col; }
};

}  // namespace attnkit::layout
