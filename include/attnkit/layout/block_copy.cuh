#pragma once
// Ownership map of a copy in blocks of 8 rows × 4 chunks (a chunk is 16 bytes, 8 elements),
// one block per warp instruction (tile/warp_global_to_shared.cuh): lane L copies row L % 8,
// chunk L / 8 of the block.
//
//            chunk 0   chunk 1   chunk 2   chunk 3
//   row 0    lane 0    lane 8    lane 16   lane 24
//   row 1    lane 1    lane 9    lane 17   lane 25
//   ...
//   row 7    lane 7    lane 15   lane 23   lane 31
//
// In a SwizzledTile, moving from a lane's chunk in its first block to the same chunk of any
// other block is SwizzledTile::step(offset, 8·row_blocks, 4·chunk_blocks): the row step keeps
// the lane's swizzle term, and a chunk step that is a multiple of 4 never carries into the
// lane's chunk bits (below 4), so the XOR step() applies is the addition it stands for.
// test/host/layout_block_copy.cpp checks that against SwizzledTile::chunk_offset for every
// tile shape the kernels use, and that each quarter-warp's 16-byte writes hit 8 different
// 16-byte bank groups.

#include "../core/config.cuh"
#include "mma_fragment.cuh"

namespace attnkit::layout {

inline constexpr int kBlockCopyRows = 8;
inline constexpr int kBlockCopyChunks = 4;

// (row, chunk) within a block that `lane` copies.
ATTNKIT_HOST_DEVICE constexpr Coord block_copy_source(int lane) { return {lane % 8, lane / 8}; }

}  // namespace attnkit::layout
