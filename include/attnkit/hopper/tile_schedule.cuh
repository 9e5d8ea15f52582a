#pragma once
// Which (query block, head, batch) tiles a persistent CTA computes, and in what order.
//
// The grid has at most one CTA per SM; each walks its tiles one after the other, so its
// producer loads the next tile's Q and first K/V blocks while the consumers still finish the
// current one (no CTA start-up between tiles). The schedule is static:
//
//   slot s = 0, 1, ...      (query-block pair p, head, batch), p fastest, so the CTAs working at
//                            the same time share a few heads' K and V in L2;
//   the slot's tiles        query block M−1−p, then block p (M query blocks; one tile when the
//                            two are the same block);
//   CTA c                   slots c, c + G, c + 2G, ... (G CTAs).
//
// Pairing the p-th longest with the p-th shortest query block gives every slot the same work
// under a causal mask (its key-block counts grow linearly with the query block), so a static
// round robin stays balanced where taking tiles in order would give some CTAs only long ones.

#include "../core/config.cuh"
#include "../core/math.cuh"

namespace attnkit::hopper {

struct TileCoord {
  int m_block;  // query block (kBlockM rows)
  int head;
  int batch;
};

struct TileSchedule {
  int m_blocks;  // query blocks of the longest sequence
  int heads;
  int batches;

  ATTNKIT_HOST_DEVICE int pairs() const { return (m_blocks + 1) / 2; }
  ATTNKIT_HOST_DEVICE int slots() const { return pairs() * heads * batches; }

  // Tile `half` (0: the long one, 1: the short one) of slot `slot`; false when the slot has
  // only one tile.
  ATTNKIT_HOST_DEVICE bool tile(int slot, int half, TileCoord& coord) const {
    const int pair = slot % pairs();
    const int head_batch = slot / pairs();
    coord.m_block = half == 0 ? m_blocks - 1 - pair : pair;
    coord.head = head_batch % heads;
    coord.batch = head_batch / heads;
    return half == 0 || pair != m_blocks - 1 - pair;
  }
};

}  // namespace attnkit::hopper
