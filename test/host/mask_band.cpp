// Tests of mask/band.cuh and mask/attention_mask.cuh: the element predicate against the
// definition written as a distance from the aligned diagonal, the per-row and per-range key
// intervals against the kept keys themselves, the query interval a key range reaches (what the
// backward walks) against the rows that keep its keys, and tile classification against brute force over
// every element of the tile, for causal masks and windows of both alignments, q shorter than,
// equal to and longer than k, and tiles that hang over either sequence end.

#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "attnkit/mask/attention_mask.cuh"

using namespace attnkit;

namespace {

const char* name_of(TileClass c) {
  switch (c) {
    case TileClass::skip: return "skip";
    case TileClass::full: return "full";
    case TileClass::partial: return "partial";
  }
  return "?";
}

}  // namespace

template <>
struct Catch::StringMaker<TileClass> {
  static std::string convert(TileClass c) { return name_of(c); }
};

namespace {

std::string describe(const BandMask& band) {
  std::ostringstream out;
  out << "band {left " << band.left << ", right " << band.right << ", "
      << (band.alignment == MaskAlignment::bottom_right ? "bottom_right" : "top_left") << "}";
  return out.str();
}

std::string describe(const TileBounds& t) {
  std::ostringstream out;
  out << "tile q [" << t.q_begin << ", " << t.q_end << ") × k [" << t.k_begin << ", " << t.k_end << ")";
  return out.str();
}

// The definition: with the key aligned to q at `diag`, key k is kept when its offset k − diag
// lies in [−left, right] (a negative bound being no bound) and k is a real key.
bool keep_by_definition(const BandMask& band, int q, int k, int seqlen_q, int seqlen_k) {
  const int shift = band.alignment == MaskAlignment::bottom_right ? seqlen_k - seqlen_q : 0;
  const int offset_from_diagonal = k - (q + shift);
  const bool inside_sequence = 0 <= k && k < seqlen_k;
  const bool within_left = band.left < 0 || offset_from_diagonal >= -band.left;
  const bool within_right = band.right < 0 || offset_from_diagonal <= band.right;
  return inside_sequence && within_left && within_right;
}

std::vector<BandMask> all_masks() {
  std::vector<BandMask> masks = {BandMask::none()};
  for (MaskAlignment alignment : {MaskAlignment::top_left, MaskAlignment::bottom_right}) {
    masks.push_back(BandMask::causal(alignment));
    const int windows[][2] = {{0, 0}, {3, 0}, {0, 5}, {16, 16}, {100, -1}, {-1, 7}, {5, 2}, {1, 40}, {63, 0}};
    for (const auto& w : windows) masks.push_back(BandMask::window(w[0], w[1], alignment));
  }
  return masks;
}

struct Seqlens {
  int q, k;
};
// q shorter than, equal to and longer than k; lengths that are and are not tile multiples.
const Seqlens kSeqlens[] = {{1, 1},   {1, 7},    {7, 1},    {13, 13},  {50, 77},  {77, 50},
                            {64, 64}, {128, 33}, {33, 128}, {130, 130}, {200, 71}, {71, 200}, {257, 300}};

// What a tile holds, by brute force: counts over the elements whose query row exists.
struct TileContents {
  long kept = 0;
  long total = 0;
  TileClass exact() const {
    if (kept == 0) return TileClass::skip;
    return kept == total ? TileClass::full : TileClass::partial;
  }
};

template <class Keep>
TileContents count_tile(const TileBounds& t, int seqlen_q, Keep keep) {
  TileContents contents;
  for (int q = t.q_begin; q < std::min(t.q_end, seqlen_q); ++q)
    for (int k = t.k_begin; k < t.k_end; ++k) {
      ++contents.total;
      contents.kept += keep(q, k) ? 1 : 0;
    }
  return contents;
}

// The tiles a kernel walks (an aligned grid, including one tile past each end) and a few at
// unaligned positions.
std::vector<TileBounds> tiles_over(int seqlen_q, int seqlen_k, int block_m, int block_n, std::mt19937& rng) {
  std::vector<TileBounds> tiles;
  for (int q0 = 0; q0 <= seqlen_q; q0 += block_m)
    for (int k0 = 0; k0 <= seqlen_k; k0 += block_n) tiles.push_back({q0, q0 + block_m, k0, k0 + block_n});
  std::uniform_int_distribution<int> q_start(0, seqlen_q), k_start(0, seqlen_k);
  for (int i = 0; i < 16; ++i) {
    const int q0 = q_start(rng), k0 = k_start(rng);
    tiles.push_back({q0, q0 + block_m, k0, k0 + block_n});
  }
  return tiles;
}

const int kTileShapes[][2] = {{16, 16}, {64, 64}, {128, 128}, {64, 128}, {128, 64}, {16, 64}};

}  // namespace

