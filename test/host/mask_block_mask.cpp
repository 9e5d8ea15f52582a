// Tests of mask/mask_patterns.cuh and mask/block_mask.cuh: every pattern's tile classification
// against brute force over the tile's pairs (sound always: skip keeps nothing, full keeps all;
// exact where the header says so), on random tiles of random sizes, alignments and tiles
// hanging over the sequence end; and the host builder's lists (sorted, full and partial as
// classified, the transposed lists the transpose of the forward ones, broadcast entries).

#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <random>
#include <vector>

#include "attnkit/mask/block_mask.cuh"
#include "attnkit/mask/mask_patterns.cuh"

using namespace attnkit;

namespace {

// Documents of random lengths covering `length` tokens.
std::vector<int> random_documents(int length, std::mt19937& rng) {
  std::vector<int> ids(length);
  int id = 0;
  for (int i = 0; i < length; ++i) {
    if (i > 0 && rng() % 23 == 0) ++id;
    ids[i] = id;
  }
  return ids;
}

// Classifies `tile` against brute force over its pairs inside the sequence (pairs past the
// sequence count as dropped, as the kernels' padding test does).
template <class Pattern>
void check_tile(const Pattern& pattern, TileBounds tile, int seqlen_q, int seqlen_k, bool exact) {
  bool any_kept = false, any_dropped = false;
  for (int q = tile.q_begin; q < tile.q_end; ++q)
    for (int k = tile.k_begin; k < tile.k_end; ++k) {
      const bool kept = q < seqlen_q && k < seqlen_k && pattern.mask_mod(0, 0, q, k);
      (kept ? any_kept : any_dropped) = true;
    }
  const TileClass c = pattern.classify(0, 0, tile);
  INFO("tile q [" << tile.q_begin << ", " << tile.q_end << ") k [" << tile.k_begin << ", " << tile.k_end
                  << "), kept " << any_kept << ", dropped " << any_dropped << ", class " << int(c));
  if (c == TileClass::skip) CHECK_FALSE(any_kept);
  // Full on a tile hanging over the end is allowed: the band's padding test still drops those.
  const bool inside = tile.q_end <= seqlen_q && tile.k_end <= seqlen_k;
  if (c == TileClass::full && inside) CHECK_FALSE(any_dropped);
  if (exact && inside && c == TileClass::partial) CHECK((any_kept && any_dropped));
}

template <class MakePattern>
void check_pattern(MakePattern&& make, bool exact, int seed) {
  std::mt19937 rng(seed);
  for (int trial = 0; trial < 3000; ++trial) {
    const int seqlen_q = 1 + int(rng() % 300), seqlen_k = 1 + int(rng() % 300);
    const auto pattern = make(rng, seqlen_q, seqlen_k);
    const int rows = 1 + int(rng() % 70), cols = 1 + int(rng() % 70);
    const int q_begin = int(rng() % seqlen_q), k_begin = int(rng() % seqlen_k);
    // Tiles may hang over the end, as a kernel's last tile does.
    check_tile(pattern, {q_begin, q_begin + rows, k_begin, k_begin + cols}, seqlen_q, seqlen_k, exact);
  }
}

}  // namespace

TEST_CASE("causal and sliding-window patterns classify tiles exactly", "[mask][patterns]") {
  check_pattern([](std::mt19937&, int s_q, int s_k) { return CausalPattern{{}, s_k - s_q}; }, true, 1);
  check_pattern([](std::mt19937& rng, int s_q, int s_k) { return SlidingWindowPattern{{}, int(rng() % 90), s_k - s_q}; },
                true, 2);
}

TEST_CASE("local + global and strided patterns classify tiles soundly", "[mask][patterns]") {
  check_pattern([](std::mt19937& rng, int s_q, int s_k) {
    return LocalGlobalPattern{{}, int(rng() % 50), int(rng() % 40), s_k - s_q};
  }, true, 3);
  check_pattern([](std::mt19937& rng, int s_q, int s_k) { return StridedPattern{{}, 1 + int(rng() % 40), s_k - s_q}; },
                false, 4);
}

TEST_CASE("document pattern classifies tiles from sorted ids", "[mask][patterns]") {
  std::mt19937 rng(5);
  for (const bool causal : {false, true}) {
    for (int trial = 0; trial < 300; ++trial) {
      const int length = 1 + int(rng() % 300);
      const std::vector<int> ids = random_documents(length, rng);
      const DocumentPattern pattern{{}, ids.data(), length, causal, 0};
      for (int t = 0; t < 20; ++t) {
        const int rows = 1 + int(rng() % 70), cols = 1 + int(rng() % 70);
        const int q_begin = int(rng() % length), k_begin = int(rng() % length);
        check_tile(pattern, {q_begin, q_begin + rows, k_begin, k_begin + cols}, length, length, !causal);
      }
    }
  }
}

