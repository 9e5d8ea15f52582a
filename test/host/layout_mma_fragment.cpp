// Tests of layout/mma_fragment.cuh over all 32 lanes: each operand map of mma.m16n8k16 must
// cover its tile exactly once, the ldmatrix.x4 source maps must deliver to every lane exactly
// the elements the operand maps say it holds (the ldmatrix data movement is simulated here from
// the PTX ISA's description, including .trans loads of an A operand stored transposed), and
// accumulator tiles must be reusable as an A operand.

#include <catch2/catch_test_macros.hpp>

#include <array>

#include "attnkit/layout/mma_fragment.cuh"

using namespace attnkit::layout;

namespace {

constexpr int kLanes = 32;

// An element of a 16 × 16 (or 16 × 8) tile, encoded so that a delivered value names its source.
constexpr int encode(int row, int col) { return row * 256 + col; }
constexpr int decode_row(int value) { return value / 256; }
constexpr int decode_col(int value) { return value % 256; }

// One 16-bit element of each of the four 32-bit registers ldmatrix.x4 writes, two per register.
using LdmatrixResult = std::array<std::array<std::array<int, 2>, 4>, kLanes>;

// ldmatrix.x4 as the ISA describes it: lane L supplies the address of row L % 8 of matrix L / 8;
// that row is 8 consecutive 16-bit elements. Without .trans, register i of lane l receives
// matrix i's row l / 4, columns 2(l % 4) and 2(l % 4) + 1; with .trans it receives rows
// 2(l % 4) and 2(l % 4) + 1 of column l / 4. `row_address(lane)` gives the (tile row, chunk)
// the lane points at; the tile holds encode(row, col) at (row, col).
template <class RowAddress>
LdmatrixResult simulate_ldmatrix_x4(RowAddress row_address, bool transpose) {
  // matrix_rows[i][r][c]: element c of the row that lane 8i + r points at.
  int matrix_rows[4][8][8];
  for (int lane = 0; lane < kLanes; ++lane) {
    const Coord source = row_address(lane);
    for (int element = 0; element < 8; ++element)
      matrix_rows[lane / 8][lane % 8][element] = encode(source.row, source.col * 8 + element);
  }
  LdmatrixResult result{};
  for (int lane = 0; lane < kLanes; ++lane) {
    for (int reg = 0; reg < 4; ++reg) {
      for (int half = 0; half < 2; ++half) {
        result[lane][reg][half] = transpose ? matrix_rows[reg][2 * (lane % 4) + half][lane / 4]
                                            : matrix_rows[reg][lane / 4][2 * (lane % 4) + half];
      }
    }
  }
  return result;
}

}  // namespace

TEST_CASE("mma_a_coord covers the 16 x 16 A tile exactly once", "[layout][mma_fragment]") {
  int owners[16][16] = {};
  for (int lane = 0; lane < kLanes; ++lane) {
    for (int reg = 0; reg < 4; ++reg) {
      for (int half = 0; half < 2; ++half) {
        const Coord c = mma_a_coord(lane, reg, half);
        REQUIRE((c.row >= 0 && c.row < 16 && c.col >= 0 && c.col < 16));
        ++owners[c.row][c.col];
      }
    }
  }
  for (int row = 0; row < 16; ++row)
    for (int col = 0; col < 16; ++col) {
      INFO("A (" << row << ", " << col << ")");
      REQUIRE(owners[row][col] == 1);
    }
  // The two halves of a register are adjacent columns of one row (what pack2 and ldmatrix give).
  for (int lane = 0; lane < kLanes; ++lane)
    for (int reg = 0; reg < 4; ++reg) {
      REQUIRE(mma_a_coord(lane, reg, 1).row == mma_a_coord(lane, reg, 0).row);
      REQUIRE(mma_a_coord(lane, reg, 1).col == mma_a_coord(lane, reg, 0).col + 1);
    }
  // The ISA's layout at a few points: lane 0 holds (0,0) (0,1) in a0; lane 5 = (g 1, t 1).
  STATIC_REQUIRE(mma_a_coord(0, 0, 0).row == 0);
  STATIC_REQUIRE(mma_a_coord(5, 0, 0).row == 1);
  STATIC_REQUIRE(mma_a_coord(5, 0, 0).col == 2);
  STATIC_REQUIRE(mma_a_coord(5, 1, 1).row == 9);
  STATIC_REQUIRE(mma_a_coord(5, 1, 1).col == 3);
  STATIC_REQUIRE(mma_a_coord(5, 2, 0).row == 1);
  STATIC_REQUIRE(mma_a_coord(5, 2, 0).col == 10);
  STATIC_REQUIRE(mma_a_coord(31, 3, 1).row == 15);
  STATIC_REQUIRE(mma_a_coord(31, 3, 1).col == 15);
}