TEST_CASE("BandMask constructors and predicates", "[mask][band]") {
  STATIC_REQUIRE(BandMask::none().left < 0);
  STATIC_REQUIRE(BandMask::none().right < 0);
  STATIC_REQUIRE(!BandMask::none().bounded());
  STATIC_REQUIRE(!BandMask::none().is_causal());
  STATIC_REQUIRE(BandMask::causal().is_causal());
  STATIC_REQUIRE(BandMask::causal().alignment == MaskAlignment::bottom_right);
  STATIC_REQUIRE(BandMask::causal(MaskAlignment::top_left).alignment == MaskAlignment::top_left);
  STATIC_REQUIRE(BandMask::causal().bounded());
  STATIC_REQUIRE(!BandMask::window(4, 0).is_causal());
  STATIC_REQUIRE(BandMask::window(4, -1).bounded());
  STATIC_REQUIRE(BandMask::window(-1, 4).bounded());
  // diag: the key aligned with q.
  STATIC_REQUIRE(BandMask::causal(MaskAlignment::top_left).diagonal(3, 10, 25) == 3);
  STATIC_REQUIRE(BandMask::causal(MaskAlignment::bottom_right).diagonal(3, 10, 25) == 18);
  STATIC_REQUIRE(BandMask::causal(MaskAlignment::bottom_right).diagonal(3, 25, 10) == -12);
  STATIC_REQUIRE(BandMask::causal().keep(0, 0, 1, 1));
}

TEST_CASE("BandMask keep() on hand-drawn matrices", "[mask][band]") {
  // s_q = 3, s_k = 5. Rows are queries, columns keys, 1 = kept.
  auto matrix = [](const BandMask& band, int seqlen_q, int seqlen_k) {
    std::string out;
    for (int q = 0; q < seqlen_q; ++q) {
      for (int k = 0; k < seqlen_k; ++k) out += band.keep(q, k, seqlen_q, seqlen_k) ? '1' : '0';
      out += '/';
    }
    return out;
  };
  REQUIRE(matrix(BandMask::none(), 3, 5) == "11111/11111/11111/");
  REQUIRE(matrix(BandMask::causal(MaskAlignment::top_left), 3, 5) == "10000/11000/11100/");
  REQUIRE(matrix(BandMask::causal(MaskAlignment::bottom_right), 3, 5) == "11100/11110/11111/");
  REQUIRE(matrix(BandMask::window(1, 1, MaskAlignment::top_left), 3, 5) == "11000/11100/01110/");
  REQUIRE(matrix(BandMask::window(1, 0, MaskAlignment::bottom_right), 3, 5) == "01100/00110/00011/");
  // s_q > s_k, bottom-right: the first queries see no key at all.
  REQUIRE(matrix(BandMask::causal(MaskAlignment::bottom_right), 4, 2) == "00/00/10/11/");
  REQUIRE(matrix(BandMask::causal(MaskAlignment::top_left), 4, 2) == "10/11/11/11/");
  // Keys past the sequence are never kept, whatever the band says.
  REQUIRE(!BandMask::none().keep(0, 5, 3, 5));
  REQUIRE(!BandMask::none().keep(0, -1, 3, 5));
}

