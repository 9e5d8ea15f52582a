// Tests of fa1/block_sizes.cuh: the paper's rule B_c = ⌈M/4d⌉, B_r = min(B_c, d)
// for M = 163 KB of 16-bit elements, and the sizes actually used: on the fragment grid,
// within the register caps and the shared memory, as large as those allow with B_c given
// priority, and equal to the table the header documents.

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "attnkit/fa1/block_sizes.cuh"

using namespace attnkit;
using namespace attnkit::fa1;

namespace {

struct Documented {
  int head_dim, rule_block_m, rule_block_n, block_m, block_n;
};

constexpr Documented kTable[] = {
    {32, 32, 652, 16, 512},  {64, 64, 326, 16, 320},  {96, 96, 218, 16, 192},
    {128, 128, 163, 16, 128}, {192, 109, 109, 16, 64}, {256, 82, 82, 16, 64},
};

}  // namespace

TEST_CASE("fa1 block sizes: the paper's rule and the documented table", "[fa1][block_sizes]") {
  REQUIRE(kOnChipElements == 83456);
  for (const Documented& row : kTable) {
    INFO("head dim " << row.head_dim);
    const BlockSizes sizes = block_sizes(row.head_dim);
    CHECK(sizes.on_chip_elements == kOnChipElements);
    CHECK(sizes.rule_block_n == (kOnChipElements + 4 * row.head_dim - 1) / (4 * row.head_dim));
    CHECK(sizes.rule_block_m == std::min(sizes.rule_block_n, row.head_dim));
    CHECK(sizes.rule_block_m == row.rule_block_m);
    CHECK(sizes.rule_block_n == row.rule_block_n);
    CHECK(sizes.block_m == row.block_m);
    CHECK(sizes.block_n == row.block_n);
    CHECK(sizes.warps == kForwardWarps);
  }
}

TEST_CASE("fa1 block sizes: within every limit, and the largest that are", "[fa1][block_sizes]") {
  for (const Documented& row : kTable) {
    const int d = row.head_dim;
    const BlockSizes s = derive_block_sizes(d);
    INFO("head dim " << d << ": B_r = " << s.block_m << ", B_c = " << s.block_n);
    CHECK(s.block_m % 16 == 0);
    CHECK(s.block_n % (16 * s.warps) == 0);
    CHECK(s.block_m <= s.rule_block_m);
    CHECK(s.block_n <= s.rule_block_n);
    CHECK(block_sizes_fit(d, s.block_m, s.block_n, s.warps));
    CHECK(forward_smem_bytes(d, s.block_m, s.block_n, s.warps) <= kOnChipBytes);
    // No larger B_c on the grid (up to the rule) fits with any B_r ...
    for (int n = s.block_n + 16 * s.warps; n <= s.rule_block_n; n += 16 * s.warps)
      for (int m = 16; m <= s.rule_block_m; m += 16) CHECK_FALSE(block_sizes_fit(d, m, n, s.warps));
    // ... and no larger B_r fits beside the chosen B_c.
    for (int m = s.block_m + 16; m <= s.rule_block_m; m += 16) CHECK_FALSE(block_sizes_fit(d, m, s.block_n, s.warps));
  }
}

TEST_CASE("fa1 block sizes: an unsupported head dim is an error naming it", "[fa1][block_sizes]") {
  using Catch::Matchers::ContainsSubstring;
  CHECK_THROWS_WITH(block_sizes(160), ContainsSubstring("head_dim = 160"));
  CHECK_THROWS_AS(block_sizes(0), attnkit::error);
}
