#pragma once
// Shared-memory layout of a (Rows × Cols) tile of 16-bit elements, swizzled so that both the
// 16-byte cp.async writes of a row and the ldmatrix reads of 8 rows at the same column are
// free of bank conflicts.
//
// Unit: the 16-byte chunk (8 elements), the size of one cp.async and of one ldmatrix row.
// Shared memory has 32 banks × 4 bytes = one 128-byte line per wavefront, i.e. 8 chunk slots.
//
//  * The columns are cut into panels of P chunks (P = 8 when the row has a multiple of 8
//    chunks, else 4: head dims 32 and 96). A panel is stored contiguously, row after row, so
//    a 128-byte line holds 8 / P rows of one panel.
//  * Inside a panel, chunk c of row r is stored in slot  c XOR ((r / (8 / P)) mod P).
//
//  P = 8 (e.g. head dim 64, 128):      P = 4 (head dim 32, 96):
//   row 0: 0 1 2 3 4 5 6 7              rows 0,1: 0 1 2 3 | 0 1 2 3
//   row 1: 1 0 3 2 5 4 7 6              rows 2,3: 1 0 3 2 | 1 0 3 2
//   row 2: 2 3 0 1 6 7 4 5              rows 4,5: 2 3 0 1 | 2 3 0 1
//   ...                                 rows 6,7: 3 2 1 0 | 3 2 1 0
//
// ldmatrix reads one chunk from each of 8 consecutive rows (starting at a multiple of 8): the
// XOR sends them to 8 different slots. 8 consecutive threads of a cp.async copy write 8
// consecutive chunks of one row (or of two rows, or of two panels of one row, in P = 4
// panels, where odd panels swap the two rows of each line): again 8 different slots.

#include "../core/config.cuh"

namespace attnkit::layout {

template <int Rows, int Cols, int ElementBytes = 2>
struct SwizzledTile {
  static constexpr int kRows = Rows;
  static constexpr int kCols = Cols;
  static constexpr int kChunkElements = 16 / ElementBytes;
  static constexpr int kChunksPerRow = Cols / kChunkElements;
  static constexpr int kPanelChunks = kChunksPerRow % 8 == 0 ? 8 : 4;
  static constexpr int kPanels = kChunksPerRow / kPanelChunks;
  static constexpr int kRowsPerLine = 8 / kPanelChunks;
  static constexpr int kElements = Rows * Cols;
  static constexpr int kBytes = kElements * ElementBytes;

  static_assert(Cols % kChunkElements == 0, "a tile row must be a whole number of 16-byte chunks");
  static_assert(kChunksPerRow % 4 == 0, "a tile row must hold a multiple of 4 chunks (head dim multiple of 32)");
  static_assert(Rows % 8 == 0, "ldmatrix reads 8 rows at a time: Rows must be a multiple of 8");

  // Offset, in elements, of 16-byte chunk `chunk` of row `row`.
  ATTNKIT_HOST_DEVICE static constexpr int chunk_offset(int row, int chunk) {
    const int panel = chunk / kPanelChunks;
    const int slot = (chunk % kPanelChunks) ^ ((row / kRowsPerLine) % kPanelChunks);
    // With two rows per line, odd panels swap the rows of each line: a cp.async group that
    // writes chunks 0..3 of panel 0 and 0..3 of panel 1 of the same row (head dim 96) would
    // otherwise land twice in the same half of a line.
    const int stored_row = kRowsPerLine == 2 ? row ^ (panel & 1) : row;
    return ((panel * Rows + stored_row) * kPanelChunks + slot) * kChunkElements;
  }

  // Offset, in elements, of element (row, col).
  ATTNKIT_HOST_DEVICE static constexpr int offset(int row, int col) {
    return chunk_offset(row, col / kChunkElements) + col % kChunkElements;
  }

  // Offset in bytes of chunk (row, chunk).
  ATTNKIT_HOST_DEVICE static constexpr unsigned byte_offset(int row, int chunk) {
    return static_cast<unsigned>(chunk_offset(row, chunk)) * ElementBytes;
  }

  // Moves a lane's byte offset of chunk (row, chunk), chunk in {0, 1}, to chunk
  // (row + row_step, chunk + chunk_step), for row_step a multiple of 8 and chunk_step even.
  // Such steps leave the row's swizzle term unchanged, so the swizzled slot only XORs with the
  // step's own low chunk bits (bits 4..6 of the byte offset) and the rest is a constant add:
  // with both steps known at compile time each ldmatrix address is one LOP3 off a per-lane
  // base, instead of a full index computation the compiler would hoist and keep live.
  // (In two-row-per-line panels, an odd number of panels crossed also flips the row within the
  // line: bit 6.)
  ATTNKIT_HOST_DEVICE static constexpr unsigned step(unsigned lane_offset, int row_step, int chunk_step) {
    const unsigned panels_crossed = static_cast<unsigned>(chunk_step / kPanelChunks);
    const unsigned row_flip = kRowsPerLine == 2 ? (panels_crossed & 1u) << 6 : 0u;
    return (lane_offset ^ (static_cast<unsigned>(chunk_step % kPanelChunks) << 4) ^ row_flip) +
           static_cast<unsigned>((row_step + panels_crossed * Rows) * kPanelChunks * 16);
  }
};

}  // namespace attnkit::layout