TEST_CASE("mma_b_coord covers the 16 x 8 B tile exactly once", "[layout][mma_fragment]") {
  int owners[16][8] = {};
  for (int lane = 0; lane < kLanes; ++lane) {
    for (int reg = 0; reg < 2; ++reg) {
      for (int half = 0; half < 2; ++half) {
        const Coord c = mma_b_coord(lane, reg, half);
        REQUIRE((c.row >= 0 && c.row < 16 && c.col >= 0 && c.col < 8));
        ++owners[c.row][c.col];
      }
    }
  }
  for (int k = 0; k < 16; ++k)
    for (int n = 0; n < 8; ++n) {
      INFO("B (k " << k << ", n " << n << ")");
      REQUIRE(owners[k][n] == 1);
    }
  // The two halves of a B register are adjacent k of one column n.
  for (int lane = 0; lane < kLanes; ++lane)
    for (int reg = 0; reg < 2; ++reg) {
      REQUIRE(mma_b_coord(lane, reg, 1).col == mma_b_coord(lane, reg, 0).col);
      REQUIRE(mma_b_coord(lane, reg, 1).row == mma_b_coord(lane, reg, 0).row + 1);
    }
  STATIC_REQUIRE(mma_b_coord(5, 1, 1).row == 11);
  STATIC_REQUIRE(mma_b_coord(5, 1, 1).col == 1);
}

TEST_CASE("mma_c_coord covers the 16 x 8 accumulator tile exactly once", "[layout][mma_fragment]") {
  int owners[16][8] = {};
  for (int lane = 0; lane < kLanes; ++lane) {
    for (int index = 0; index < 4; ++index) {
      const Coord c = mma_c_coord(lane, index);
      REQUIRE((c.row >= 0 && c.row < 16 && c.col >= 0 && c.col < 8));
      ++owners[c.row][c.col];
    }
  }
  for (int row = 0; row < 16; ++row)
    for (int col = 0; col < 8; ++col) {
      INFO("C (" << row << ", " << col << ")");
      REQUIRE(owners[row][col] == 1);
    }
  // Row reductions shuffle among the 4 lanes of a group: they must own whole rows.
  for (int lane = 0; lane < kLanes; ++lane)
    for (int index = 0; index < 4; ++index) {
      REQUIRE(mma_c_coord(lane, index).row % 8 == lane_group(lane));
      REQUIRE(mma_c_coord(lane, index).col / 2 == lane_in_group(lane));
    }
  STATIC_REQUIRE(mma_c_coord(5, 3).row == 9);
  STATIC_REQUIRE(mma_c_coord(5, 3).col == 3);
}

