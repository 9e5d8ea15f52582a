#pragma once
// Host-side check that a block mask (mask/block_mask.cuh) fits a problem and a kernel's tiles,
// shared by the block-sparse launchers: every failure throws attnkit::error naming the value.

#include "../core/error.cuh"
#include "../core/math.cuh"
#include "../mask/block_mask.cuh"
#include "problem.cuh"

namespace attnkit {

// The lists a launcher reads: the forward walks each query block's key blocks; the backward
// walks each key block's query blocks (the transposed lists) and, for the deterministic dQ,
// counts turns in the forward ones.
enum class BlockMaskLists { forward, forward_and_transposed };

// The mask's blocks must be whole kernel blocks (block_m a multiple of kernel_block_m, block_n
// of kernel_block_n), cover the problem's sequences (the longest, with varlen), and broadcast
// or match its batch and query heads; the lists `needed` must be set.
inline void validate_block_mask(const AttentionProblem& problem, const BlockMaskView& mask, int kernel_block_m,
                                int kernel_block_n, BlockMaskLists needed = BlockMaskLists::forward) {
  require(mask.block_m > 0 && mask.block_m % kernel_block_m == 0, "block mask block_m = ", mask.block_m,
          " is not a multiple of the kernel's ", kernel_block_m, " query rows");
  require(mask.block_n > 0 && mask.block_n % kernel_block_n == 0, "block mask block_n = ", mask.block_n,
          " is not a multiple of the kernel's ", kernel_block_n, " keys");
  require(mask.q_blocks == ceil_div(problem.seqlen_q, mask.block_m) &&
              mask.kv_blocks == ceil_div(problem.seqlen_k, mask.block_n),
          "block mask of ", mask.q_blocks, " × ", mask.kv_blocks, " blocks does not cover seqlen_q = ", problem.seqlen_q,
          ", seqlen_k = ", problem.seqlen_k, " in ", mask.block_m, " × ", mask.block_n, " blocks");
  require(mask.batches == 1 || mask.batches == problem.batch, "block mask batches = ", mask.batches,
          " must be 1 (shared) or the problem's batch = ", problem.batch);
  require(mask.heads == 1 || mask.heads == problem.heads_q, "block mask heads = ", mask.heads,
          " must be 1 (shared) or the problem's heads_q = ", problem.heads_q);
  require(mask.full_counts != nullptr && mask.full_indices != nullptr && mask.partial_counts != nullptr &&
              mask.partial_indices != nullptr,
          "block mask lists are null");
  if (needed == BlockMaskLists::forward_and_transposed) {
    require(mask.full_q_counts != nullptr && mask.full_q_indices != nullptr && mask.partial_q_counts != nullptr &&
                mask.partial_q_indices != nullptr,
            "block mask transposed lists (per key block) are null: the backward walks them");
  }
}

}  // namespace attnkit
