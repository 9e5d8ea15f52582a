#pragma once
// Role: the Hopper backward's tile. A CTA owns one 128-key block of one KV head of one batch
// entry (grid: key block, KV head, batch) and walks the query blocks of every query head of
// the KV head's group that see it (attention/query_block_walk.cuh); producer and consumers walk
// the same steps in the same order.
//
//   const BackwardTile<Config> tile(problem);        // false `valid()`: nothing to do
//   const auto walk = tile.walk(query_blocks, band); // the steps
//   tile.head(walk, position), tile.q_begin(walk, position)

#include "../attention/query_block_walk.cuh"
#include "../attention/sequence.cuh"
#include "../core/config.cuh"
#include "../mask/band.cuh"

namespace attnkit::hopper {

template <class Config>
struct BackwardTile {
  int n_block, head_kv, batch;
  SequenceSpan span;
  int k_begin;  // the block's first key
  int group;    // query heads per KV head

  ATTNKIT_DEVICE explicit BackwardTile(const AttentionProblem& problem)
      : n_block(blockIdx.x),
        head_kv(blockIdx.y),
        batch(blockIdx.z),
        span(locate_sequence(problem, blockIdx.z)),
        k_begin(blockIdx.x * Config::kBlockN),
        group(problem.heads_q / problem.heads_kv) {}

  // False when the block lies past its entry's keys (varlen: an entry shorter than the longest).
  ATTNKIT_DEVICE bool valid() const { return k_begin < span.seqlen_k; }

  template <class QueryBlocks>
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE auto walk(const QueryBlocks& query_blocks, const BandMask& band) const {
    return query_blocks.template walk<Config::kBlockM, Config::kBlockN, false>(band, batch, head_kv, group, n_block,
                                                                               span.seqlen_q, span.seqlen_k);
  }
  // The query head and first query row of the step at `position`.
  template <class Walk>
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE int head(const Walk& walk, const typename Walk::Position& position) const {
    return head_kv * group + walk.head_offset(position);
  }
  template <class Walk>
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE int q_begin(const Walk& walk, const typename Walk::Position& position) const {
    return walk.block(position) * Config::kBlockM;
  }
};

}  // namespace attnkit::hopper
