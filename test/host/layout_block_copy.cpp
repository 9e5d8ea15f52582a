// Tests of layout/block_copy.cuh, exhaustively for every tile the FA1 forward copies with it
// (Q blocks and per-warp K/V slices of every head dim): lanes × blocks cover each 16-byte chunk
// of the tile exactly once; SwizzledTile::step by whole blocks from a lane's first chunk lands
// where chunk_offset says (the XOR it applies never meets a carry); and every quarter-warp's
// writes fall in 8 different 16-byte bank groups.

#include <catch2/catch_test_macros.hpp>

#include <set>
#include <utility>

#include "attnkit/layout/block_copy.cuh"
#include "attnkit/layout/swizzle.cuh"

using namespace attnkit::layout;

namespace {

template <int Rows, int Cols>
void check_tile() {
  using Tile = SwizzledTile<Rows, Cols>;
  INFO("tile " << Rows << " x " << Cols);
  std::set<std::pair<int, int>> covered;
  for (int g = 0; g < Rows / kBlockCopyRows; ++g) {
    for (int q = 0; q < Tile::kChunksPerRow / kBlockCopyChunks; ++q) {
      std::set<unsigned> bank_groups[4];
      for (int lane = 0; lane < 32; ++lane) {
        const Coord source = block_copy_source(lane);
        REQUIRE(source.row >= 0);
        REQUIRE(source.row < kBlockCopyRows);
        REQUIRE(source.col >= 0);
        REQUIRE(source.col < kBlockCopyChunks);
        const int row = g * kBlockCopyRows + source.row;
        const int chunk = q * kBlockCopyChunks + source.col;
        INFO("lane " << lane << ", block (" << g << ", " << q << ")");
        REQUIRE(covered.insert({row, chunk}).second);
        const unsigned stepped =
            Tile::step(Tile::byte_offset(source.row, source.col), g * kBlockCopyRows, q * kBlockCopyChunks);
        REQUIRE(stepped == Tile::byte_offset(row, chunk));
        bank_groups[lane / 8].insert((stepped / 16) % 8);
      }
      for (const std::set<unsigned>& quarter : bank_groups) CHECK(quarter.size() == 8);
    }
  }
  REQUIRE(covered.size() == std::size_t(Rows) * Tile::kChunksPerRow);
}

}  // namespace

TEST_CASE("block copy: every chunk once, step() exact, conflict-free quarter-warps", "[layout][block_copy]") {
  // Q blocks (16 or 32 rows) and K/V slices (16 to 128 keys) of every head dim.
  check_tile<16, 32>();
  check_tile<128, 32>();
  check_tile<16, 64>();
  check_tile<80, 64>();
  check_tile<32, 64>();
  check_tile<16, 96>();
  check_tile<48, 96>();
  check_tile<16, 128>();
  check_tile<32, 128>();
  check_tile<16, 192>();
  check_tile<16, 256>();
  check_tile<32, 256>();
}
