// Tests of layout/padded_rows.cuh for every head dim the kernels support: the padded layout
// places each element once, keeps rows 16-byte aligned, and makes the two accesses the split-K
// combine does conflict-free: the 8-byte stores of an mma accumulator (lane (g, t): row g,
// columns 2t, 2t+1; served half a warp at a time) and the 16-byte row reads (lane i: columns
// 4i..4i+3; served a quarter-warp at a time).

#include <catch2/catch_template_test_macros.hpp>
#include <catch2/catch_test_macros.hpp>

#include <map>
#include <set>
#include <vector>

#include "attnkit/layout/mma_fragment.cuh"
#include "attnkit/layout/padded_rows.cuh"

using attnkit::layout::PaddedRows;

namespace {

constexpr int kBanks = 32;

// Wavefronts one phase of lanes needs: a bank serving two different 4-byte words conflicts.
int wavefronts(const std::vector<std::pair<int, int>>& word_ranges) {  // (first word, word count) per lane
  std::map<int, std::set<int>> words_of_bank;
  for (const auto& [first, count] : word_ranges)
    for (int w = first; w < first + count; ++w) words_of_bank[w % kBanks].insert(w);
  int most = 0;
  for (const auto& [bank, words] : words_of_bank) most = std::max<int>(most, static_cast<int>(words.size()));
  return most;
}

template <int Cols>
void check_layout() {
  using Layout = PaddedRows<16, Cols, 8>;
  INFO("cols " << Cols);
  std::set<int> offsets;
  for (int row = 0; row < Layout::kRows; ++row) {
    REQUIRE(Layout::offset(row, 0) % 4 == 0);  // 16-byte aligned rows (4-byte elements)
    for (int col = 0; col < Cols; ++col) offsets.insert(Layout::offset(row, col));
  }
  REQUIRE(offsets.size() == std::size_t(Layout::kRows) * Cols);
  REQUIRE(*offsets.rbegin() < Layout::kElements);

  // Accumulator stores: for every (m-tile row half, n-tile), each half-warp in one wavefront.
  for (int row_half = 0; row_half < 2; ++row_half)
    for (int n = 0; n < Cols / 8; ++n)
      for (int half_warp = 0; half_warp < 2; ++half_warp) {
        std::vector<std::pair<int, int>> lanes;
        for (int lane = 16 * half_warp; lane < 16 * half_warp + 16; ++lane) {
          const attnkit::layout::Coord c = attnkit::layout::mma_c_coord(lane, row_half * 2);
          lanes.push_back({Layout::offset(c.row, n * 8 + c.col), 2});
        }
        INFO("store: row half " << row_half << ", n-tile " << n << ", half-warp " << half_warp);
        CHECK(wavefronts(lanes) == 1);
      }

  // Row reads: consecutive lanes take consecutive 4-column chunks, row after row.
  const int chunks = Layout::kRows * Cols / 4;
  for (int first = 0; first < chunks; first += 8) {
    std::vector<std::pair<int, int>> lanes;
    for (int chunk = first; chunk < first + 8; ++chunk)
      lanes.push_back({Layout::offset(chunk / (Cols / 4), chunk % (Cols / 4) * 4), 4});
    INFO("read: chunks " << first << ".." << first + 7);
    CHECK(wavefronts(lanes) == 1);
  }
}

}  // namespace

TEST_CASE("padded rows: bijective, aligned, conflict-free fragment stores and row reads", "[layout][padded]") {
  check_layout<32>();
  check_layout<64>();
  check_layout<96>();
  check_layout<128>();
  check_layout<192>();
  check_layout<256>();
}
