// Tests of layout/swizzle.cuh, exhaustively for every head dim the kernels support and the
// block row counts they use: the swizzle must place each element exactly once, keep a 16-byte
// chunk whole, spread every ldmatrix phase and every cp.async phase over the 8 bank groups of a
// 128-byte line, and step() must agree with the full index computation it replaces.

#include <catch2/catch_template_test_macros.hpp>
#include <catch2/catch_test_macros.hpp>

#include <set>
#include <tuple>
#include <vector>

#include "attnkit/layout/swizzle.cuh"

using attnkit::layout::SwizzledTile;

namespace {

// Shared memory serves one 128-byte line per wavefront: 32 banks × 4 bytes, i.e. 8 slots of
// 16 bytes. Eight 16-byte accesses in distinct slots take one wavefront.
constexpr unsigned kBankGroups = 8;
unsigned bank_group(unsigned byte_address) { return (byte_address / 16) % kBankGroups; }

template <class Tile>
void check_bijection_and_chunks() {
  std::vector<int> owners(Tile::kElements, 0);
  for (int row = 0; row < Tile::kRows; ++row) {
    for (int col = 0; col < Tile::kCols; ++col) {
      const int offset = Tile::offset(row, col);
      REQUIRE(offset >= 0);
      REQUIRE(offset < Tile::kElements);
      ++owners[offset];
    }
  }
  for (int offset = 0; offset < Tile::kElements; ++offset) {
    INFO("element offset " << offset);
    REQUIRE(owners[offset] == 1);
  }

  for (int row = 0; row < Tile::kRows; ++row) {
    for (int chunk = 0; chunk < Tile::kChunksPerRow; ++chunk) {
      INFO("row " << row << ", chunk " << chunk);
      const int chunk_start = Tile::chunk_offset(row, chunk);
      // A cp.async / ldmatrix row is 16 bytes: its 8 elements must be contiguous and aligned.
      REQUIRE(chunk_start % Tile::kChunkElements == 0);
      REQUIRE(Tile::byte_offset(row, chunk) % 16 == 0);
      REQUIRE(Tile::byte_offset(row, chunk) == static_cast<unsigned>(chunk_start) * 2);
      for (int element = 0; element < Tile::kChunkElements; ++element)
        REQUIRE(Tile::offset(row, chunk * Tile::kChunkElements + element) == chunk_start + element);
    }
  }
  REQUIRE(Tile::kBytes == Tile::kElements * 2);
}

template <class Tile>
void check_ldmatrix_phases() {
  // ldmatrix: one 16-byte row address per lane, 8 lanes per 8 × 8 matrix, rows r0..r0+7 of one
  // chunk column.
  for (int row0 = 0; row0 < Tile::kRows; row0 += 8) {
    for (int chunk = 0; chunk < Tile::kChunksPerRow; ++chunk) {
      INFO("rows " << row0 << "..+7, chunk " << chunk);
      std::set<unsigned> groups;
      for (int row = row0; row < row0 + 8; ++row) groups.insert(bank_group(Tile::byte_offset(row, chunk)));
      REQUIRE(groups.size() == kBankGroups);
    }
  }
}

template <class Tile, int Threads>
void check_cp_async_phases() {
  constexpr int kChunks = Tile::kRows * Tile::kChunksPerRow;
  for (int i = 0; i * Threads < kChunks; ++i) {
    for (int thread0 = 0; thread0 < Threads; thread0 += 8) {
      std::set<unsigned> groups;
      int writers = 0;
      for (int thread = thread0; thread < thread0 + 8; ++thread) {
        const int chunk_index = thread + i * Threads;
        if (chunk_index >= kChunks) continue;
        const int row = chunk_index / Tile::kChunksPerRow;
        const int chunk = chunk_index % Tile::kChunksPerRow;
        groups.insert(bank_group(Tile::byte_offset(row, chunk)));
        ++writers;
      }
      INFO("threads " << Threads << ", copy " << i << ", threads " << thread0 << "..+7 (chunk index "
                      << thread0 + i * Threads << "..+7, row " << (thread0 + i * Threads) / Tile::kChunksPerRow
                      << ")");
      REQUIRE(static_cast<int>(groups.size()) == writers);
    }
  }
}

template <class Tile>
void check_step() {
  int checked = 0;
  for (int row = 0; row < 16 && row < Tile::kRows; ++row) {
    for (int chunk = 0; chunk < 2; ++chunk) {
      const unsigned lane_offset = Tile::byte_offset(row, chunk);
      for (int row_step = 0; row + row_step < Tile::kRows; row_step += 8) {
        for (int chunk_step = 0; chunk + chunk_step < Tile::kChunksPerRow; chunk_step += 2) {
          INFO("lane at row " << row << ", chunk " << chunk << "; step rows " << row_step << ", chunks "
                              << chunk_step);
          REQUIRE(Tile::step(lane_offset, row_step, chunk_step) ==
                  Tile::byte_offset(row + row_step, chunk + chunk_step));
          ++checked;
        }
      }
    }
  }
  REQUIRE(checked > 0);
}

// Every head dim the kernels support × the block row counts they use.
template <int Cols>
using TilesOfWidth = std::tuple<SwizzledTile<16, Cols>, SwizzledTile<64, Cols>, SwizzledTile<128, Cols>>;
using AllTiles = decltype(std::tuple_cat(TilesOfWidth<32>{}, TilesOfWidth<64>{}, TilesOfWidth<96>{},
                                         TilesOfWidth<128>{}, TilesOfWidth<192>{}, TilesOfWidth<256>{}));

}  // namespace