TEST_CASE("BandMask keep() matches the definition", "[mask][band]") {
  for (const BandMask& band : all_masks()) {
    for (const Seqlens& s : kSeqlens) {
      for (int q = 0; q < s.q; ++q) {
        for (int k = -2; k < s.k + 3; ++k) {
          INFO(describe(band) << ", s_q " << s.q << ", s_k " << s.k << ", q " << q << ", k " << k);
          REQUIRE(band.keep(q, k, s.q, s.k) == keep_by_definition(band, q, k, s.q, s.k));
        }
      }
    }
  }
}

TEST_CASE("row_first_key / row_end_key bound exactly the kept keys of each row", "[mask][band]") {
  for (const BandMask& band : all_masks()) {
    for (const Seqlens& s : kSeqlens) {
      for (int q = 0; q < s.q; ++q) {
        int first_kept = -1, last_kept = -1;
        for (int k = 0; k < s.k; ++k) {
          if (!band.keep(q, k, s.q, s.k)) continue;
          if (first_kept < 0) first_kept = k;
          last_kept = k;
        }
        const int first = band.row_first_key(q, s.q, s.k);
        const int end = band.row_end_key(q, s.q, s.k);
        INFO(describe(band) << ", s_q " << s.q << ", s_k " << s.k << ", q " << q << ": [" << first << ", " << end
                            << "), kept " << first_kept << ".." << last_kept);
        if (first_kept < 0) {
          REQUIRE(first >= end);  // an empty row
        } else {
          REQUIRE(first == first_kept);
          REQUIRE(end == last_kept + 1);
          // The kernel masks a partial row with these two compares alone: the row is an interval.
          for (int k = first; k < end; ++k) REQUIRE(band.keep(q, k, s.q, s.k));
        }
      }
    }
  }
}

TEST_CASE("first_key / end_key bound exactly the keys a range of rows keeps", "[mask][band]") {
  std::mt19937 rng(3);
  for (const BandMask& band : all_masks()) {
    for (const Seqlens& s : kSeqlens) {
      std::uniform_int_distribution<int> row(0, s.q - 1);
      for (int i = 0; i < 40; ++i) {
        int q_begin = row(rng), q_end = row(rng) + 1;
        if (q_begin >= q_end) std::swap(q_begin, q_end), ++q_end, --q_begin;
        q_begin = std::max(q_begin, 0);
        q_end = std::min(q_end, s.q);
        if (q_begin >= q_end) continue;
        int first_kept = -1, last_kept = -1;
        for (int q = q_begin; q < q_end; ++q)
          for (int k = 0; k < s.k; ++k) {
            if (!band.keep(q, k, s.q, s.k)) continue;
            if (first_kept < 0 || k < first_kept) first_kept = k;
            last_kept = std::max(last_kept, k);
          }
        const int first = band.first_key(q_begin, s.q, s.k);
        const int end = band.end_key(q_end, s.q, s.k);
        INFO(describe(band) << ", s_q " << s.q << ", s_k " << s.k << ", rows [" << q_begin << ", " << q_end
                            << "): [" << first << ", " << end << "), kept " << first_kept << ".." << last_kept);
        if (first_kept < 0) {
          REQUIRE(first >= end);
        } else {
          REQUIRE(first == first_kept);
          REQUIRE(end == last_kept + 1);
        }
      }
    }
  }
}

