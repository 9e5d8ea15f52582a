// Tests of fa1/schedule.cuh: the steps of Algorithm 1's double loop must be exactly
// the (query block, K/V block) tiles the mask does not skip, K/V blocks outermost and query
// blocks ascending, each with its tile class; and no tile holding a kept element may be
// missing. Checked against brute force for causal masks and windows of both alignments,
// q shorter than, equal to and longer than k, and a variant that skips tiles in the middle.
//
// Then the whole schedule, emulated on the host with the arithmetic the kernel runs (split-K
// partials merged by softmax_merge.cuh, the normalized output kept in fp32 between steps,
// P̃ rounded to the element type for P̃V), must meet the kernels' tolerance rule against the
// float64 reference: the algorithm is right before any GPU runs it.

#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>
#include <vector>

#include "attnkit/fa1/block_sizes.cuh"
#include "attnkit/fa1/schedule.cuh"
#include "attnkit/reference/cpu_attention.cuh"
#include "attnkit/reference/host_tensor.cuh"
#include "attnkit/softmax/softmax_merge.cuh"
#include "support/tolerance_rule.h"

using namespace attnkit;
using attnkit::testing::check_tolerance_rule;

namespace {

// Attention within documents of 70 tokens, with tile classes that skip whole tiles between
// visited ones (the same variant the GPU test runs).
struct SameDocument : VariantBase {
  static constexpr bool has_mask_mod = true;
  static constexpr int kDocument = 70;
  bool mask_mod(int, int, int q, int k) const { return q / kDocument == k / kDocument; }
  TileClass classify(int, int, TileBounds t) const {
    const int q_first = t.q_begin / kDocument, q_last = (t.q_end - 1) / kDocument;
    const int k_first = t.k_begin / kDocument, k_last = (t.k_end - 1) / kDocument;
    if (q_last < k_first || k_last < q_first) return TileClass::skip;
    if (q_first == q_last && k_first == k_last && q_first == k_first) return TileClass::full;
    return TileClass::partial;
  }
};

std::vector<BandMask> bands() {
  return {BandMask::none(),
          BandMask::causal(MaskAlignment::bottom_right),
          BandMask::causal(MaskAlignment::top_left),
          BandMask::window(40, 0),
          BandMask::window(3, 70, MaskAlignment::top_left),
          BandMask::window(100, 20, MaskAlignment::bottom_right)};
}

const std::pair<int, int> kSeqlens[] = {{1, 1}, {1, 129}, {129, 1}, {17, 17}, {100, 300}, {300, 100}, {257, 257}};

template <int BlockM, int BlockN, class Variant = NoVariant>
void check_schedule(const BandMask& band, int seqlen_q, int seqlen_k, const Variant& variant = {}) {
  INFO("blocks " << BlockM << " x " << BlockN << ", s_q = " << seqlen_q << ", s_k = " << seqlen_k << ", band ("
                 << band.left << ", " << band.right << ", "
                 << (band.alignment == MaskAlignment::top_left ? "top_left" : "bottom_right") << ")");
  const int q_blocks = ceil_div(seqlen_q, BlockM), kv_blocks = ceil_div(seqlen_k, BlockN);
  std::vector<fa1::Step> expected;
  for (int j = 0; j < kv_blocks; ++j)
    for (int i = 0; i < q_blocks; ++i) {
      const TileBounds tile{i * BlockM, (i + 1) * BlockM, j * BlockN, (j + 1) * BlockN};
      const TileClass tile_class = classify_tile(band, variant, 0, 0, tile, seqlen_q, seqlen_k);
      bool any_kept = false;
      for (int q = tile.q_begin; q < std::min(tile.q_end, seqlen_q); ++q)
        for (int k = tile.k_begin; k < std::min(tile.k_end, seqlen_k); ++k)
          any_kept = any_kept || keep_element(band, variant, 0, 0, q, k, seqlen_q, seqlen_k);
      INFO("tile (" << i << ", " << j << ")");
      if (any_kept) REQUIRE(tile_class != TileClass::skip);
      if (tile_class != TileClass::skip) expected.push_back({i, j, tile_class});
    }

  const fa1::StepSchedule<BlockM, BlockN, Variant> schedule(band, variant, 0, 0, seqlen_q, seqlen_k);
  std::vector<fa1::Step> steps;
  fa1::Step step{};
  for (bool more = schedule.first(step); more; more = schedule.next(step)) {
    REQUIRE(steps.size() <= expected.size());
    steps.push_back(step);
  }
  REQUIRE(steps.size() == expected.size());
  for (std::size_t s = 0; s < steps.size(); ++s) {
    INFO("step " << s);
    CHECK(steps[s].q_block == expected[s].q_block);
    CHECK(steps[s].kv_block == expected[s].kv_block);
    CHECK(steps[s].tile_class == expected[s].tile_class);
  }
}

// ---------------------------------------------------------------------------------------------
// Algorithm 1 on the host, one (batch, head) at a time, with the kernel's arithmetic.

template <class Element, int BlockM, int BlockN, int Warps, class Variant>
reference::ForwardResult emulate_fa1(const reference::Shape& shape, const std::vector<double>& q,
                                     const std::vector<double>& k, const std::vector<double>& v,
                                     const Variant& variant) {
  constexpr int kWarpKeys = BlockN / Warps;
  const int d = shape.head_dim;
  const float scale = static_cast<float>(shape.scale());
  const float scale_log2 = Variant::has_score_mod ? kLog2e : scale * kLog2e;
  reference::ForwardResult result;
  result.o.assign(shape.q_size(), 0.0);
  result.lse.assign(shape.lse_size(), 0.0);
  for (int b = 0; b < shape.batch; ++b) {
    for (int h = 0; h < shape.heads_q; ++h) {
      const int seqlen_q = shape.seqlen_q(b), seqlen_k = shape.seqlen_k(b), head_kv = shape.kv_head(h);
      // Line 2: what the kernel keeps in HBM.
      std::vector<float> o(std::size_t(seqlen_q) * d, 0.f);
      std::vector<SoftmaxStats> stats(seqlen_q, SoftmaxStats::empty());
      const fa1::StepSchedule<BlockM, BlockN, Variant> schedule(shape.band, variant, b, h, seqlen_q, seqlen_k);
      fa1::Step step{};
      for (bool more = schedule.first(step); more; more = schedule.next(step)) {
        for (int r = 0; r < BlockM && step.q_block * BlockM + r < seqlen_q; ++r) {
          const int row = step.q_block * BlockM + r;
          SoftmaxStats parts[Warps];
          std::vector<float> partial_o(static_cast<std::size_t>(Warps) * d, 0.f);
          for (int w = 0; w < Warps; ++w) {
            const int key0 = step.kv_block * BlockN + w * kWarpKeys;
            float scores[kWarpKeys];
            for (int c = 0; c < kWarpKeys; ++c) {
              const int key = key0 + c;
              float score = 0.f;  // keys past the end read zeros, like the zero-filled tiles
              if (key < seqlen_k)
                for (int e = 0; e < d; ++e)
                  score += float(q[shape.q_index(b, row, h, e)]) * float(k[shape.kv_index(b, key, head_kv, e)]);
              if constexpr (Variant::has_score_mod) score = variant.score_mod(score * scale, b, h, row, key);
              if (step.tile_class == TileClass::partial &&
                  !keep_element(shape.band, variant, b, h, row, key, seqlen_q, seqlen_k))
                score = -std::numeric_limits<float>::infinity();
              scores[c] = score;
            }
            // The warp's own softmax, exactly as OnlineSoftmax absorbs one block.
            float max = -std::numeric_limits<float>::infinity();
            for (float s : scores) max = std::max(max, s);
            const float subtracted = max == -std::numeric_limits<float>::infinity() ? 0.f : max * scale_log2;
            float sum = 0.f;
            for (int c = 0; c < kWarpKeys; ++c) {
              const float p = fast_exp2(std::fma(scores[c], scale_log2, -subtracted));
              sum += p;
              const int key = key0 + c;
              if (key < seqlen_k)
                for (int e = 0; e < d; ++e)
                  partial_o[w * d + e] += round_to<Element>(p) * float(v[shape.kv_index(b, key, head_kv, e)]);
            }
            parts[w] = {max, sum};
          }
          float factor[Warps];
          const SoftmaxStats block = merge_partials(parts, scale_log2, factor);
          const NormalizedUpdate update = normalized_update(stats[row], block, scale_log2);
          for (int e = 0; e < d; ++e) {
            float combined = 0.f;
            for (int w = 0; w < Warps; ++w) combined += factor[w] * partial_o[w * d + e];
            float& out = o[std::size_t(row) * d + e];
            out = update.old_scale * out + update.block_scale * combined;
          }
          stats[row] = update.stats;
        }
      }
      for (int row = 0; row < seqlen_q; ++row) {
        for (int e = 0; e < d; ++e)
          result.o[shape.q_index(b, row, h, e)] = round_to<Element>(o[std::size_t(row) * d + e]);
        result.lse[shape.lse_index(b, h, row)] = log_sum_exp(stats[row], scale_log2);
      }
    }
  }
  return result;
}

// The GPU tests' rule (test/support/forward_check.cuh): error ≤ 2 × a plain same-precision
// implementation's + slack; LSE relative error ≤ 1e-4 with −inf exactly where expected.
template <class Element, int HeadDim, class Variant = NoVariant>
void check_emulation(const reference::Shape& shape, uint64_t seed, double stddev, const Variant& variant = {}) {
  constexpr fa1::BlockSizes kSizes = fa1::derive_block_sizes(HeadDim);
  INFO(ElementTraits<Element>::name << " d = " << HeadDim << ", B_r = " << kSizes.block_m << ", B_c = "
                                    << kSizes.block_n << ", batch " << shape.batch << ", longest s_q "
                                    << shape.max_seqlen_q() << ", s_k " << shape.max_seqlen_k());
  std::vector<double> q = reference::random_normal(shape.q_size(), seed, stddev);
  std::vector<double> k = reference::random_normal(shape.kv_size(), seed + 1, stddev);
  std::vector<double> v = reference::random_normal(shape.kv_size(), seed + 2, 1.0);
  for (std::vector<double>* tensor : {&q, &k, &v})
    for (double& x : *tensor) x = round_to<Element>(static_cast<float>(x));

  const reference::ForwardResult exact = reference::forward(shape, q, k, v, variant);
  const reference::ForwardResult rounded =
      reference::forward(shape, q, k, v, variant, reference::RoundedLike<Element>{});
  const reference::ForwardResult emulated =
      emulate_fa1<Element, kSizes.block_m, kSizes.block_n, kSizes.warps>(shape, q, k, v, variant);

  check_tolerance_rule("O", emulated.o, rounded.o, exact.o);
  for (std::size_t i = 0; i < exact.lse.size(); ++i) {
    if (std::isinf(exact.lse[i])) {
      REQUIRE(emulated.lse[i] == exact.lse[i]);
    } else {
      REQUIRE(std::abs(emulated.lse[i] - exact.lse[i]) <= 1e-4 * std::max(1.0, std::abs(exact.lse[i])));
    }
  }
}

}  // namespace

