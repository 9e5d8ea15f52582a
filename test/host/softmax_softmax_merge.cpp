// Tests of softmax/softmax_merge.cuh on the host (the same code the kernels run): merging the
// softmaxes of parts of a row (in any split, with empty parts) and then updating a normalized
// output block after block (FlashAttention-1's Algorithm 1) must give the float64 softmax-
// weighted sum and log-sum-exp, with no NaN from rows or parts that kept nothing, and with
// scores large enough to overflow exp() without the max subtraction.

#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "attnkit/softmax/softmax_merge.cuh"

using namespace attnkit;

namespace {

constexpr float kMasked = -std::numeric_limits<float>::infinity();
constexpr int kValueDim = 3;

// One row: scores (−inf where masked) and the value rows they weight.
struct Row {
  std::vector<float> scores;
  std::vector<std::vector<float>> values;  // [keys][kValueDim]
};

Row random_row(std::mt19937& rng, int keys, float score_stddev, double masked_fraction) {
  std::normal_distribution<float> normal(0.f, 1.f);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  Row row;
  for (int k = 0; k < keys; ++k) {
    row.scores.push_back(uniform(rng) < masked_fraction ? kMasked : score_stddev * normal(rng));
    row.values.push_back({normal(rng), normal(rng), normal(rng)});
  }
  return row;
}

struct Expected {
  double lse;                // natural log of Σ exp(scale · s), −inf when empty
  double output[kValueDim];  // softmax-weighted sum of the values, 0 when empty
};

Expected exact(const Row& row, int begin, int end, double scale) {
  double max = -std::numeric_limits<double>::infinity();
  for (int k = begin; k < end; ++k) max = std::max(max, double(row.scores[k]));
  Expected e{-std::numeric_limits<double>::infinity(), {0.0, 0.0, 0.0}};
  if (max == -std::numeric_limits<double>::infinity()) return e;
  double sum = 0.0;
  for (int k = begin; k < end; ++k) {
    const double p = std::exp(scale * (row.scores[k] - max));
    sum += p;
    for (int d = 0; d < kValueDim; ++d) e.output[d] += p * row.values[k][d];
  }
  for (int d = 0; d < kValueDim; ++d) e.output[d] /= sum;
  e.lse = scale * max + std::log(sum);
  return e;
}

// A part's statistics and unnormalized output P̃V, as one warp computes them over its keys.
struct Partial {
  SoftmaxStats stats;
  float output[kValueDim];
};

Partial partial(const Row& row, int begin, int end, float scale_log2) {
  Partial part{SoftmaxStats::empty(), {0.f, 0.f, 0.f}};
  for (int k = begin; k < end; ++k) part.stats.max = std::max(part.stats.max, row.scores[k]);
  if (part.stats.max == kMasked) return part;
  for (int k = begin; k < end; ++k) {
    const float p = fast_exp2((row.scores[k] - part.stats.max) * scale_log2);
    part.stats.sum += p;
    for (int d = 0; d < kValueDim; ++d) part.output[d] += p * row.values[k][d];
  }
  return part;
}

// The split-K combine of Parts equal slices of keys [begin, end): the block's statistics and
// its unnormalized output.
template <int Parts>
Partial combine(const Row& row, int begin, int end, float scale_log2) {
  const int width = (end - begin + Parts - 1) / Parts;
  SoftmaxStats stats[Parts];
  Partial parts[Parts];
  for (int p = 0; p < Parts; ++p) {
    parts[p] = partial(row, std::min(end, begin + p * width), std::min(end, begin + (p + 1) * width), scale_log2);
    stats[p] = parts[p].stats;
  }
  float factor[Parts];
  Partial block{merge_partials(stats, scale_log2, factor), {0.f, 0.f, 0.f}};
  for (int p = 0; p < Parts; ++p) {
    REQUIRE(factor[p] >= 0.f);
    REQUIRE(factor[p] <= 1.f);
    for (int d = 0; d < kValueDim; ++d) block.output[d] += factor[p] * parts[p].output[d];
  }
  return block;
}

void check_close(const float (&output)[kValueDim], float lse, const Expected& expected) {
  for (int d = 0; d < kValueDim; ++d) {
    INFO("column " << d << ": " << output[d] << " vs " << expected.output[d]);
    REQUIRE_FALSE(std::isnan(output[d]));
    CHECK(std::abs(output[d] - expected.output[d]) <= 2e-5 * (1.0 + std::abs(expected.output[d])));
  }
  INFO("lse " << lse << " vs " << expected.lse);
  if (std::isinf(expected.lse)) {
    CHECK(lse == kMasked);
  } else {
    CHECK(std::abs(lse - expected.lse) <= 1e-5 * std::max(1.0, std::abs(expected.lse)));
  }
}

// Algorithm 1 on one row: blocks of `block_keys`, each split between Parts warps, merged into a
// normalized output kept between blocks.
template <int Parts>
void run_algorithm_1(const Row& row, int block_keys, float scale) {
  const float scale_log2 = scale * kLog2e;
  SoftmaxStats running = SoftmaxStats::empty();
  float output[kValueDim] = {0.f, 0.f, 0.f};
  const int keys = static_cast<int>(row.scores.size());
  for (int begin = 0; begin < keys; begin += block_keys) {
    const Partial block = combine<Parts>(row, begin, std::min(keys, begin + block_keys), scale_log2);
    const NormalizedUpdate update = normalized_update(running, block.stats, scale_log2);
    for (int d = 0; d < kValueDim; ++d) output[d] = update.old_scale * output[d] + update.block_scale * block.output[d];
    running = update.stats;
    // After each block the output is the exact softmax of the keys seen so far.
    INFO("after keys [0, " << std::min(keys, begin + block_keys) << ")");
    check_close(output, log_sum_exp(running, scale_log2), exact(row, 0, std::min(keys, begin + block_keys), scale));
  }
}

}  // namespace