TEST_CASE("BandMask::classify is never wrong about skip and full", "[mask][band][classify]") {
  // A wrong `skip` drops kept scores; a wrong `full` keeps masked ones. Both are wrong answers.
  std::mt19937 rng(11);
  for (const BandMask& band : all_masks()) {
    for (const Seqlens& s : kSeqlens) {
      for (const auto& shape : kTileShapes) {
        for (const TileBounds& t : tiles_over(s.q, s.k, shape[0], shape[1], rng)) {
          const TileContents contents =
              count_tile(t, s.q, [&](int q, int k) { return band.keep(q, k, s.q, s.k); });
          const TileClass got = band.classify(t, s.q, s.k);
          INFO(describe(band) << ", s_q " << s.q << ", s_k " << s.k << ", " << describe(t) << ": classify says "
                              << name_of(got) << ", " << contents.kept << " of " << contents.total << " kept");
          if (got == TileClass::skip) REQUIRE(contents.kept == 0);
          if (got == TileClass::full) {
            REQUIRE(contents.kept == contents.total);
            REQUIRE(t.k_end <= s.k);
          }
          // A full tile is never demoted: full runs without the per-element test.
          if (contents.total > 0 && contents.kept == contents.total) REQUIRE(got == TileClass::full);
        }
      }
    }
  }
}

TEST_CASE("BandMask::classify is exact: skip iff nothing kept, full iff everything kept",
          "[mask][band][classify]") {
  // band.cuh documents no case where classify may answer `partial` for a tile that keeps
  // nothing, so a tile of no kept element must be skipped (its K/V block need not be read).
  std::mt19937 rng(13);
  for (const BandMask& band : all_masks()) {
    for (const Seqlens& s : kSeqlens) {
      for (const auto& shape : kTileShapes) {
        for (const TileBounds& t : tiles_over(s.q, s.k, shape[0], shape[1], rng)) {
          const TileContents contents =
              count_tile(t, s.q, [&](int q, int k) { return band.keep(q, k, s.q, s.k); });
          const TileClass got = band.classify(t, s.q, s.k);
          INFO(describe(band) << ", s_q " << s.q << ", s_k " << s.k << ", " << describe(t) << ": classify says "
                              << name_of(got) << ", " << contents.kept << " of " << contents.total << " kept");
          REQUIRE(got == contents.exact());
        }
      }
    }
  }
}

TEST_CASE("a tile hanging over the end of the queries can still be full", "[mask][band][classify]") {
  // Rows past s_q are never stored, so they do not count.
  const BandMask band = BandMask::causal(MaskAlignment::top_left);
  REQUIRE(band.classify({64, 128, 0, 64}, 100, 100) == TileClass::full);
  REQUIRE(band.classify({64, 128, 64, 128}, 100, 100) == TileClass::partial);
  REQUIRE(band.classify({128, 192, 0, 64}, 100, 100) == TileClass::skip);  // no row exists
  // A tile hanging over the end of the keys is partial: the padding keys must be masked.
  REQUIRE(BandMask::none().classify({0, 64, 64, 128}, 100, 100) == TileClass::partial);
  REQUIRE(BandMask::none().classify({0, 64, 128, 192}, 100, 100) == TileClass::skip);
}