TEST_CASE("ldmatrix_a_source delivers the A fragment of a row-major 16 x 16 block", "[layout][mma_fragment]") {
  for (int lane = 0; lane < kLanes; ++lane) {
    const Coord source = ldmatrix_a_source(lane);
    REQUIRE((source.row >= 0 && source.row < 16 && (source.col == 0 || source.col == 1)));
  }
  const LdmatrixResult loaded = simulate_ldmatrix_x4([](int lane) { return ldmatrix_a_source(lane); }, false);
  for (int lane = 0; lane < kLanes; ++lane) {
    for (int reg = 0; reg < 4; ++reg) {
      for (int half = 0; half < 2; ++half) {
        const Coord want = mma_a_coord(lane, reg, half);
        const int got = loaded[lane][reg][half];
        INFO("lane " << lane << ", a" << reg << "." << half << ": got (" << decode_row(got) << ", "
                     << decode_col(got) << "), want (" << want.row << ", " << want.col << ")");
        REQUIRE(got == encode(want.row, want.col));
      }
    }
  }
}

TEST_CASE("ldmatrix_b_source delivers two B n-tiles from an n-major tile", "[layout][mma_fragment]") {
  // The tile is stored (n, k): its rows are keys (n), its columns the head dim (k).
  for (int lane = 0; lane < kLanes; ++lane) {
    const Coord source = ldmatrix_b_source(lane);
    REQUIRE((source.row >= 0 && source.row < 16 && (source.col == 0 || source.col == 1)));
  }
  const LdmatrixResult loaded = simulate_ldmatrix_x4([](int lane) { return ldmatrix_b_source(lane); }, false);
  for (int lane = 0; lane < kLanes; ++lane) {
    for (int reg = 0; reg < 4; ++reg) {
      const int n_tile = reg / 2;
      for (int half = 0; half < 2; ++half) {
        const Coord want = mma_b_coord(lane, reg % 2, half);  // (k, n) within the n-tile
        const int want_row = n_tile * 8 + want.col;           // stored row: n
        const int want_col = want.row;                        // stored column: k
        const int got = loaded[lane][reg][half];
        INFO("lane " << lane << ", register " << reg << "." << half << " (n-tile " << n_tile << " b" << reg % 2
                     << "): got stored (" << decode_row(got) << ", " << decode_col(got) << "), want (" << want_row
                     << ", " << want_col << ")");
        REQUIRE(got == encode(want_row, want_col));
      }
    }
  }
}

TEST_CASE("ldmatrix_b_trans_source delivers two B n-tiles from a k-major tile with .trans",
          "[layout][mma_fragment]") {
  // The tile is stored (k, n): its rows are keys (k), its columns the head dim (n).
  for (int lane = 0; lane < kLanes; ++lane) {
    const Coord source = ldmatrix_b_trans_source(lane);
    REQUIRE((source.row >= 0 && source.row < 16 && (source.col == 0 || source.col == 1)));
  }
  const LdmatrixResult loaded = simulate_ldmatrix_x4([](int lane) { return ldmatrix_b_trans_source(lane); }, true);
  for (int lane = 0; lane < kLanes; ++lane) {
    for (int reg = 0; reg < 4; ++reg) {
      const int n_tile = reg / 2;
      for (int half = 0; half < 2; ++half) {
        const Coord want = mma_b_coord(lane, reg % 2, half);
        const int want_row = want.row;                 // stored row: k
        const int want_col = n_tile * 8 + want.col;    // stored column: n
        const int got = loaded[lane][reg][half];
        INFO("lane " << lane << ", register " << reg << "." << half << " (n-tile " << n_tile << " b" << reg % 2
                     << "): got stored (" << decode_row(got) << ", " << decode_col(got) << "), want (" << want_row
                     << ", " << want_col << ")");
        REQUIRE(got == encode(want_row, want_col));
      }
    }
  }
}