TEMPLATE_LIST_TEST_CASE("SwizzledTile places every element once, in whole aligned chunks", "[layout][swizzle]",
                        AllTiles) {
  using Tile = TestType;
  INFO("SwizzledTile<" << Tile::kRows << ", " << Tile::kCols << ">");
  STATIC_REQUIRE(Tile::kChunksPerRow * Tile::kChunkElements == Tile::kCols);
  STATIC_REQUIRE(Tile::kPanels * Tile::kPanelChunks == Tile::kChunksPerRow);
  // The index math is meant for device code: it must fold at compile time too.
  STATIC_REQUIRE(Tile::offset(Tile::kRows - 1, Tile::kCols - 1) >= 0);
  check_bijection_and_chunks<Tile>();
}

TEMPLATE_LIST_TEST_CASE("SwizzledTile ldmatrix phases are conflict-free", "[layout][swizzle]", AllTiles) {
  using Tile = TestType;
  INFO("SwizzledTile<" << Tile::kRows << ", " << Tile::kCols << ">");
  check_ldmatrix_phases<Tile>();
}

TEMPLATE_LIST_TEST_CASE("SwizzledTile cp.async phases are conflict-free", "[layout][swizzle]", AllTiles) {
  using Tile = TestType;
  INFO("SwizzledTile<" << Tile::kRows << ", " << Tile::kCols << ">");
  check_cp_async_phases<Tile, 32>();
  check_cp_async_phases<Tile, 64>();
  check_cp_async_phases<Tile, 128>();
  check_cp_async_phases<Tile, 256>();
}

TEMPLATE_LIST_TEST_CASE("SwizzledTile step() agrees with byte_offset()", "[layout][swizzle]", AllTiles) {
  using Tile = TestType;
  INFO("SwizzledTile<" << Tile::kRows << ", " << Tile::kCols << ">");
  STATIC_REQUIRE(Tile::step(Tile::byte_offset(0, 0), 8, 2) == Tile::byte_offset(8, 2));
  check_step<Tile>();
}

TEST_CASE("SwizzledTile panel shape follows the row's chunk count", "[layout][swizzle]") {
  STATIC_REQUIRE(SwizzledTile<64, 32>::kPanelChunks == 4);
  STATIC_REQUIRE(SwizzledTile<64, 96>::kPanelChunks == 4);
  STATIC_REQUIRE(SwizzledTile<64, 64>::kPanelChunks == 8);
  STATIC_REQUIRE(SwizzledTile<64, 128>::kPanelChunks == 8);
  STATIC_REQUIRE(SwizzledTile<64, 192>::kPanelChunks == 8);
  STATIC_REQUIRE(SwizzledTile<64, 256>::kPanelChunks == 8);
  STATIC_REQUIRE(SwizzledTile<64, 128>::kBytes == 64 * 128 * 2);
}