TEST_CASE("fa1 schedule: exactly the tiles the band keeps, K/V blocks outermost", "[fa1][schedule]") {
  for (const BandMask& band : bands()) {
    for (const auto& [seqlen_q, seqlen_k] : kSeqlens) {
      check_schedule<16, 64>(band, seqlen_q, seqlen_k);
      check_schedule<16, 320>(band, seqlen_q, seqlen_k);
      check_schedule<32, 128>(band, seqlen_q, seqlen_k);
      check_schedule<64, 16>(band, seqlen_q, seqlen_k);
    }
  }
}

TEST_CASE("fa1 schedule: tiles a variant skips are left out, also between visited ones", "[fa1][schedule]") {
  for (const BandMask& band : {BandMask::none(), BandMask::causal()}) {
    for (const auto& [seqlen_q, seqlen_k] : kSeqlens) {
      check_schedule<16, 64>(band, seqlen_q, seqlen_k, SameDocument{});
      check_schedule<32, 128>(band, seqlen_q, seqlen_k, SameDocument{});
    }
  }
}

TEST_CASE("fa1 schedule: no step when nothing is kept", "[fa1][schedule]") {
  // Bottom-right causal with s_k = 0 keys, and a window that misses every key.
  const fa1::StepSchedule<16, 64, NoVariant> no_keys(BandMask::causal(), {}, 0, 0, 10, 0);
  fa1::Step step{};
  CHECK_FALSE(no_keys.first(step));
  const fa1::StepSchedule<16, 64, NoVariant> window_outside(BandMask::window(0, 0, MaskAlignment::bottom_right), {}, 0,
                                                            0, 50, 10);
  // Queries 0..39 see no key; 40..49 see one each: steps exist, but only for those rows.
  for (bool more = window_outside.first(step); more; more = window_outside.next(step)) CHECK(step.q_block >= 2);
}

TEST_CASE("fa1 algorithm emulated on the host meets the kernels' tolerance", "[fa1][schedule][emulation]") {
  using reference::Shape;
  const BandMask causal = BandMask::causal();
  check_emulation<bfloat16_t, 32>(Shape::dense(2, 2, 2, 300, 300, 32), 1, 1.0);
  check_emulation<half_t, 32>(Shape::dense(1, 2, 1, 129, 700, 32, causal), 4, 1.0);
  check_emulation<bfloat16_t, 64>(Shape::dense(1, 3, 3, 257, 257, 64, causal), 7, 3.0);
  check_emulation<half_t, 64>(Shape::dense(1, 2, 2, 300, 100, 64, BandMask::causal(MaskAlignment::bottom_right)), 10,
                              1.0);
  check_emulation<bfloat16_t, 64>(
      Shape::varlen(4, 2, 64, {1, 17, 200, 129}, {5, 17, 150, 300}, BandMask::window(20, 5)), 13, 1.0);
  check_emulation<half_t, 64>(Shape::dense(1, 2, 2, 333, 400, 64), 16, 1.0, SameDocument{});
}