TEST_CASE("the ldmatrix simulation itself follows the ISA", "[layout][mma_fragment]") {
  // Identity addressing (lane L points at row L % 8 of matrix L / 8, stored as tile row L, chunk 0)
  // pins the simulated distribution: lane 6 gets, without .trans, row 1 columns 4, 5 of each
  // matrix; with .trans, rows 4, 5 of column 1.
  auto identity = [](int lane) { return Coord{lane, 0}; };
  const LdmatrixResult plain = simulate_ldmatrix_x4(identity, false);
  const LdmatrixResult transposed = simulate_ldmatrix_x4(identity, true);
  REQUIRE(plain[6][2][0] == encode(2 * 8 + 1, 4));
  REQUIRE(plain[6][2][1] == encode(2 * 8 + 1, 5));
  REQUIRE(transposed[6][3][0] == encode(3 * 8 + 4, 1));
  REQUIRE(transposed[6][3][1] == encode(3 * 8 + 5, 1));
}

TEST_CASE("accumulator_to_a_register reuses two C tiles as one A operand", "[layout][mma_fragment]") {
  // Two 16 × 8 accumulator tiles side by side are a 16 × 16 block; floats (index, index + 1)
  // of tile n_tile are packed into one A register, which must hold exactly those elements.
  int a_registers_used[kLanes][4] = {};
  for (int lane = 0; lane < kLanes; ++lane) {
    for (int n_tile = 0; n_tile < 2; ++n_tile) {
      for (int index = 0; index < 4; index += 2) {
        const int reg = accumulator_to_a_register(n_tile, index);
        REQUIRE((reg >= 0 && reg < 4));
        ++a_registers_used[lane][reg];
        for (int half = 0; half < 2; ++half) {
          const Coord c = mma_c_coord(lane, index + half);
          const Coord a = mma_a_coord(lane, reg, half);
          INFO("lane " << lane << ", n-tile " << n_tile << ", float " << index + half << " -> a" << reg << "."
                       << half);
          REQUIRE(a.row == c.row);
          REQUIRE(a.col == c.col + 8 * n_tile);
        }
      }
    }
    for (int reg = 0; reg < 4; ++reg) REQUIRE(a_registers_used[lane][reg] == 1);
  }
  STATIC_REQUIRE(accumulator_to_a_register(1, 2) == 3);
}

TEST_CASE("ldmatrix_a_trans_source delivers the A fragment of a block stored transposed, with .trans",
          "[layout][mma_fragment]") {
  // The tile is stored (k, m): stored[k][m] = A[m][k], the reduction dim along the stored rows
  // (as the A operand dSᵀ of dK = dSᵀ Q is found in a dS tile whose rows are queries). The
  // simulated ldmatrix hands out encode(stored row, stored col), so A(m, k) must arrive as
  // encode(k, m).
  for (int lane = 0; lane < kLanes; ++lane) {
    const Coord source = ldmatrix_a_trans_source(lane);
    INFO("lane " << lane << " points at stored row " << source.row << ", chunk " << source.col);
    REQUIRE((source.row >= 0 && source.row < 16 && (source.col == 0 || source.col == 1)));
  }
  const LdmatrixResult loaded = simulate_ldmatrix_x4([](int lane) { return ldmatrix_a_trans_source(lane); }, true);
  int delivered[16][16] = {};
  for (int lane = 0; lane < kLanes; ++lane) {
    for (int reg = 0; reg < 4; ++reg) {
      for (int half = 0; half < 2; ++half) {
        const Coord want = mma_a_coord(lane, reg, half);  // (m, k) of A
        const int got = loaded[lane][reg][half];
        INFO("lane " << lane << ", a" << reg << "." << half << ": got stored (" << decode_row(got) << ", "
                     << decode_col(got) << ") = A(" << decode_col(got) << ", " << decode_row(got) << "), want A("
                     << want.row << ", " << want.col << ") = stored (" << want.col << ", " << want.row << ")");
        REQUIRE(got == encode(want.col, want.row));
        ++delivered[decode_row(got)][decode_col(got)];
      }
    }
  }
  // Every stored element reaches exactly one (lane, register, half).
  for (int k = 0; k < 16; ++k)
    for (int m = 0; m < 16; ++m) {
      INFO("stored (" << k << ", " << m << ")");
      REQUIRE(delivered[k][m] == 1);
    }
}
