// The block-sparse FA1 forward (fa1::forward_block_sparse, Algorithm 5 of the 2022 paper):
// its schedule against brute force on the host, and its refusals; at head dim 64, the shared
// block-sparse matrix (16 × 128 kernel blocks under 128 × 128 mask blocks) and FA1's own cases
// with the default kernel (16 × 320 blocks), fp16 and bf16 (fa1_forward_block_sparse_cases.cuh).
// Head dim 128 is in fa1_forward_block_sparse_d128.cu.

#include <algorithm>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

#include <catch2/matchers/catch_matchers_string.hpp>

#include "attnkit/fa1/block_mask_schedule.cuh"
#include "attnkit/mask/attention_mask.cuh"
#include "fa1_forward_block_sparse_cases.cuh"

namespace {

using namespace attnkit;
using namespace attnkit::testing;

using StepKey = std::tuple<int, int, TileClass>;  // (kv_block, q_block, class)

// The class the mask's forward lists give block (q_block, kv_block) of entry (b, h).
TileClass listed_class(const HostBlockMask& host, int b, int h, int mask_q_block, int mask_kv_block) {
  const int64_t row = host.view().q_row(b, h, mask_q_block);
  const auto listed = [&](const std::vector<int>& counts, const std::vector<int>& indices) {
    const int* first = indices.data() + row * host.kv_blocks;
    return std::find(first, first + counts[row], mask_kv_block) != first + counts[row];
  };
  if (listed(host.full_counts, host.full_indices)) return TileClass::full;
  if (listed(host.partial_counts, host.partial_indices)) return TileClass::partial;
  return TileClass::skip;
}

// Every (batch, head) of a mask built from `pattern`: the schedule's steps must be exactly the
// kernel tiles whose mask block is listed and that the band does not skip, each once, K/V blocks
// ascending, with the listed class cut by the band's; every kept pair must lie in a visited
// tile, and a tile visited as full must keep all its pairs.
template <int BlockM, int BlockN, class Pattern>
void check_block_mask_schedule(const Pattern& pattern, const BandMask& band, int batches, int heads, int seqlen_q,
                               int seqlen_k, int mask_block_m, int mask_block_n) {
  INFO("kernel blocks " << BlockM << " × " << BlockN << ", mask blocks " << mask_block_m << " × " << mask_block_n
                        << ", s_q = " << seqlen_q << ", s_k = " << seqlen_k << ", band (" << band.left << ", "
                        << band.right << ", " << (band.alignment == MaskAlignment::top_left ? "top_left" : "bottom_right")
                        << "), entries " << batches << " × " << heads);
  const HostBlockMask host = build_block_mask_host(
      batches, heads, seqlen_q, seqlen_k, [&](int b, int h, TileBounds t) { return pattern.classify(b, h, t); },
      mask_block_m, mask_block_n);
  const int q_blocks = ceil_div(seqlen_q, BlockM), kv_blocks = ceil_div(seqlen_k, BlockN);
  const int q_split = mask_block_m / BlockM, kv_split = mask_block_n / BlockN;
  for (int b = 0; b < batches; ++b)
    for (int h = 0; h < heads; ++h) {
      INFO("entry (" << b << ", " << h << ")");
      std::set<StepKey> expected;
      for (int j = 0; j < kv_blocks; ++j)
        for (int i = 0; i < q_blocks; ++i) {
          const TileBounds tile{i * BlockM, (i + 1) * BlockM, j * BlockN, (j + 1) * BlockN};
          const TileClass by_mask = listed_class(host, b, h, i / q_split, j / kv_split);
          const TileClass by_band = band.classify(tile, seqlen_q, seqlen_k);
          const TileClass tile_class = by_mask == TileClass::full ? by_band : intersect(by_mask, by_band);
          bool any_kept = false, all_kept = true;
          for (int q = tile.q_begin; q < std::min(tile.q_end, seqlen_q); ++q)
            for (int k = tile.k_begin; k < tile.k_end; ++k) {
              const bool kept = keep_element(band, pattern, b, h, q, k, seqlen_q, seqlen_k);
              any_kept = any_kept || kept;
              all_kept = all_kept && kept;
            }
          INFO("tile (" << i << ", " << j << ")");
          if (any_kept) REQUIRE(tile_class != TileClass::skip);
          if (tile_class == TileClass::full) REQUIRE(all_kept);
          if (tile_class != TileClass::skip) expected.insert({j, i, tile_class});
        }

      const fa1::BlockMaskQueryBlocks walk{host.view()};
      const auto schedule = walk.schedule<BlockM, BlockN>(band, pattern, b, h, seqlen_q, seqlen_k);
      std::set<StepKey> visited;
      int last_kv_block = -1;
      fa1::BlockMaskStep step{};
      for (bool more = schedule.first(step); more; more = schedule.next(step)) {
        INFO("step (" << step.q_block << ", " << step.kv_block << ")");
        REQUIRE(step.kv_block >= last_kv_block);
        last_kv_block = step.kv_block;
        REQUIRE(visited.insert({step.kv_block, step.q_block, step.tile_class}).second);
        REQUIRE(visited.size() <= expected.size());
      }
      CHECK(visited == expected);
    }
}

}  // namespace

