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
#include "../core/fast_divisor.cuh"
#include "../core/math.cuh"

namespace attnkit::hopper {

struct TileCoord {
  int m_block;  // query block (kBlockM rows)
  int head;     // query head
  int head_kv;  // the K/V head it reads (GQA: heads_q / heads_kv query heads share one)
  int batch;
};

// The slot-to-tile arithmetic runs once per tile on every warpgroup's serial path, so its
// divisions by the launch's shape are FastDivisors (core/fast_divisor.cuh).
class TileSchedule {
 public:
  TileSchedule(int m_blocks, int heads_q, int heads_kv, int batches)
      : m_blocks_(m_blocks),
        batches_(batches),
        pairs_((m_blocks + 1) / 2),
        heads_q_(heads_q),
        group_(heads_q / heads_kv) {}

  ATTNKIT_HOST_DEVICE int pairs() const { return pairs_.divisor(); }
  ATTNKIT_HOST_DEVICE int slots() const { return pairs() * heads_q_.divisor() * batches_; }

  // Tile `half` (0: the long one, 1: the short one) of slot `slot`; false when the slot has
  // only one tile.
  ATTNKIT_HOST_DEVICE ATTNKIT_FORCEINLINE bool tile(int slot, int half, TileCoord& coord) const {
    const int head_batch = pairs_.quotient(slot);
    const int pair = pairs_.remainder(slot, head_batch);
    coord.m_block = half == 0 ? m_blocks_ - 1 - pair : pair;
    coord.batch = heads_q_.quotient(head_batch);
    coord.head = heads_q_.remainder(head_batch, coord.batch);
    coord.head_kv = group_.quotient(coord.head);
    return half == 0 || pair != m_blocks_ - 1 - pair;
  }

 private:
  int m_blocks_;  // query blocks of the longest sequence
  int batches_;
  FastDivisor pairs_;    // query-block pairs per (head, batch)
  FastDivisor heads_q_;  // query heads
  FastDivisor group_;    // query heads per K/V head
};

}  // namespace attnkit::hopper
