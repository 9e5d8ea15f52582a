#pragma once
// Test support: the correctness matrix shared by the forward and backward tests, built from a
// spec (square seqlens, windows, seeds) so each pass picks sizes its CPU reference can afford:
// square seqlens with and without causal masking, s_q != s_k both ways with both causal
// alignments, sliding windows, GQA and MQA, varlen, BHSD strides, scores up to about ±30.

#include <cstdint>
#include <utility>
#include <vector>

#include "support/forward_check.cuh"

namespace attnkit::testing {

struct CaseMatrixSpec {
  uint64_t first_seed;
  std::vector<int> seqlens;       // square problems, each without a mask and causal
  std::vector<BandMask> windows;  // each on s_q = 333, s_k = 400
};

inline std::vector<ForwardCase> case_matrix(const CaseMatrixSpec& spec) {
  std::vector<ForwardCase> cases;
  uint64_t seed = spec.first_seed;
  auto add = [&](ForwardCase c) {
    c.seed = seed += 10;
    cases.push_back(c);
  };
  const BandMask causal_br = BandMask::causal(MaskAlignment::bottom_right);
  const BandMask causal_tl = BandMask::causal(MaskAlignment::top_left);
  for (int seqlen : spec.seqlens) {
    for (BandMask band : {BandMask::none(), causal_br}) {
      ForwardCase c;
      c.batch = 2;
      c.heads_q = c.heads_kv = 2;
      c.seqlen_q = c.seqlen_k = seqlen;
      c.band = band;
      add(c);
    }
  }
  // s_q != s_k both ways, both causal alignments. Bottom-right with s_q > s_k leaves the first
  // rows with no key at all (O = 0, LSE = -inf, zero dQ); top-left with s_q < s_k leaves the
  // last keys with no query (zero dK, dV).
  for (auto [sq, sk] : {std::pair{100, 300}, std::pair{300, 100}, std::pair{1, 129}, std::pair{129, 1}}) {
    for (BandMask band : {BandMask::none(), causal_br, causal_tl}) {
      ForwardCase c;
      c.heads_q = c.heads_kv = 2;
      c.seqlen_q = sq;
      c.seqlen_k = sk;
      c.band = band;
      add(c);
    }
  }
  // Sliding windows.
  for (BandMask band : spec.windows) {
    ForwardCase c;
    c.heads_q = c.heads_kv = 2;
    c.seqlen_q = 333;
    c.seqlen_k = 400;
    c.band = band;
    add(c);
  }
  // GQA and MQA.
  for (int heads_kv : {3, 1}) {
    ForwardCase c;
    c.batch = 2;
    c.heads_q = 6;
    c.heads_kv = heads_kv;
    c.seqlen_q = c.seqlen_k = 200;
    c.band = causal_br;
    add(c);
  }
  // Varlen, with an entry shorter than a tile and one of length 1.
  {
    ForwardCase c;
    c.heads_q = 4;
    c.heads_kv = 2;
    c.varlen_q = {1, 17, 200, 129};
    c.varlen_k = {5, 17, 150, 300};
    add(c);
    c.band = causal_br;
    add(c);
  }
  // BHSD strides; large scores (±30) with and without masking; no LSE output (a backward
  // check asks for it regardless).
  {
    ForwardCase c;
    c.batch = 2;
    c.heads_q = c.heads_kv = 3;
    c.seqlen_q = c.seqlen_k = 257;
    c.layout = Layout::bhsd;
    add(c);
    c.layout = Layout::bshd;
    c.input_stddev = 3.0;
    add(c);
    c.band = causal_br;
    c.with_lse = false;
    add(c);
  }
  return cases;
}

// Dropout on its own axis (the mask is the same code whatever the head dim): square and
// ragged, causal, a window, GQA and varlen, and a high probability.
inline std::vector<ForwardCase> dropout_cases(uint64_t first_seed) {
  std::vector<ForwardCase> cases;
  uint64_t seed = first_seed;
  auto add = [&](ForwardCase c) {
    c.seed = seed += 10;
    cases.push_back(c);
  };
  ForwardCase c;
  c.batch = 2;
  c.heads_q = c.heads_kv = 2;
  c.seqlen_q = c.seqlen_k = 129;
  c.dropout = 0.17f;
  add(c);
  c.band = BandMask::causal();
  add(c);
  c.seqlen_q = 300;
  c.seqlen_k = 100;
  c.band = BandMask::window(20, 3, MaskAlignment::top_left);
  add(c);
  c.batch = 1;
  c.heads_q = 6;
  c.heads_kv = 2;
  c.seqlen_q = c.seqlen_k = 200;
  c.band = BandMask::causal();
  c.dropout = 0.6f;
  add(c);
  c.heads_q = 4;
  c.varlen_q = {1, 17, 200, 129};
  c.varlen_k = {5, 17, 150, 300};
  c.band = BandMask::none();
  c.dropout = 0.1f;
  add(c);
  return cases;
}

}  // namespace attnkit::testing
