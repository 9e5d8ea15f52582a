#pragma once
// Index math of the Hopper warpgroup MMA (wgmma) and of the shared-memory tiles it and the
// tensor-memory accelerator (TMA) share. Pure functions, tested exhaustively on the host
// (test/host/layout_wgmma_layout.cpp).
//
// Accumulator of wgmma.m64nNk16 (fp32), 128 threads of a warpgroup, N/2 floats each:
//   warp w = thread / 32 owns rows 16w .. 16w+15; inside its 16 rows the warp holds the
//   columns exactly as mma.sync's m16n8 C fragment does, one 8-column slice after another:
//     float j of lane L:  row = 16w + L/4 + 8·((j/2) % 2),   col = 8·(j/4) + 2·(L%4) + j%2
//   So one warp's share is an AccumulatorTile<1, N/8> (mma/register_tile.cuh) with v[0][j/4][j%4],
//   and the online softmax, masks and the P-to-A-operand conversion of the mma.sync path apply
//   to it unchanged. The A operand from registers (64 × 16) is likewise the m16n8k16 A map per warp.
//
// 128-byte swizzle (TMA CU_TENSOR_MAP_SWIZZLE_128B, wgmma swizzle mode 1): rows of 128 bytes
// (64 16-bit elements); within each 1024-byte group of 8 rows the 16-byte chunk c of row r is
// stored at slot c ^ (r % 8). A tile wider than 64 elements is stored as 64-column panels, one
// after another (panel p at p · rows · 128 bytes). This is layout::SwizzledTile's layout for
// tiles whose width is a multiple of 64 (tested), so the mma.sync blocks can read TMA tiles too.
//
// Shared-memory matrix descriptor (64 bits), as the PTX ISA defines it:
//   bits  0-13  start address >> 4        bits 16-29  leading-dimension byte offset >> 4
//   bits 32-45  stride-dimension byte offset >> 4      bits 62-63  swizzle mode (1 = 128 B)
// For the 128-byte swizzle:
//   K-major operand (the reduction dim contiguous: Q, K as stored): the stride offset is the
//     distance between 8-row groups (1024 B); the leading offset is unused (1 by convention).
//   MN-major operand (V as stored, B of O += P·V, transposed by the instruction): the stride
//     offset is the distance between 8-row groups along K (1024 B), the leading offset the
//     distance between 64-element panels along N (rows · 128 B).
// Stepping k inside a 64-element panel adds k · 2 bytes to the start address.

#include <cstdint>

#include "mma_fragment.cuh"

namespace attnkit::layout {

inline constexpr int kWarpgroupThreads = 128;
inline constexpr int kSwizzle128Bytes = 128;       // one swizzled row
inline constexpr int kSwizzle128AtomBytes = 1024;  // 8 rows: the period of the XOR pattern

// (row, col) of accumulator float `index` (0 .. N/2) of warpgroup thread `thread` (0..127).
ATTNKIT_HOST_DEVICE constexpr Coord wgmma_accumulator_coord(int thread, int index) {
  const int lane = thread % 32;
  const Coord in_slice = mma_c_coord(lane, index % 4);
  return {16 * (thread / 32) + in_slice.row, 8 * (index / 4) + in_slice.col};
}

// Byte offset of byte `byte_in_row` (0..127) of row `row` in a 128-byte-swizzled panel.
ATTNKIT_HOST_DEVICE constexpr int swizzle128_byte_offset(int row, int byte_in_row) {
  return row * kSwizzle128Bytes + (((byte_in_row / 16) ^ (row % 8)) * 16) + byte_in_row % 16;
}

enum class WgmmaSwizzle : uint64_t { none = 0, bytes128 = 1, bytes64 = 2, bytes32 = 3 };

ATTNKIT_HOST_DEVICE constexpr uint64_t wgmma_descriptor(uint32_t shared_address, uint32_t leading_byte_offset,
                                                        uint32_t stride_byte_offset, WgmmaSwizzle swizzle) {
  return (static_cast<uint64_t>((shared_address >> 4) & 0x3FFFu)) |
         (static_cast<uint64_t>((leading_byte_offset >> 4) & 0x3FFFu) << 16) |
         (static_cast<uint64_t>((stride_byte_offset >> 4) & 0x3FFFu) << 32) |
         (static_cast<uint64_t>(swizzle) << 62);
}

// Descriptor of a K-major 128B-swizzled operand starting at `shared_address` (row 0, k 0 of the
// instruction's slice).
ATTNKIT_HOST_DEVICE constexpr uint64_t kmajor_swizzle128_descriptor(uint32_t shared_address) {
  return wgmma_descriptor(shared_address, 16, kSwizzle128AtomBytes, WgmmaSwizzle::bytes128);
}

// Descriptor of an MN-major 128B-swizzled operand whose 64-element panels along N lie
// `panel_bytes` apart.
ATTNKIT_HOST_DEVICE constexpr uint64_t mnmajor_swizzle128_descriptor(uint32_t shared_address, uint32_t panel_bytes) {
  return wgmma_descriptor(shared_address, panel_bytes, kSwizzle128AtomBytes, WgmmaSwizzle::bytes128);
}

}  // namespace attnkit::layout
