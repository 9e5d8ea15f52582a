// Tests of softmax/online_softmax.cuh on the host (the same code the kernels run): absorbing a
// row block by block, in any split, and rescaling the output as told must give the two-pass
// softmax-weighted sum and the log-sum-exp of a float64 computation, also with masked (-inf)
// scores, fully masked rows and very large scores, and with rows spread over several threads.

#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <utility>
#include <vector>

#include "attnkit/softmax/online_softmax.cuh"

using attnkit::kLog2e;
using attnkit::OnlineSoftmax;
using attnkit::ThreadRowReduce;

namespace {

constexpr int kRows = 4;      // rows held by one accumulator
constexpr int kValueDim = 3;  // columns of V (and of O)
constexpr float kMasked = -std::numeric_limits<float>::infinity();

// The score tile contract of OnlineSoftmax: the part of each row one thread owns.
template <int Rows, int Cols>
struct HostScoreTile {
  static constexpr int kThreadRows = Rows;
  static constexpr int kThreadCols = Cols;
  float values[Rows][Cols];
  float& at(int row, int col) { return values[row][col]; }
};

// Block widths a row may be cut into (the column count of a tile is a compile-time constant).
// Every row length used below is also in the list, so a row can be absorbed whole.
template <int... Widths>
struct WidthList {
  static constexpr int kWidths[] = {Widths...};
  static constexpr bool contains(int width) { return ((width == Widths) || ...); }
};
using BlockWidths = WidthList<1, 2, 3, 4, 5, 7, 8, 13, 16, 31, 32, 64, 97, 128, 200, 256, 1000>;

// One problem: kRows rows of scores (length n each, shared block split) and V (n × kValueDim).
struct Problem {
  int length = 0;
  float softmax_scale = 1.f;
  std::vector<std::vector<float>> scores;  // [kRows][length]
  std::vector<std::vector<float>> values;  // [length][kValueDim]
};

struct Result {
  float o[kRows][kValueDim];
  float lse[kRows];
  float normalizer[kRows];
};

bool is_nan(float x) { return std::isnan(x); }

// The absorb / rescale / accumulate loop of a kernel, on one block of `Width` columns.
struct OnlineRun {
  const Problem& problem;
  float scale_log2;
  OnlineSoftmax<kRows> softmax;
  float o[kRows][kValueDim] = {};
  // Running maxima of the kept scores seen so far, to check row_max against.
  float seen_max[kRows];

  explicit OnlineRun(const Problem& p) : problem(p), scale_log2(p.softmax_scale * kLog2e) {
    softmax.reset();
    for (int r = 0; r < kRows; ++r) {
      REQUIRE(softmax.row_max[r] == kMasked);
      REQUIRE(softmax.row_sum[r] == 0.f);
      seen_max[r] = kMasked;
    }
  }

  template <int Width>
  void absorb(int key0) {
    HostScoreTile<kRows, Width> tile;
    for (int r = 0; r < kRows; ++r)
      for (int c = 0; c < Width; ++c) {
        tile.at(r, c) = problem.scores[r][key0 + c];
        seen_max[r] = std::max(seen_max[r], tile.at(r, c));
      }
    float o_rescale[kRows];
    softmax.absorb(tile, scale_log2, o_rescale, ThreadRowReduce{});
    for (int r = 0; r < kRows; ++r) {
      INFO("row " << r << ", block [" << key0 << ", " << key0 + Width << ")");
      REQUIRE(!is_nan(o_rescale[r]));
      REQUIRE(o_rescale[r] >= 0.f);
      REQUIRE(o_rescale[r] <= 1.f);
      REQUIRE(softmax.row_max[r] == seen_max[r]);
      REQUIRE(!is_nan(softmax.row_sum[r]));
      REQUIRE(std::isfinite(softmax.row_sum[r]));
      for (int d = 0; d < kValueDim; ++d) o[r][d] *= o_rescale[r];
      for (int c = 0; c < Width; ++c) {
        const float p = tile.at(r, c);
        REQUIRE(!is_nan(p));
        REQUIRE(p >= 0.f);
        // p = exp2(s·c − m·c) ≤ 1, but for the rounding of m·c (half an ulp of it) subtracted.
        REQUIRE(p <= 1.f + 1e-6f + std::abs(softmax.row_max[r] * scale_log2) * 0x1p-23f);
        if (problem.scores[r][key0 + c] == kMasked) REQUIRE(p == 0.f);
        for (int d = 0; d < kValueDim; ++d) o[r][d] += p * problem.values[key0 + c][d];
      }
    }
  }