TEST_CASE("host block-mask builder: lists as classified, sorted, transposed", "[mask][block_mask]") {
  std::mt19937 rng(6);
  for (int trial = 0; trial < 40; ++trial) {
    const int seqlen_q = 1 + int(rng() % 1200), seqlen_k = 1 + int(rng() % 1200);
    const int block_m = 16 << (rng() % 4), block_n = 16 << (rng() % 4);
    const int batches = 1 + int(rng() % 2), heads = 1 + int(rng() % 3);
    const int window = int(rng() % 400);
    // Per (batch, head) a different window, so broadcast and per-entry lists differ.
    auto classify = [&](int b, int h, TileBounds t) {
      return LocalGlobalPattern{{}, window + 7 * h + 13 * b, 20, seqlen_k - seqlen_q}.classify(b, h, t);
    };
    const HostBlockMask mask = build_block_mask_host(batches, heads, seqlen_q, seqlen_k, classify, block_m, block_n);
    const BlockMaskView view = mask.view();
    INFO("trial " << trial << ": " << seqlen_q << " × " << seqlen_k << ", blocks " << block_m << " × " << block_n);
    REQUIRE(mask.q_blocks == (seqlen_q + block_m - 1) / block_m);
    REQUIRE(mask.kv_blocks == (seqlen_k + block_n - 1) / block_n);
    for (int b = 0; b < batches; ++b)
      for (int h = 0; h < heads; ++h) {
        std::vector<int> cell(std::size_t(mask.q_blocks) * mask.kv_blocks, int(TileClass::skip));
        for (int i = 0; i < mask.q_blocks; ++i) {
          const int64_t row = view.q_row(b, h, i);
          for (const bool full : {true, false}) {
            const int count = (full ? view.full_counts : view.partial_counts)[row];
            const int* indices = (full ? view.full_indices : view.partial_indices) + row * mask.kv_blocks;
            for (int n = 0; n < count; ++n) {
              if (n > 0) CHECK(indices[n - 1] < indices[n]);
              cell[std::size_t(i) * mask.kv_blocks + indices[n]] = int(full ? TileClass::full : TileClass::partial);
            }
          }
        }
        for (int i = 0; i < mask.q_blocks; ++i)
          for (int j = 0; j < mask.kv_blocks; ++j) {
            const TileBounds t{i * block_m, std::min((i + 1) * block_m, seqlen_q), j * block_n,
                               std::min((j + 1) * block_n, seqlen_k)};
            CHECK(cell[std::size_t(i) * mask.kv_blocks + j] == int(classify(b, h, t)));
          }
        // The transposed lists hold exactly the same cells.
        for (int j = 0; j < mask.kv_blocks; ++j) {
          const int64_t row = view.kv_row(b, h, j);
          for (const bool full : {true, false}) {
            const int count = (full ? view.full_q_counts : view.partial_q_counts)[row];
            const int* indices = (full ? view.full_q_indices : view.partial_q_indices) + row * mask.q_blocks;
            int expected = 0;
            for (int i = 0; i < mask.q_blocks; ++i)
              expected += cell[std::size_t(i) * mask.kv_blocks + j] == int(full ? TileClass::full : TileClass::partial);
            CHECK(count == expected);
            for (int n = 0; n < count; ++n) {
              if (n > 0) CHECK(indices[n - 1] < indices[n]);
              CHECK(cell[std::size_t(indices[n]) * mask.kv_blocks + j] ==
                    int(full ? TileClass::full : TileClass::partial));
            }
          }
        }
      }
  }
}

TEST_CASE("a block mask of one entry is shared by every batch and head", "[mask][block_mask]") {
  const HostBlockMask mask =
      build_block_mask_host(1, 1, 1000, 1000, [](int b, int h, TileBounds t) { return CausalPattern{}.classify(b, h, t); });
  const BlockMaskView view = mask.view();
  CHECK(view.q_row(3, 5, 2) == view.q_row(0, 0, 2));
  CHECK(view.kv_row(7, 1, 4) == view.kv_row(0, 0, 4));
  // 8 × 8 blocks of 128, causal: the 8 diagonal blocks partial, the 28 below full.
  CHECK(mask.kept_blocks() == 36);
  int partial = 0;
  for (int count : mask.partial_counts) partial += count;
  CHECK(partial == 8);
}

TEST_CASE("the host builder rejects empty shapes, naming them", "[mask][block_mask]") {
  auto any = [](int, int, TileBounds) { return TileClass::full; };
  CHECK_THROWS_AS(build_block_mask_host(0, 1, 10, 10, any), attnkit::error);
  CHECK_THROWS_AS(build_block_mask_host(1, 1, 0, 10, any), attnkit::error);
  CHECK_THROWS_AS(build_block_mask_host(1, 1, 10, 10, any, 0, 128), attnkit::error);
}
