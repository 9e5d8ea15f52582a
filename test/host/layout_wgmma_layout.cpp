// Tests of layout/wgmma_layout.cuh: the wgmma accumulator map covers a 64 × N tile exactly once
// and is, warp by warp, the mma.sync accumulator map; SwizzledTile's layout of 64-column panels
// is the TMA's 128-byte swizzle; the descriptor fields land in the bits the PTX ISA names.

#include <catch2/catch_test_macros.hpp>

#include <vector>

#include "attnkit/layout/swizzle.cuh"
#include "attnkit/layout/wgmma_layout.cuh"

using namespace attnkit::layout;

TEST_CASE("wgmma accumulator map covers the 64 x N tile once, per warp as mma.sync's", "[layout][wgmma]") {
  for (int n : {16, 64, 80, 128, 256}) {
    std::vector<int> owners(64 * n, 0);
    for (int thread = 0; thread < kWarpgroupThreads; ++thread)
      for (int j = 0; j < n / 2; ++j) {
        const Coord c = wgmma_accumulator_coord(thread, j);
        REQUIRE(c.row >= 0);
        REQUIRE(c.row < 64);
        REQUIRE(c.col >= 0);
        REQUIRE(c.col < n);
        ++owners[c.row * n + c.col];
        // Warp w's rows are 16w..16w+15, laid out as slice j/4 of an m16n8 C fragment.
        const Coord in_warp = mma_c_coord(thread % 32, j % 4);
        CHECK(c.row == 16 * (thread / 32) + in_warp.row);
        CHECK(c.col == 8 * (j / 4) + in_warp.col);
      }
    for (int count : owners) REQUIRE(count == 1);
  }
}

template <int Rows, int Cols>
void check_swizzled_tile_is_tma_128b() {
  using Tile = SwizzledTile<Rows, Cols>;
  for (int row = 0; row < Rows; ++row)
    for (int col = 0; col < Cols; ++col) {
      const int panel = col / 64;
      const int expected = panel * Rows * kSwizzle128Bytes + swizzle128_byte_offset(row, (col % 64) * 2);
      REQUIRE(Tile::offset(row, col) * 2 == expected);
    }
}

TEST_CASE("SwizzledTile with 64-column panels is the TMA 128-byte swizzle", "[layout][wgmma]") {
  check_swizzled_tile_is_tma_128b<64, 64>();
  check_swizzled_tile_is_tma_128b<64, 128>();
  check_swizzled_tile_is_tma_128b<80, 256>();
  check_swizzled_tile_is_tma_128b<128, 128>();
}

TEST_CASE("128-byte swizzle permutes the chunks of each row", "[layout][wgmma]") {
  for (int row = 0; row < 16; ++row) {
    std::vector<int> seen(8, 0);
    for (int chunk = 0; chunk < 8; ++chunk) {
      const int offset = swizzle128_byte_offset(row, chunk * 16);
      REQUIRE(offset / kSwizzle128Bytes == row);
      ++seen[(offset % kSwizzle128Bytes) / 16];
    }
    for (int count : seen) REQUIRE(count == 1);
  }
}

TEST_CASE("wgmma descriptor fields", "[layout][wgmma]") {
  const uint64_t d = wgmma_descriptor(0x12340, 0x4000, 1024, WgmmaSwizzle::bytes128);
  CHECK((d & 0x3FFF) == (0x12340 >> 4));
  CHECK(((d >> 16) & 0x3FFF) == (0x4000 >> 4));
  CHECK(((d >> 32) & 0x3FFF) == 1024 / 16);
  CHECK((d >> 62) == 1);
  CHECK(((d >> 14) & 0x3) == 0);
  CHECK(((d >> 46) & 0xFFFF) == 0);  // base offset 0 and reserved bits clear
  const uint64_t k_major = kmajor_swizzle128_descriptor(0x400);
  CHECK(((k_major >> 32) & 0x3FFF) == 64);
  const uint64_t mn_major = mnmajor_swizzle128_descriptor(0x400, 128 * 128);
  CHECK(((mn_major >> 16) & 0x3FFF) == 128 * 128 / 16);
  CHECK(((mn_major >> 32) & 0x3FFF) == 64);
}