  template <int... Widths>
  void absorb_any(int width, int key0, WidthList<Widths...>) {
    const bool dispatched = ((width == Widths ? (absorb<Widths>(key0), true) : false) || ...);
    REQUIRE(dispatched);
  }

  Result finish() {
    Result result;
    softmax.finalize(scale_log2, ThreadRowReduce{}, result.normalizer, result.lse);
    for (int r = 0; r < kRows; ++r)
      for (int d = 0; d < kValueDim; ++d) result.o[r][d] = o[r][d] * result.normalizer[r];
    return result;
  }
};

Result run_online(const Problem& problem, const std::vector<int>& split) {
  OnlineRun run(problem);
  int key0 = 0;
  for (int width : split) {
    run.absorb_any(width, key0, BlockWidths{});
    key0 += width;
  }
  REQUIRE(key0 == problem.length);
  return run.finish();
}

// Two passes in float64: the definition.
struct Expected {
  double o[kRows][kValueDim];
  double o_magnitude[kRows];  // Σ w |v| / Σ w: the scale of the rounding error O may carry
  double lse[kRows];
  bool empty[kRows];
};

Expected two_pass(const Problem& problem) {
  Expected e{};
  const double scale = problem.softmax_scale;
  for (int r = 0; r < kRows; ++r) {
    double row_max = -std::numeric_limits<double>::infinity();
    for (float s : problem.scores[r]) row_max = std::max(row_max, static_cast<double>(s));
    e.empty[r] = std::isinf(row_max) && row_max < 0;
    if (e.empty[r]) {
      e.lse[r] = -std::numeric_limits<double>::infinity();
      e.o_magnitude[r] = 0;
      continue;
    }
    double sum = 0, magnitude = 0;
    double weighted[kValueDim] = {};
    for (int k = 0; k < problem.length; ++k) {
      const double w = std::exp(scale * (static_cast<double>(problem.scores[r][k]) - row_max));
      sum += w;
      for (int d = 0; d < kValueDim; ++d) {
        weighted[d] += w * problem.values[k][d];
        magnitude += w * std::abs(problem.values[k][d]);
      }
    }
    for (int d = 0; d < kValueDim; ++d) e.o[r][d] = weighted[d] / sum;
    e.o_magnitude[r] = magnitude / (sum * kValueDim);
    e.lse[r] = scale * row_max + std::log(sum);
  }
  return e;
}

void check_against_two_pass(const Problem& problem, const Result& got) {
  const Expected want = two_pass(problem);
  for (int r = 0; r < kRows; ++r) {
    INFO("row " << r << " (length " << problem.length << ", scale " << problem.softmax_scale << ")");
    REQUIRE(!is_nan(got.lse[r]));
    REQUIRE(!is_nan(got.normalizer[r]));
    if (want.empty[r]) {
      REQUIRE(got.normalizer[r] == 0.f);
      REQUIRE(std::isinf(got.lse[r]));
      REQUIRE(got.lse[r] < 0.f);
      for (int d = 0; d < kValueDim; ++d) REQUIRE(got.o[r][d] == 0.f);
      continue;
    }
    // LSE crosses zero, so its relative error is taken against max(|LSE|, 1).
    INFO("lse " << got.lse[r] << ", expected " << want.lse[r]);
    REQUIRE(std::abs(got.lse[r] - want.lse[r]) <= 1e-6 * std::max(std::abs(want.lse[r]), 1.0));
    for (int d = 0; d < kValueDim; ++d) {
      INFO("O[" << d << "] = " << got.o[r][d] << ", expected " << want.o[r][d]);
      REQUIRE(!is_nan(got.o[r][d]));
      REQUIRE(std::abs(got.o[r][d] - want.o[r][d]) <= 1e-5 * want.o_magnitude[r]);
    }
  }
}

// Random block widths from the list, summing to `length`.
std::vector<int> random_split(int length, std::mt19937& rng) {
  std::vector<int> split;
  int left = length;
  while (left > 0) {
    std::vector<int> fitting;
    for (int w : BlockWidths::kWidths)
      if (w <= left) fitting.push_back(w);
    const int width = fitting[std::uniform_int_distribution<int>(0, static_cast<int>(fitting.size()) - 1)(rng)];
    split.push_back(width);
    left -= width;
  }
  return split;
}

std::vector<std::vector<int>> splits_of(int length, std::mt19937& rng) {
  std::vector<std::vector<int>> splits;
  splits.push_back({length});                        // the whole row
  splits.push_back(std::vector<int>(length, 1));     // one column at a time
  for (int i = 0; i < 6; ++i) splits.push_back(random_split(length, rng));
  return splits;
}

Problem random_problem(int length, float sigma, float softmax_scale, std::mt19937& rng) {
  Problem p;
  p.length = length;
  p.softmax_scale = softmax_scale;
  std::normal_distribution<float> score(0.f, sigma);
  std::normal_distribution<float> value(0.f, 1.f);
  p.scores.assign(kRows, std::vector<float>(length));
  for (auto& row : p.scores)
    for (float& s : row) s = score(rng);
  p.values.assign(length, std::vector<float>(kValueDim));
  for (auto& row : p.values)
    for (float& v : row) v = value(rng);
  return p;
}

constexpr int kLengths[] = {1, 2, 5, 16, 97, 256, 1000};
constexpr float kSigmas[] = {1.f, 10.f, 100.f};
const float kScales[] = {1.f, 0.125f, 1.f / std::sqrt(96.f)};

}  // namespace

