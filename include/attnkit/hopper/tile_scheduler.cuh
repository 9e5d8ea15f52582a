#pragma once
// Which (query block, head, batch) tiles a CTA of the Hopper forward computes.
//
//   OneTilePerCta  the grid is (query blocks, heads, batch): one tile per CTA, the longest
//                  query blocks (the most keys under a causal mask) launched first.
//   Persistent     the grid is one CTA per SM; CTA i takes tiles i, i + gridDim.x, ... of the
//                  same longest-first order. Its producer loads the next tile's Q, K and V while
//                  the consumers finish the current one, which hides the per-tile start-up that
//                  dominates short sequences.
// Both hand out tiles as a linear index; tile() turns it into coordinates.

#include "../core/config.cuh"

namespace attnkit::hopper {

struct TileCoord {
  int m_block;
  int head;
  int batch;
};

struct TileGrid {
  int m_blocks;
  int heads;
  int batch;

  ATTNKIT_HOST_DEVICE constexpr int count() const { return m_blocks * heads * batch; }
  // Longest first: every (head, batch) of the last query block, then of the one before, ...
  ATTNKIT_HOST_DEVICE constexpr TileCoord tile(int index) const {
    const int per_block = heads * batch;
    return {m_blocks - 1 - index / per_block, (index % per_block) % heads, (index % per_block) / heads};
  }
};

enum class TileSchedule { one_tile_per_cta, persistent };

}  // namespace attnkit::hopper
