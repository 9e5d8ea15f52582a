// A seeded random-shape fuzzer against the float64 reference, through the runtime dispatch
// (Hopper kernels where they apply, sm_80 kernels elsewhere): batch, heads and GQA ratio,
// s_q and s_k from 1 to 8192 (unequal too), every head dim, fp16 and bf16, causal in both
// alignments, sliding windows or none, varlen batches with zero-length sequences, BSHD and BHSD
// strides, large-magnitude inputs, dropout. Every case checks the forward; every other case the
// backward too (a smaller size budget: its reference costs three times as much).
//
// Built for ATTNKIT_RUN_ARCHITECTURES only (cmake/attnkitDevelopment.cmake): on a GPU of
// another architecture the test skips, saying so.
//
// ATTNKIT_FUZZ_SEED (default 2026) and ATTNKIT_FUZZ_CASES (default 500) choose the run; a
// failing case prints the seed and its index, and ATTNKIT_FUZZ_ONLY=<index> replays just it.

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch_test_macros.hpp>

#include "support/backward_check.cuh"
#include "support/forward_check.cuh"
#include "fuzz_launch.h"

namespace {

using namespace attnkit;
using namespace attnkit::testing;

struct FuzzCase {
  ForwardCase shape;
  int head_dim;
  bool bf16;
};


int env_int(const char* name, int fallback) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::atoi(value) : fallback;
}

// Multiply-adds of one forward pass over the case (what its CPU reference costs).
double reference_cost(const ForwardCase& c, int head_dim) {
  double pairs = 0.0;
  if (c.varlen_q.empty()) {
    pairs = double(c.batch) * c.seqlen_q * c.seqlen_k;
  } else {
    for (std::size_t b = 0; b < c.varlen_q.size(); ++b) pairs += double(c.varlen_q[b]) * c.varlen_k[b];
  }
  return pairs * c.heads_q * head_dim;
}

FuzzCase draw_case(std::mt19937_64& rng, double budget) {
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto chance = [&](double p) { return std::uniform_real_distribution<double>(0.0, 1.0)(rng) < p; };
  // Lengths log-uniform over 1 .. 8192, so short, tile-edge and long sequences all come up.
  auto length = [&] {
    const double exponent = std::uniform_real_distribution<double>(0.0, 13.0)(rng);
    return std::max(1, static_cast<int>(std::exp2(exponent)));
  };
  static const int kHeadDims[] = {32, 64, 96, 128, 192, 256};
  for (;;) {
    FuzzCase f;
    f.head_dim = kHeadDims[uniform(0, 5)];
    f.bf16 = chance(0.5);
    ForwardCase& c = f.shape;
    c.heads_kv = uniform(1, 3);
    c.heads_q = c.heads_kv * (chance(0.5) ? 1 : uniform(2, 4));
    c.seqlen_q = length();
    c.seqlen_k = chance(0.4) ? c.seqlen_q : length();
    c.batch = uniform(1, 3);
    if (chance(0.25)) {  // varlen, some entries empty
      const int entries = uniform(1, 5);
      for (int b = 0; b < entries; ++b) {
        const bool empty = chance(0.15);
        c.varlen_q.push_back(empty ? 0 : std::min(length(), c.seqlen_q));
        c.varlen_k.push_back(empty && chance(0.5) ? 0 : std::min(length(), c.seqlen_k));
      }
      if (*std::max_element(c.varlen_q.begin(), c.varlen_q.end()) == 0) c.varlen_q[0] = 1;
      if (*std::max_element(c.varlen_k.begin(), c.varlen_k.end()) == 0) c.varlen_k[0] = 1;
    }
    const int band = uniform(0, 4);
    if (band == 1) c.band = BandMask::causal();
    if (band == 2) c.band = BandMask::causal(MaskAlignment::top_left);
    if (band == 3) c.band = BandMask::window(uniform(0, 300), chance(0.5) ? 0 : uniform(0, 100));
    if (band == 4 && chance(0.3)) c.band = BandMask::window(-1, uniform(0, 50));
    c.layout = c.varlen_q.empty() && chance(0.3) ? Layout::bhsd : Layout::bshd;
    c.input_stddev = chance(0.2) ? 3.0 : 1.0;
    c.with_lse = chance(0.8);
    if (chance(0.1)) c.dropout = 0.15f;
    if (reference_cost(c, f.head_dim) <= budget) return f;
  }
}

template <class Element>
void check_case(const FuzzCase& f, bool backward) {
  const ForwardLauncher forward = [](const AttentionProblem& p) { fuzz_forward(p); };
  check_forward<Element>(f.head_dim, f.shape, forward);
  if (backward) {
    check_backward<Element>(f.head_dim, f.shape, forward,
                            [](const AttentionProblem& p, const BackwardGradients& g) { fuzz_backward(p, g); });
  }
}

}  // namespace

TEST_CASE("fuzz: random shapes against the float64 reference, forward and backward", "[fuzz]") {
  if (!built_for_this_gpu())
    SKIP("the fuzzer was built for other architectures than this GPU's (ATTNKIT_RUN_ARCHITECTURES)");
  const uint64_t seed = static_cast<uint64_t>(env_int("ATTNKIT_FUZZ_SEED", 2026));
  const int cases = env_int("ATTNKIT_FUZZ_CASES", 500);
  const int only = env_int("ATTNKIT_FUZZ_ONLY", -1);
  std::mt19937_64 rng(seed);
  for (int i = 0; i < cases; ++i) {
    // Most cases small, one in ten up to about 50x larger (the long sequences).
    const bool large = i % 10 == 9;
    const bool backward = i % 2 == 0;
    FuzzCase f = draw_case(rng, (large ? 2e9 : 4e7) / (backward ? 3.0 : 1.0));
    f.shape.seed = seed * 1000 + i;
    if (only >= 0 && i != only) continue;
    INFO("fuzz seed " << seed << ", case " << i << " (replay: ATTNKIT_FUZZ_SEED=" << seed
                      << " ATTNKIT_FUZZ_ONLY=" << i << ")");
    if (f.bf16) {
      check_case<bfloat16_t>(f, backward);
    } else {
      check_case<half_t>(f, backward);
    }
  }
}

namespace attnkit::testing {

// A kernel of this binary must have attributes on the current GPU.
__global__ void fuzz_probe_kernel() {}
bool built_for_this_gpu() {
  cudaFuncAttributes attributes;
  const bool built = cudaFuncGetAttributes(&attributes, fuzz_probe_kernel) == cudaSuccess;
  cudaGetLastError();  // clear the error a missing image leaves
  return built;
}

}  // namespace attnkit::testing