TEST_CASE("online softmax matches the two-pass softmax for any block split", "[softmax]") {
  static_assert(BlockWidths::contains(1) && BlockWidths::contains(1000), "row lengths must be absorbable whole");
  std::mt19937 rng(20240611);
  for (int length : kLengths) {
    for (float sigma : kSigmas) {
      for (float scale : kScales) {
        const Problem problem = random_problem(length, sigma, scale, rng);
        for (const std::vector<int>& split : splits_of(length, rng)) {
          INFO("length " << length << ", sigma " << sigma << ", scale " << scale << ", " << split.size()
                         << " blocks");
          check_against_two_pass(problem, run_online(problem, split));
        }
      }
    }
  }
}

TEST_CASE("online softmax handles masked (-inf) scores and fully masked rows", "[softmax]") {
  // Row 0: random entries masked. Row 1: everything masked. Row 2: the first block masked, later
  // blocks kept. Row 3: the last block masked, earlier blocks kept.
  std::mt19937 rng(7);
  std::bernoulli_distribution drop(0.3);
  for (int length : kLengths) {
    for (float sigma : kSigmas) {
      const Problem base = random_problem(length, sigma, 0.125f, rng);
      for (const std::vector<int>& split : splits_of(length, rng)) {
        Problem problem = base;
        for (float& s : problem.scores[0])
          if (drop(rng)) s = kMasked;
        for (float& s : problem.scores[1]) s = kMasked;
        const int first_block_end = split.front();
        const int last_block_begin = length - split.back();
        for (int k = 0; k < first_block_end; ++k) problem.scores[2][k] = kMasked;
        for (int k = last_block_begin; k < length; ++k) problem.scores[3][k] = kMasked;
        INFO("length " << length << ", sigma " << sigma << ", " << split.size() << " blocks, first "
                       << first_block_end << ", last from " << last_block_begin);
        check_against_two_pass(problem, run_online(problem, split));
      }
    }
  }
}

TEST_CASE("a fully masked row stays NaN-free at every step", "[softmax]") {
  Problem problem;
  problem.length = 8;
  problem.softmax_scale = 0.5f;
  problem.scores.assign(kRows, std::vector<float>(8, kMasked));
  problem.values.assign(8, std::vector<float>(kValueDim, 1.f));
  OnlineRun run(problem);
  run.absorb<3>(0);
  run.absorb<5>(3);
  for (int r = 0; r < kRows; ++r) {
    REQUIRE(run.softmax.row_max[r] == kMasked);
    REQUIRE(run.softmax.row_sum[r] == 0.f);
  }
  const Result result = run.finish();
  for (int r = 0; r < kRows; ++r) {
    REQUIRE(result.normalizer[r] == 0.f);
    REQUIRE(result.lse[r] == kMasked);
    for (int d = 0; d < kValueDim; ++d) REQUIRE(result.o[r][d] == 0.f);
  }
}

