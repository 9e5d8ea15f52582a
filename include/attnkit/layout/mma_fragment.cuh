#pragma once
// Ownership maps of the warp-level mma.sync.m16n8k16 operands (16-bit A and B, fp32 C/D),
// and of the ldmatrix.x4 loads that fill them. Device code calls these; it never re-derives
// `lane / 4` inline. Each map is tested exhaustively on the host (test/host/layout_mma_fragment.cpp).
//
// Notation: g = lane / 4 (the "group", 0..7), t = lane % 4 (the thread in the group, 0..3).
// A register holds two 16-bit elements; `half` 0 is the low 16 bits.
//
//  A (16 × 16, row-major), 4 registers:      B (16 × 8, k × n), 2 registers:
//        cols 0..7      cols 8..15                     n = g
//  rows   a0: (g, 2t+h)  a2: (g, 2t+8+h)        k 0..7   b0: (2t+h, g)
//  0..7                                          k 8..15  b1: (2t+8+h, g)
//  rows   a1: (g+8, 2t+h) a3: (g+8, 2t+8+h)
//  8..15
//
//  C / D (16 × 8 fp32), 4 floats:  c0, c1 = (g, 2t), (g, 2t+1);  c2, c3 = (g+8, 2t), (g+8, 2t+1)
//
// So the four lanes of a group share a row, and a C tile pair covering columns 0..15 holds
// exactly the elements an A fragment needs: P = softmax(S) feeds the next mma from registers.

#include "../core/config.cuh"

namespace attnkit::layout {

struct Coord {
  int row;
  int col;
};

ATTNKIT_HOST_DEVICE constexpr int lane_group(int lane) { return lane / 4; }
ATTNKIT_HOST_DEVICE constexpr int lane_in_group(int lane) { return lane % 4; }

// Element `half` of A register `reg` (0..3) of `lane`.
ATTNKIT_HOST_DEVICE constexpr Coord mma_a_coord(int lane, int reg, int half) {
  return {lane_group(lane) + (reg % 2) * 8, lane_in_group(lane) * 2 + (reg / 2) * 8 + half};
}

// Element `half` of B register `reg` (0..1) of `lane`, as (k, n).
ATTNKIT_HOST_DEVICE constexpr Coord mma_b_coord(int lane, int reg, int half) {
  return {lane_in_group(lane) * 2 + reg * 8 + half, lane_group(lane)};
}

// Accumulator float `index` (0..3) of `lane`.
ATTNKIT_HOST_DEVICE constexpr Coord mma_c_coord(int lane, int index) {
  return {lane_group(lane) + (index / 2) * 8, lane_in_group(lane) * 2 + index % 2};
}

// The A register that holds accumulator floats (index, index+1) of C tile `n_tile` (0: columns
// 0..7, 1: columns 8..15) when two C tiles are reused as one 16 × 16 A operand.
ATTNKIT_HOST_DEVICE constexpr int accumulator_to_a_register(int n_tile, int index) {
  return n_tile * 2 + index / 2;
}

// --- ldmatrix.x4 ---------------------------------------------------------------------------
// ldmatrix.x4 loads four 8 × 8 matrices; lanes 8i..8i+7 give the row addresses of matrix i, and
// register i of every lane receives matrix i. Without .trans lane gets (row g, cols 2t, 2t+1);
// with .trans it gets (rows 2t, 2t+1, col g). The maps below say which tile row and which
// 16-byte chunk (of 8 columns) each lane must point at, relative to a 16 × 16 block.

// A operand of a 16 × 16 block of a row-major tile (Q): matrices (rows 0-7 | 8-15) × (cols 0-7 | 8-15)
// in register order a0..a3.
ATTNKIT_HOST_DEVICE constexpr Coord ldmatrix_a_source(int lane) {
  return {(lane / 8) % 2 * 8 + lane % 8, lane / 16};
}

// B operands of two adjacent n-tiles from a tile stored n-major (K: rows = keys = n, cols =
// head dim = k), no transpose: registers {b0, b1} of n-tile 0, then {b0, b1} of n-tile 1.
ATTNKIT_HOST_DEVICE constexpr Coord ldmatrix_b_source(int lane) {
  return {lane / 16 * 8 + lane % 8, (lane / 8) % 2};
}

// B operands of two adjacent n-tiles from a tile stored k-major (V: rows = keys = k, cols =
// head dim = n), with .trans: registers {b0, b1} of n-tile 0, then {b0, b1} of n-tile 1.
ATTNKIT_HOST_DEVICE constexpr Coord ldmatrix_b_trans_source(int lane) {
  return {(lane / 8) % 2 * 8 + lane % 8, lane / 16};
}

// A operand of a 16 × 16 block from a tile stored transposed (rows = the reduction dim k,
// cols = m; dS stored as dSᵀ), with .trans: matrix i covers A rows (i % 2)·8.., k (i / 2)·8.., so
// lane L points at stored row (L / 16)·8 + L % 8 (k) and chunk (L / 8) % 2 (m).
ATTNKIT_HOST_DEVICE constexpr Coord ldmatrix_a_trans_source(int lane) {
  return {lane / 16 * 8 + lane % 8, (lane / 8) % 2};
}

}  // namespace attnkit::layout