TEST_CASE("any negative bound is unbounded, exactly as -1 is", "[mask][band]") {
  // flash-attn passes -1; callers computing a window may pass any negative value, and every
  // kernel must then see the same mask as with -1.
  STATIC_REQUIRE(BandMask::window(-7, 0).is_causal());
  STATIC_REQUIRE(!BandMask::window(-7, -100).bounded());
  STATIC_REQUIRE(BandMask::window(-7, 3).bounded());
  const std::pair<BandMask, BandMask> same[] = {
      {BandMask::window(-7, 0), BandMask::window(-1, 0)},
      {BandMask::window(-7, 5), BandMask::window(-1, 5)},
      {BandMask::window(3, -100), BandMask::window(3, -1)},
      {BandMask::window(-2, -2147483647 - 1), BandMask::none()},
  };
  std::mt19937 rng(29);
  for (MaskAlignment alignment : {MaskAlignment::top_left, MaskAlignment::bottom_right}) {
    for (auto [negative, minus_one] : same) {
      negative.alignment = minus_one.alignment = alignment;
      for (const Seqlens& s : kSeqlens) {
        INFO(describe(negative) << " against " << describe(minus_one) << ", s_q " << s.q << ", s_k " << s.k);
        for (int q = 0; q <= s.q; ++q) {
          REQUIRE(negative.first_key(q, s.q, s.k) == minus_one.first_key(q, s.q, s.k));
          REQUIRE(negative.end_key(q + 1, s.q, s.k) == minus_one.end_key(q + 1, s.q, s.k));
          for (int k = -1; k <= s.k; ++k) REQUIRE(negative.keep(q, k, s.q, s.k) == minus_one.keep(q, k, s.q, s.k));
        }
        for (int k = 0; k <= s.k; ++k) {
          REQUIRE(negative.first_query(k, s.q, s.k) == minus_one.first_query(k, s.q, s.k));
          REQUIRE(negative.end_query(k + 1, s.q, s.k) == minus_one.end_query(k + 1, s.q, s.k));
        }
        for (const TileBounds& t : tiles_over(s.q, s.k, 16, 64, rng))
          REQUIRE(negative.classify(t, s.q, s.k) == minus_one.classify(t, s.q, s.k));
      }
    }
  }
}

// --- attention_mask.cuh: the band combined with a variant's mask_mod ---------------------------

namespace {

// Documents of `length` tokens: a query sees only the keys of its own document. Its classify is
// exact.
struct DocumentMask : VariantBase {
  static constexpr bool has_mask_mod = true;
  int length = 24;
  bool mask_mod(int, int, int q, int k) const { return q / length == k / length; }
  TileClass classify(int, int, TileBounds t) const {
    const int q_first = t.q_begin / length, q_last = (t.q_end - 1) / length;
    const int k_first = t.k_begin / length, k_last = (t.k_end - 1) / length;
    if (q_last < k_first || k_last < q_first) return TileClass::skip;
    if (q_first == q_last && k_first == k_last) return TileClass::full;
    return TileClass::partial;
  }
};

// Depends on batch and head, with no tile knowledge: classify says partial (always correct).
struct HeadDependentMask : VariantBase {
  static constexpr bool has_mask_mod = true;
  bool mask_mod(int batch, int head, int q, int k) const { return (q + 2 * k + 3 * head + 5 * batch) % 4 != 0; }
  TileClass classify(int, int, TileBounds) const { return TileClass::partial; }
};

// has_mask_mod is false: whatever mask_mod and classify say must be ignored.
struct IgnoredMask : VariantBase {
  bool mask_mod(int, int, int, int) const { return false; }
  TileClass classify(int, int, TileBounds) const { return TileClass::skip; }
};

// A mask_mod that relies on VariantBase for classify.
struct EvenKeysOnly : VariantBase {
  static constexpr bool has_mask_mod = true;
  bool mask_mod(int, int, int, int k) const { return k % 2 == 0; }
};

template <class Variant>
void check_combined_mask(const Variant& variant, int batch, int head, unsigned seed) {
  std::mt19937 rng(seed);
  for (const BandMask& band : all_masks()) {
    for (const Seqlens& s : kSeqlens) {
      for (const auto& shape : kTileShapes) {
        for (const TileBounds& t : tiles_over(s.q, s.k, shape[0], shape[1], rng)) {
          long wrong_elements = 0;
          const TileContents contents = count_tile(t, s.q, [&](int q, int k) {
            const bool keep = keep_element(band, variant, batch, head, q, k, s.q, s.k);
            // The element predicate is the band's and the variant's, both.
            const bool want = band.keep(q, k, s.q, s.k) &&
                              (!Variant::has_mask_mod || variant.mask_mod(batch, head, q, k));
            wrong_elements += keep != want ? 1 : 0;
            return keep;
          });
          const TileClass got = classify_tile(band, variant, batch, head, t, s.q, s.k);
          INFO(describe(band) << ", s_q " << s.q << ", s_k " << s.k << ", " << describe(t) << ": classify_tile says "
                              << name_of(got) << ", " << contents.kept << " of " << contents.total << " kept");
          REQUIRE(wrong_elements == 0);
          if (got == TileClass::skip) REQUIRE(contents.kept == 0);
          if (got == TileClass::full) REQUIRE(contents.kept == contents.total);
          // Never more pessimistic than the band alone, never more optimistic than both.
          const TileClass band_class = band.classify(t, s.q, s.k);
          if (band_class == TileClass::skip) REQUIRE(got == TileClass::skip);
          if (!Variant::has_mask_mod) REQUIRE(got == band_class);
        }
      }
    }
  }
}

}  // namespace