TEST_CASE("masked first block, then kept scores: the empty history is dropped, not NaN", "[softmax]") {
  Problem problem;
  problem.length = 4;
  problem.softmax_scale = 1.f;
  problem.scores.assign(kRows, {kMasked, kMasked, 2.f, 2.f});
  problem.values = {{100.f, 100.f, 100.f}, {100.f, 100.f, 100.f}, {1.f, 2.f, 3.f}, {3.f, 2.f, 1.f}};
  OnlineRun run(problem);
  run.absorb<2>(0);
  HostScoreTile<kRows, 2> tile;
  for (int r = 0; r < kRows; ++r) tile.at(r, 0) = tile.at(r, 1) = 2.f;
  float o_rescale[kRows];
  run.softmax.absorb(tile, run.scale_log2, o_rescale, ThreadRowReduce{});
  for (int r = 0; r < kRows; ++r) {
    REQUIRE(o_rescale[r] == 0.f);  // exp(-inf − 2): what was summed before weighs nothing
    REQUIRE(tile.at(r, 0) == 1.f);
    REQUIRE(run.softmax.row_sum[r] == 2.f);
  }
  float normalizer[kRows], lse[kRows];
  run.softmax.finalize(run.scale_log2, ThreadRowReduce{}, normalizer, lse);
  for (int r = 0; r < kRows; ++r) {
    REQUIRE(normalizer[r] == 0.5f);
    REQUIRE(std::abs(lse[r] - (2.f + std::log(2.f))) <= 1e-6f * 3.f);
  }
}

TEST_CASE("the rescale factor is exp(scale · (m_old − m_new))", "[softmax]") {
  Problem problem;
  problem.length = 4;
  problem.softmax_scale = 0.5f;
  problem.scores.assign(kRows, {1.f, -3.f, 5.f, 0.f});
  problem.values.assign(4, std::vector<float>(kValueDim, 0.f));
  OnlineSoftmax<kRows> softmax;
  softmax.reset();
  const float scale_log2 = 0.5f * kLog2e;
  float o_rescale[kRows];
  HostScoreTile<kRows, 2> first, second;
  for (int r = 0; r < kRows; ++r) {
    first.at(r, 0) = 1.f, first.at(r, 1) = -3.f;
    second.at(r, 0) = 5.f, second.at(r, 1) = 0.f;
  }
  softmax.absorb(first, scale_log2, o_rescale, ThreadRowReduce{});
  for (int r = 0; r < kRows; ++r) {
    REQUIRE(o_rescale[r] == 0.f);  // nothing was accumulated before
    REQUIRE(first.at(r, 0) == 1.f);
    REQUIRE(std::abs(first.at(r, 1) - std::exp(-2.0)) <= 1e-6);
  }
  softmax.absorb(second, scale_log2, o_rescale, ThreadRowReduce{});
  for (int r = 0; r < kRows; ++r) {
    REQUIRE(std::abs(o_rescale[r] - std::exp(0.5 * (1.0 - 5.0))) <= 1e-6 * std::exp(-2.0));
    REQUIRE(softmax.row_max[r] == 5.f);
    const double want_sum = std::exp(-2.0) + std::exp(-4.0) + 1.0 + std::exp(-2.5);
    REQUIRE(std::abs(softmax.row_sum[r] - want_sum) <= 1e-6 * want_sum);
  }
  // A block whose maximum is below the running one leaves the accumulator as it is.
  HostScoreTile<kRows, 1> lower;
  for (int r = 0; r < kRows; ++r) lower.at(r, 0) = 4.f;
  softmax.absorb(lower, scale_log2, o_rescale, ThreadRowReduce{});
  for (int r = 0; r < kRows; ++r) REQUIRE(o_rescale[r] == 1.f);
}

TEST_CASE("very large scores neither overflow nor lose the weights", "[softmax]") {
  std::mt19937 rng(99);
  for (float center : {1e4f, -1e4f}) {
    for (float scale : kScales) {
      for (int length : {5, 97, 256}) {
        Problem problem = random_problem(length, 1.f, scale, rng);
        for (auto& row : problem.scores)
          for (float& s : row) s += center;
        // One row jumps by a large amount partway through: the earlier history must vanish.
        for (int k = length / 2; k < length; ++k) problem.scores[1][k] += 1e4f;
        for (const std::vector<int>& split : splits_of(length, rng)) {
          INFO("center " << center << ", scale " << scale << ", length " << length);
          const Result result = run_online(problem, split);
          for (int r = 0; r < kRows; ++r) {
            REQUIRE(std::isfinite(result.lse[r]));
            REQUIRE(std::isfinite(result.normalizer[r]));
            REQUIRE(result.normalizer[r] > 0.f);
          }
          check_against_two_pass(problem, result);
        }
      }
    }
  }
}