TEST_CASE("fa1 block-mask schedule visits exactly the listed tiles the band keeps", "[fa1][block_sparse][schedule]") {
  const std::pair<int, int> seqlens[] = {{1, 1}, {1, 300}, {100, 300}, {300, 100}, {257, 129}, {1000, 1000}};
  const BandMask bands[] = {BandMask::none(), BandMask::causal(), BandMask::window(40, 0),
                            BandMask::window(3, 70, MaskAlignment::top_left)};
  for (const auto& [seqlen_q, seqlen_k] : seqlens)
    for (const BandMask& band : bands) {
      const int offset = seqlen_k - seqlen_q;
      check_block_mask_schedule<16, 64>(CausalPattern{{}, offset}, band, 1, 1, seqlen_q, seqlen_k, 16, 64);
      check_block_mask_schedule<16, 64>(LocalGlobalPattern{{}, 50, 20, offset}, band, 1, 1, seqlen_q, seqlen_k, 64,
                                        128);
      check_block_mask_schedule<16, 64>(StridedPattern{{}, 90, offset}, band, 1, 1, seqlen_q, seqlen_k, 128, 192);
      EntryWindowPattern per_entry;
      per_entry.heads = 3;
      check_block_mask_schedule<16, 64>(per_entry, band, 2, 3, seqlen_q, seqlen_k, 32, 64);
    }
}

TEST_CASE("fa1 block-sparse forward equals dense attention with the pattern's mask, d=64",
          "[fa1][forward][block_sparse][d64]") {
  check_sparse_patterns<Fa1SparseForward, bfloat16_t, 64>();
  check_sparse_patterns<Fa1SparseForward, half_t, 64>();
}

TEST_CASE("fa1 block-sparse forward, mask blocks of several kernel blocks, per-entry masks, d=64 (B_c = 320)",
          "[fa1][forward][block_sparse][d64]") {
  check_fa1_sparse_schedule<bfloat16_t, 64>();
  check_fa1_sparse_schedule<half_t, 64>();
}

TEST_CASE("fa1 block-sparse forward rejects masks that do not fit, naming the value", "[fa1][forward][block_sparse]") {
  void* const fake = reinterpret_cast<void*>(uintptr_t{1} << 20);
  const AttentionProblem problem = make_bshd_problem(DType::bf16, 2, 2, 2, 1000, 1000, 64, fake, fake, fake, fake);
  const auto all_full = [](int, int, TileBounds) { return TileClass::full; };
  // The sparse default d = 64 kernel has 16 × 128 blocks.
  const HostBlockMask thin = build_block_mask_host(1, 1, 1000, 1000, all_full, 8, 128);
  CHECK_THROWS_WITH((fa1::forward_block_sparse<bfloat16_t, 64>(problem, thin.view())),
                    Catch::Matchers::ContainsSubstring("block_m = 8"));
  const HostBlockMask narrow = build_block_mask_host(1, 1, 1000, 1000, all_full, 128, 64);
  CHECK_THROWS_WITH((fa1::forward_block_sparse<bfloat16_t, 64>(problem, narrow.view())),
                    Catch::Matchers::ContainsSubstring("block_n = 64"));
  const HostBlockMask short_mask = build_block_mask_host(1, 1, 500, 1000, all_full, 128, 128);
  CHECK_THROWS_WITH((fa1::forward_block_sparse<bfloat16_t, 64>(problem, short_mask.view())),
                    Catch::Matchers::ContainsSubstring("does not cover"));
  const HostBlockMask three_batches = build_block_mask_host(3, 1, 1000, 1000, all_full, 128, 128);
  CHECK_THROWS_WITH((fa1::forward_block_sparse<bfloat16_t, 64>(problem, three_batches.view())),
                    Catch::Matchers::ContainsSubstring("batches = 3"));
  const HostBlockMask three_heads = build_block_mask_host(1, 3, 1000, 1000, all_full, 128, 128);
  CHECK_THROWS_WITH((fa1::forward_block_sparse<bfloat16_t, 64>(problem, three_heads.view())),
                    Catch::Matchers::ContainsSubstring("heads = 3"));
  const HostBlockMask fitting = build_block_mask_host(1, 1, 1000, 1000, all_full, 128, 128);
  BlockMaskView forward_lists_only = fitting.view();
  forward_lists_only.partial_q_indices = nullptr;
  CHECK_THROWS_WITH((fa1::forward_block_sparse<bfloat16_t, 64>(problem, forward_lists_only)),
                    Catch::Matchers::ContainsSubstring("transposed lists"));
}