TEST_CASE("classify_tile / keep_element without a mask_mod are the band's", "[mask][attention_mask]") {
  check_combined_mask(NoVariant{}, 0, 0, 21);
  check_combined_mask(IgnoredMask{}, 1, 2, 22);
}

TEST_CASE("classify_tile / keep_element with a mask_mod", "[mask][attention_mask]") {
  check_combined_mask(DocumentMask{}, 0, 0, 23);
  check_combined_mask(DocumentMask{{}, 40}, 0, 0, 24);
  check_combined_mask(HeadDependentMask{}, 0, 0, 25);
  check_combined_mask(HeadDependentMask{}, 3, 7, 26);
  // Both exact and agreeing: the combination keeps the exact answer where no intersection is
  // involved.
  const BandMask none = BandMask::none();
  REQUIRE(classify_tile(none, DocumentMask{}, 0, 0, {0, 16, 0, 16}, 100, 100) == TileClass::full);
  REQUIRE(classify_tile(none, DocumentMask{}, 0, 0, {0, 16, 48, 64}, 100, 100) == TileClass::skip);
  REQUIRE(classify_tile(none, DocumentMask{}, 0, 0, {16, 32, 16, 32}, 100, 100) == TileClass::partial);
  REQUIRE(classify_tile(BandMask::causal(MaskAlignment::top_left), DocumentMask{}, 0, 0, {0, 16, 16, 32}, 100, 100) ==
          TileClass::skip);
}

TEST_CASE("a mask_mod with the default classify is never treated as full", "[mask][attention_mask]") {
  // variant.cuh: "The default says `partial` whenever has_mask_mod, which is always correct."
  const EvenKeysOnly variant;
  REQUIRE(classify_tile(BandMask::none(), variant, 0, 0, {0, 16, 0, 16}, 16, 16) == TileClass::partial);
  check_combined_mask(variant, 0, 0, 27);
}

TEST_CASE("intersect combines two tile classes", "[mask][tile_class]") {
  const TileClass all[] = {TileClass::skip, TileClass::full, TileClass::partial};
  for (TileClass a : all)
    for (TileClass b : all) {
      const TileClass want = (a == TileClass::skip || b == TileClass::skip)         ? TileClass::skip
                             : (a == TileClass::full && b == TileClass::full) ? TileClass::full
                                                                              : TileClass::partial;
      REQUIRE(intersect(a, b) == want);
      REQUIRE(intersect(a, b) == intersect(b, a));
    }
}

// --- first_query / end_query: the query rows a key range reaches (the backward's walk) ------

namespace {

// The key ranges a backward kernel walks for tiles of `block_n` keys (aligned, the last one
// hanging over s_k), plus unaligned ones of the same width and a few narrower ones, all
// starting inside the keys.
std::vector<std::pair<int, int>> key_ranges(int seqlen_k, int block_n, std::mt19937& rng) {
  std::vector<std::pair<int, int>> ranges;
  for (int k0 = 0; k0 < seqlen_k; k0 += block_n) ranges.push_back({k0, k0 + block_n});
  std::uniform_int_distribution<int> start(0, seqlen_k - 1), width(1, block_n);
  for (int i = 0; i < 24; ++i) {
    const int k0 = start(rng);
    ranges.push_back({k0, k0 + (i % 2 == 0 ? block_n : width(rng))});
  }
  ranges.push_back({seqlen_k - 1, seqlen_k});  // the last key alone
  return ranges;
}

}  // namespace