TEST_CASE("rescale_factor: exp2 of the max difference, 0 for an empty part", "[softmax][merge]") {
  CHECK(rescale_factor(kMasked, kMasked, 1.f) == 0.f);
  CHECK(rescale_factor(kMasked, 3.f, 1.f) == 0.f);
  CHECK(rescale_factor(2.f, 2.f, 0.7f) == 1.f);
  CHECK(std::abs(rescale_factor(1.f, 3.f, 0.5f) - std::exp2(-1.f)) < 1e-7f);
}

TEST_CASE("merge_partials equals the softmax over the union, in any split", "[softmax][merge]") {
  std::mt19937 rng(5);
  for (int keys : {1, 2, 7, 16, 64, 100}) {
    for (double masked : {0.0, 0.3, 0.9}) {
      const Row row = random_row(rng, keys, 3.f, masked);
      const float scale = 0.37f;
      INFO(keys << " keys, masked fraction " << masked);
      const Expected expected = exact(row, 0, keys, scale);
      auto check = [&](const Partial& block) {
        float output[kValueDim];
        for (int d = 0; d < kValueDim; ++d) output[d] = block.stats.sum > 0.f ? block.output[d] / block.stats.sum : 0.f;
        check_close(output, log_sum_exp(block.stats, scale * kLog2e), expected);
      };
      check(combine<1>(row, 0, keys, scale * kLog2e));
      check(combine<2>(row, 0, keys, scale * kLog2e));
      check(combine<4>(row, 0, keys, scale * kLog2e));
      check(combine<8>(row, 0, keys, scale * kLog2e));
    }
  }
}

TEST_CASE("merge_partials of empty parts is empty, with zero factors and no NaN", "[softmax][merge]") {
  SoftmaxStats parts[4] = {SoftmaxStats::empty(), SoftmaxStats::empty(), SoftmaxStats::empty(), SoftmaxStats::empty()};
  float factor[4];
  const SoftmaxStats merged = merge_partials(parts, 1.f, factor);
  CHECK(merged.max == kMasked);
  CHECK(merged.sum == 0.f);
  for (float f : factor) CHECK(f == 0.f);

  // One non-empty part: its factor is exactly 1, the others 0.
  parts[2] = {5.f, 3.f};
  const SoftmaxStats one = merge_partials(parts, 1.f, factor);
  CHECK(one.max == 5.f);
  CHECK(one.sum == 3.f);
  CHECK(factor[2] == 1.f);
  CHECK(factor[0] == 0.f);
}

TEST_CASE("normalized_update block after block gives the softmax of the keys seen so far", "[softmax][merge]") {
  std::mt19937 rng(11);
  for (int keys : {1, 5, 33, 200}) {
    for (double masked : {0.0, 0.5, 0.95}) {
      for (float stddev : {1.f, 30.f}) {
        const Row row = random_row(rng, keys, stddev, masked);
        INFO(keys << " keys, masked fraction " << masked << ", score stddev " << stddev);
        run_algorithm_1<1>(row, 7, 0.125f);
        run_algorithm_1<4>(row, 16, 0.125f);
        run_algorithm_1<4>(row, 64, 1.f);
      }
    }
  }
}

TEST_CASE("normalized_update leaves rows that kept nothing at zero, and ignores empty blocks", "[softmax][merge]") {
  // Nothing kept yet, an empty block: both scales 0 (O stays 0), the state stays empty.
  NormalizedUpdate update = normalized_update(SoftmaxStats::empty(), SoftmaxStats::empty(), 1.f);
  CHECK(update.stats.max == kMasked);
  CHECK(update.stats.sum == 0.f);
  CHECK(update.old_scale == 0.f);
  CHECK(update.block_scale == 0.f);
  CHECK(log_sum_exp(update.stats, 1.f) == kMasked);

  // The first block with anything kept: the old output (0) is dropped, the block normalized.
  update = normalized_update(SoftmaxStats::empty(), {2.f, 4.f}, 1.f);
  CHECK(update.stats.max == 2.f);
  CHECK(update.stats.sum == 4.f);
  CHECK(update.old_scale == 0.f);
  CHECK(update.block_scale == 0.25f);

  // An empty block after that: the output is kept exactly.
  update = normalized_update({2.f, 4.f}, SoftmaxStats::empty(), 1.f);
  CHECK(update.stats.max == 2.f);
  CHECK(update.stats.sum == 4.f);
  CHECK(update.old_scale == 1.f);
  CHECK(update.block_scale == 0.f);
}