namespace {

// A row spread over `kThreads` threads, each owning every kThreads-th column group (as the
// lanes of a group own columns of an mma accumulator row). The reduction a warp would do with
// shuffles is replaced by values the test computes beforehand for all threads; OnlineSoftmax
// asks for them in row order.
constexpr int kThreads = 4;

struct PrecomputedReduce {
  const float* row_values;  // [kRows], what every thread of row r gets back
  mutable int calls = 0;
  float max(float x) const { return combine(x); }
  float sum(float x) const { return combine(x); }
  float combine(float own) const {
    const float all = row_values[calls++ % kRows];
    (void)own;
    return all;
  }
};

}  // namespace

TEST_CASE("rows split over threads combine through the Reduce policy", "[softmax]") {
  constexpr int kBlock = 16;                   // columns per block, all threads together
  constexpr int kOwn = kBlock / kThreads;      // columns per thread
  constexpr int kBlocks = 5;
  std::mt19937 rng(5);
  for (float sigma : kSigmas) {
    Problem problem = random_problem(kBlock * kBlocks, sigma, 0.125f, rng);
    for (int k = 0; k < kBlock; ++k) problem.scores[2][k] = kMasked;  // first block masked
    for (float& s : problem.scores[3]) s = kMasked;                   // all masked
    const float scale_log2 = problem.softmax_scale * kLog2e;

    OnlineSoftmax<kRows> softmax[kThreads];
    float o[kRows][kValueDim] = {};
    for (auto& s : softmax) s.reset();
    for (int block = 0; block < kBlocks; ++block) {
      HostScoreTile<kRows, kOwn> tiles[kThreads];
      float block_max[kRows];
      for (int r = 0; r < kRows; ++r) {
        block_max[r] = kMasked;
        for (int t = 0; t < kThreads; ++t)
          for (int c = 0; c < kOwn; ++c) {
            // Thread t owns columns 2t, 2t+1, 2t+8, 2t+9 of the block: the mma C layout.
            const int key = block * kBlock + (c / 2) * 8 + 2 * t + c % 2;
            tiles[t].at(r, c) = problem.scores[r][key];
            block_max[r] = std::max(block_max[r], tiles[t].at(r, c));
          }
      }
      float o_rescale[kThreads][kRows];
      for (int t = 0; t < kThreads; ++t)
        softmax[t].absorb(tiles[t], scale_log2, o_rescale[t], PrecomputedReduce{block_max});
      for (int r = 0; r < kRows; ++r) {
        for (int t = 1; t < kThreads; ++t) REQUIRE(o_rescale[t][r] == o_rescale[0][r]);
        for (int d = 0; d < kValueDim; ++d) o[r][d] *= o_rescale[0][r];
        for (int t = 0; t < kThreads; ++t)
          for (int c = 0; c < kOwn; ++c) {
            const int key = block * kBlock + (c / 2) * 8 + 2 * t + c % 2;
            for (int d = 0; d < kValueDim; ++d) o[r][d] += tiles[t].at(r, c) * problem.values[key][d];
          }
      }
    }
    float total_sum[kRows] = {};
    for (int r = 0; r < kRows; ++r)
      for (int t = 0; t < kThreads; ++t) total_sum[r] += softmax[t].row_sum[r];
    Result per_thread[kThreads];
    for (int t = 0; t < kThreads; ++t)
      softmax[t].finalize(scale_log2, PrecomputedReduce{total_sum}, per_thread[t].normalizer, per_thread[t].lse);
    Result result = per_thread[0];
    for (int r = 0; r < kRows; ++r) {
      for (int t = 1; t < kThreads; ++t) {
        REQUIRE(per_thread[t].normalizer[r] == result.normalizer[r]);
        REQUIRE((per_thread[t].lse[r] == result.lse[r]));
      }
      for (int d = 0; d < kValueDim; ++d) result.o[r][d] = o[r][d] * result.normalizer[r];
    }
    INFO("sigma " << sigma);
    check_against_two_pass(problem, result);
  }
}
