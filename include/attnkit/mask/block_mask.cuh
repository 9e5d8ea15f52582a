#pragma once
// Block-sparse masks: for every (batch, head, query block) the key blocks an attention visits,
// in two ascending lists, *full* blocks (every pair kept: computed with no element test) and
// *partial* ones (the variant's mask_mod applied per element), plus the transposed lists (for
// every key block the query blocks that visit it) the backward walks. Blocks not listed are
// skipped: an attention over a block mask costs in proportion to the blocks kept.
//
// Blocks are block_m × block_n (128 × 128 by default; any multiple of the kernel's tile).
// Layout, row-major with the last dimension contiguous:
//   full_counts, partial_counts        [mask batch][mask heads][q_blocks]
//   full_indices, partial_indices      [mask batch][mask heads][q_blocks][kv_blocks]
//   full_q_counts, partial_q_counts    [mask batch][mask heads][kv_blocks]
//   full_q_indices, partial_q_indices  [mask batch][mask heads][kv_blocks][q_blocks]
// with only the first `count` entries of an index row meaningful. A mask built with one batch
// entry or one head is shared by all of them (broadcast): BlockMaskView::entry maps (batch,
// head) to its lists.
//
// BlockMaskView is what kernels take (device pointers); HostBlockMask holds the lists on the
// host (the builder for tests and small problems, and the reference the GPU builders are
// checked against).

#include <algorithm>
#include <cstdint>
#include <vector>

#include "../core/config.cuh"
#include "../core/error.cuh"
#include "tile_class.cuh"

namespace attnkit {

inline constexpr int kDefaultMaskBlock = 128;

struct BlockMaskView {
  int block_m = kDefaultMaskBlock, block_n = kDefaultMaskBlock;
  int q_blocks = 0, kv_blocks = 0;
  int batches = 1, heads = 1;  // of the mask: 1 broadcasts over that dimension
  const int* full_counts = nullptr;
  const int* full_indices = nullptr;
  const int* partial_counts = nullptr;
  const int* partial_indices = nullptr;
  const int* full_q_counts = nullptr;
  const int* full_q_indices = nullptr;
  const int* partial_q_counts = nullptr;
  const int* partial_q_indices = nullptr;

  // The mask's (batch, head) entry serving attention (batch, head).
  ATTNKIT_HOST_DEVICE int64_t entry(int batch, int head) const {
    return int64_t(batches == 1 ? 0 : batch) * heads + (heads == 1 ? 0 : head);
  }
  // Forward lists of query block `q_block`: counts at [row], indices from [row · kv_blocks].
  ATTNKIT_HOST_DEVICE int64_t q_row(int batch, int head, int q_block) const {
    return entry(batch, head) * q_blocks + q_block;
  }
  // Transposed lists of key block `kv_block`: counts at [row], indices from [row · q_blocks].
  ATTNKIT_HOST_DEVICE int64_t kv_row(int batch, int head, int kv_block) const {
    return entry(batch, head) * kv_blocks + kv_block;
  }
};

// The lists of BlockMaskView on the host.
struct HostBlockMask {
  int block_m = kDefaultMaskBlock, block_n = kDefaultMaskBlock;
  int q_blocks = 0, kv_blocks = 0;
  int batches = 1, heads = 1;
  std::vector<int> full_counts, full_indices, partial_counts, partial_indices;
  std::vector<int> full_q_counts, full_q_indices, partial_q_counts, partial_q_indices;

  // The view over these host vectors (host tests; kernels need device copies).
  BlockMaskView view() const {
    return {block_m, block_n, q_blocks, kv_blocks, batches, heads,
            full_counts.data(), full_indices.data(), partial_counts.data(), partial_indices.data(),
            full_q_counts.data(), full_q_indices.data(), partial_q_counts.data(), partial_q_indices.data()};
  }
  // Blocks kept (full + partial) over all entries, and that over the blocks there are.
  std::int64_t kept_blocks() const {
    std::int64_t kept = 0;
    for (std::size_t i = 0; i < full_counts.size(); ++i) kept += full_counts[i] + partial_counts[i];
    return kept;
  }
  double density() const {
    return double(kept_blocks()) / (double(batches) * heads * double(q_blocks) * kv_blocks);
  }
};

// Builds the lists on the host from `classify(batch, head, TileBounds) -> TileClass` evaluated
// on every block of a seqlen_q × seqlen_k score matrix (blocks at the ends are cut to the
// sequence), for `batches` × `heads` mask entries (1 to broadcast). A pattern of
// mask/mask_patterns.cuh, or any variant's classify, fits.
template <class Classify>
HostBlockMask build_block_mask_host(int batches, int heads, int seqlen_q, int seqlen_k, Classify&& classify,
                                    int block_m = kDefaultMaskBlock, int block_n = kDefaultMaskBlock) {
  require(batches > 0 && heads > 0, "block mask batches = ", batches, " and heads = ", heads, " must be positive");
  require(seqlen_q > 0 && seqlen_k > 0, "block mask seqlen_q = ", seqlen_q, " and seqlen_k = ", seqlen_k,
          " must be positive");
  require(block_m > 0 && block_n > 0, "block mask blocks ", block_m, " × ", block_n, " must be positive");
  HostBlockMask mask;
  mask.block_m = block_m;
  mask.block_n = block_n;
  mask.q_blocks = (seqlen_q + block_m - 1) / block_m;
  mask.kv_blocks = (seqlen_k + block_n - 1) / block_n;
  mask.batches = batches;
  mask.heads = heads;
  const std::size_t entries = std::size_t(batches) * heads;
  const std::size_t q_rows = entries * mask.q_blocks, kv_rows = entries * mask.kv_blocks;
  const std::size_t cells = entries * mask.q_blocks * mask.kv_blocks;
  mask.full_counts.assign(q_rows, 0);
  mask.partial_counts.assign(q_rows, 0);
  mask.full_indices.assign(cells, 0);
  mask.partial_indices.assign(cells, 0);
  mask.full_q_counts.assign(kv_rows, 0);
  mask.partial_q_counts.assign(kv_rows, 0);
  mask.full_q_indices.assign(cells, 0);
  mask.partial_q_indices.assign(cells, 0);
  const BlockMaskView view = mask.view();
  for (int b = 0; b < batches; ++b)
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < mask.q_blocks; ++i)  // ascending i and j: every list comes out sorted
        for (int j = 0; j < mask.kv_blocks; ++j) {
          const TileBounds tile{i * block_m, std::min((i + 1) * block_m, seqlen_q), j * block_n,
                                std::min((j + 1) * block_n, seqlen_k)};
          const TileClass c = classify(b, h, tile);
          if (c == TileClass::skip) continue;
          const bool full = c == TileClass::full;
          const int64_t q_row = view.q_row(b, h, i), kv_row = view.kv_row(b, h, j);
          int& count = (full ? mask.full_counts : mask.partial_counts)[q_row];
          (full ? mask.full_indices : mask.partial_indices)[q_row * mask.kv_blocks + count++] = j;
          int& q_count = (full ? mask.full_q_counts : mask.partial_q_counts)[kv_row];
          (full ? mask.full_q_indices : mask.partial_q_indices)[kv_row * mask.q_blocks + q_count++] = i;
        }
  return mask;
}

}  // namespace attnkit
