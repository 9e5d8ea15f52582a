// Tests of decode/split_kv.cuh's host side and decode/gqa_rows.cuh: the split heuristic fills
// the GPU only when the grid does not, never cuts below the least work per split nor above
// kMaxSplits; the partials' layout keeps its two arrays apart and aligned; the GQA row map
// is token-major and covers every (token, head) once.

#include <cstdint>
#include <set>
#include <utility>

#include <catch2/catch_test_macros.hpp>

#include "attnkit/decode/gqa_rows.cuh"
#include "attnkit/decode/split_kv.cuh"

using namespace attnkit;

TEST_CASE("choose_num_splits", "[decode][split_kv]") {
  // A grid that fills 80% of one wave or more is never split.
  CHECK(choose_num_splits(132, 132, 1, 1 << 20, 256) == 1);
  CHECK(choose_num_splits(106, 132, 1, 1 << 20, 256) == 1);
  CHECK(choose_num_splits(1000, 132, 1, 1 << 20, 256) == 1);
  // Batch 1, 8 KV heads, a long context: as many splits as fit one wave (132 / 8 -> 16, not
  // 17, which would leave 4 CTAs to a second wave).
  CHECK(choose_num_splits(8, 132, 1, 65536, 256) == 16);
  CHECK(choose_num_splits(64, 132, 1, 65536, 256) == 2);
  // A short context bounds the splits by the least work per split.
  CHECK(choose_num_splits(8, 132, 1, 1024, 256) == 4);
  CHECK(choose_num_splits(8, 132, 1, 100, 256) == 1);
  // One CTA alone on a huge GPU: at most kMaxSplits.
  CHECK(choose_num_splits(1, 1000, 2, 1 << 24, 256) == kMaxSplits);
  // Degenerate inputs stay in range.
  CHECK(choose_num_splits(0, 132, 1, 1 << 20, 256) == 1);
  CHECK(choose_num_splits(1, 132, 0, 1 << 20, 0) >= 1);
  CHECK(choose_num_splits(100, 132, 1, 1 << 20, 256) == 1);
}

TEST_CASE("SplitPartials layout", "[decode][split_kv]") {
  alignas(256) static char workspace[1 << 16];
  for (int splits : {2, 3, 7}) {
    for (int64_t rows : {int64_t{1}, int64_t{5}, int64_t{33}}) {
      const int head_dim = 64;
      const std::size_t bytes = SplitPartials::bytes(splits, rows, head_dim);
      REQUIRE(bytes <= sizeof workspace);
      const SplitPartials p = SplitPartials::in(workspace, splits, rows, head_dim);
      const auto* const output_end = reinterpret_cast<const char*>(p.output + splits * rows * head_dim);
      const auto* const lse_begin = reinterpret_cast<const char*>(p.lse);
      CHECK(output_end <= lse_begin);
      CHECK(reinterpret_cast<uintptr_t>(p.lse) % 256 == 0);
      CHECK(reinterpret_cast<const char*>(p.lse + splits * rows) <= workspace + bytes);
      CHECK(p.output_row(splits - 1, rows - 1) + head_dim == p.output + splits * rows * head_dim);
      CHECK(&p.lse_of(splits - 1, rows - 1) == p.lse + splits * rows - 1);
    }
  }
}

TEST_CASE("GqaRows is token-major and one-to-one", "[decode][gqa]") {
  for (auto [heads_q, heads_kv] : {std::pair{8, 2}, std::pair{32, 8}, std::pair{8, 1}, std::pair{4, 4}, std::pair{48, 4}}) {
    for (int tokens : {1, 4, 16}) {
      const GqaRows rows(heads_q, heads_kv, tokens);
      REQUIRE(rows.group() == heads_q / heads_kv);
      REQUIRE(rows.count() == rows.group() * tokens);
      std::set<std::pair<int, int>> seen;
      for (int r = 0; r < rows.count(); ++r) {
        const GqaRows::Row row = rows[r];
        CHECK(row.token == r / rows.group());
        CHECK(row.head_in_group == r % rows.group());
        seen.insert({row.token, row.head_in_group});
      }
      CHECK(seen.size() == static_cast<std::size_t>(rows.count()));
    }
  }
}