TEST_CASE("first_query / end_query bound exactly the queries that keep a key of a range", "[mask][band]") {
  // The backward pass, which owns a block of keys, walks the query rows [first_query, end_query):
  // a row it misses would lose its dK/dV contribution, a row it visits needlessly costs time, so
  // the interval must be exactly the rows that keep at least one key of the range (the rows are
  // an interval because each row's kept keys are, and move right with q).
  std::mt19937 rng(17);
  long ranges_checked = 0;
  for (const BandMask& band : all_masks()) {
    for (const Seqlens& s : kSeqlens) {
      // Width 1 is every key alone: the backward masks a partial tile element by element with
      // first_query(k) / end_query(k + 1).
      for (const int block_n : {1, 16, 64, 128}) {
        for (const auto& [k_begin, k_end] : key_ranges(s.k, block_n, rng)) {
          std::vector<int> reached;  // the rows keeping a key of [k_begin, k_end), by brute force
          for (int q = 0; q < s.q; ++q)
            for (int k = k_begin; k < k_end; ++k)
              if (band.keep(q, k, s.q, s.k)) {
                reached.push_back(q);
                break;
              }
          const int first = band.first_query(k_begin, s.q, s.k);
          const int end = band.end_query(k_end, s.q, s.k);
          std::ostringstream reached_text;
          if (reached.empty()) reached_text << "none";
          else reached_text << reached.front() << ".." << reached.back() << " (" << reached.size() << " rows)";
          INFO(describe(band) << ", s_q " << s.q << ", s_k " << s.k << ", block_n " << block_n << ", keys ["
                              << k_begin << ", " << k_end << "): first_query " << first << ", end_query " << end
                              << ", rows reached " << reached_text.str());
          ++ranges_checked;
          if (reached.empty()) {
            REQUIRE(first >= end);
          } else {
            REQUIRE(first == reached.front());
            REQUIRE(end == reached.back() + 1);
            REQUIRE(end - first == static_cast<int>(reached.size()));  // no row in between is missed
          }
        }
      }
    }
  }
  REQUIRE(ranges_checked > 1000);
}

TEST_CASE("first_query / end_query on hand-drawn matrices", "[mask][band]") {
  // s_q = 3, s_k = 5, bottom-right causal: "11100/11110/11111/". Key 4 is kept by row 2 only,
  // keys 0..2 by every row.
  constexpr BandMask causal = BandMask::causal(MaskAlignment::bottom_right);
  STATIC_REQUIRE(causal.first_query(4, 3, 5) == 2);
  STATIC_REQUIRE(causal.end_query(5, 3, 5) == 3);
  STATIC_REQUIRE(causal.first_query(0, 3, 5) == 0);
  STATIC_REQUIRE(causal.end_query(3, 3, 5) == 3);
  // s_q = 4, s_k = 2, bottom-right causal: "00/00/10/11/". Key 1 is reached by row 3 alone.
  STATIC_REQUIRE(causal.first_query(1, 4, 2) == 3);
  STATIC_REQUIRE(causal.end_query(2, 4, 2) == 4);
  // s_q = 3, s_k = 5, window (1, 0) bottom-right: "01100/00110/00011/". Key 0 is kept by no row.
  constexpr BandMask window = BandMask::window(1, 0, MaskAlignment::bottom_right);
  STATIC_REQUIRE(window.first_query(0, 3, 5) >= window.end_query(1, 3, 5));
  STATIC_REQUIRE(window.first_query(2, 3, 5) == 0);
  STATIC_REQUIRE(window.end_query(3, 3, 5) == 2);
  // A range hanging over s_k behaves as if clipped to it.
  STATIC_REQUIRE(window.end_query(64, 3, 5) == 3);
}
