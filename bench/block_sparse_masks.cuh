#pragma once
// What the block-sparse benchmarks share: the shape FlexAttention is usually compared on
// (batch 2, 16 heads, 8192 tokens, head dim 128, bf16) and the 128 × 128 block masks timed on it.

#include <algorithm>
#include <functional>
#include <random>
#include <vector>

#include "attnkit/mask/block_mask.cuh"
#include "attnkit/mask/variant.cuh"
#include "harness.cuh"

namespace attnkit::bench {

inline constexpr int kBatch = 2, kHeads = 16, kSeqlen = 8192, kHeadDim = 128;

inline GridPoint sparse_point() { return GridPoint{kSeqlen, kHeadDim, kBatch, kHeads, false}; }

// Blocks of 128 keys with kept key blocks j == i or j % 8 == 0 for query block i: block-aligned,
// so every kept block is full and the element test never runs.
struct BlockLocalGlobal : VariantBase {
  static constexpr bool has_mask_mod = true;
  ATTNKIT_HOST_DEVICE bool mask_mod(int, int, int q, int k) const { return q / 128 == k / 128 || (k / 128) % 8 == 0; }
  ATTNKIT_HOST_DEVICE TileClass classify(int, int, TileBounds t) const {
    const int i = t.q_begin / 128, j = t.k_begin / 128;
    return i == j || j % 8 == 0 ? TileClass::full : TileClass::skip;
  }
};

// `fraction` of every query block's key blocks, the same count per row (so every CTA has the
// same work), drawn per (head, query block); all full.
inline HostBlockMask random_mask(double fraction, int heads, int seqlen) {
  const int blocks = (seqlen + kDefaultMaskBlock - 1) / kDefaultMaskBlock;
  const int kept = std::max(1, static_cast<int>(fraction * blocks + 0.5));
  std::vector<char> table(std::size_t(heads) * blocks * blocks, 0);
  std::mt19937 rng(1234);
  std::vector<int> order(blocks);
  for (int h = 0; h < heads; ++h)
    for (int i = 0; i < blocks; ++i) {
      for (int j = 0; j < blocks; ++j) order[j] = j;
      std::shuffle(order.begin(), order.end(), rng);
      for (int j = 0; j < kept; ++j) table[(std::size_t(h) * blocks + i) * blocks + order[j]] = 1;
    }
  return build_block_mask_host(1, heads, seqlen, seqlen, [&](int, int h, TileBounds t) {
    const int i = t.q_begin / kDefaultMaskBlock, j = t.k_begin / kDefaultMaskBlock;
    return table[(std::size_t(h) * blocks + i) * blocks + j] ? TileClass::full : TileClass::skip;
  });
}

template <class Pattern>
std::function<HostBlockMask()> pattern_mask(const Pattern& pattern) {
  return [pattern] {
    return build_block_mask_host(1, 1, kSeqlen, kSeqlen, [&](int b, int h, TileBounds t) { return pattern.classify(b, h, t); });
  };
}

inline std::function<HostBlockMask()> all_full_mask() {
  return [] { return build_block_mask_host(1, 1, kSeqlen, kSeqlen, [](int, int, TileBounds) { return TileClass::full; }); };
}

inline const double kDensities[] = {0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0};

}  // namespace attnkit::bench
