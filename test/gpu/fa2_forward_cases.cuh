#pragma once
// The FA2 forward correctness matrix, instantiated once per head dim (one translation unit
// each, so the kernels compile in parallel): seqlens 1..1000 and 4096, s_q != s_k both ways,
// causal in both alignments, sliding windows, GQA and MQA, varlen, BHSD strides, scores up
// to about ±30, fp16 and bf16.

#include "attnkit/attention/fa2_forward.cuh"
#include "support/forward_check.cuh"

namespace attnkit::testing {

template <class Element, int HeadDim, class Variant = NoVariant>
ForwardLauncher fa2_launcher(const Variant& variant = {}) {
  return [variant](const AttentionProblem& problem) { fa2::forward<Element, HeadDim>(problem, variant); };
}

inline std::vector<ForwardCase> forward_matrix() {
  std::vector<ForwardCase> cases;
  uint64_t seed = 100;
  auto add = [&](ForwardCase c) {
    c.seed = seed += 10;
    cases.push_back(c);
  };
  const BandMask causal_br = BandMask::causal(MaskAlignment::bottom_right);
  const BandMask causal_tl = BandMask::causal(MaskAlignment::top_left);
  for (int seqlen : {1, 17, 127, 128, 129, 1000}) {
    for (BandMask band : {BandMask::none(), causal_br}) {
      ForwardCase c;
      c.batch = 2;
      c.heads_q = c.heads_kv = 2;
      c.seqlen_q = c.seqlen_k = seqlen;
      c.band = band;
      add(c);
    }
  }
  // s_q != s_k both ways, both causal alignments (bottom-right with s_q > s_k leaves the first
  // rows with no key at all: O = 0, LSE = -inf).
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
  // Sliding windows, one of them narrower than a tile and open to the right.
  for (BandMask band : {BandMask::window(64, 0), BandMask::window(200, 30), BandMask::window(5, 7, MaskAlignment::top_left)}) {
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
  // BHSD strides; large scores (±30) with and without masking; no LSE output.
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

// One long sequence per dtype (the CPU reference costs O(s²·d)).
inline std::vector<ForwardCase> long_forward_cases() {
  ForwardCase c;
  c.seqlen_q = c.seqlen_k = 4096;
  c.seed = 7;
  std::vector<ForwardCase> cases{c};
  c.band = BandMask::causal();
  c.seed = 8;
  cases.push_back(c);
  return cases;
}

template <int HeadDim>
void run_forward_matrix() {
  for (const ForwardCase& c : forward_matrix()) {
    check_forward<bfloat16_t>(HeadDim, c, fa2_launcher<bfloat16_t, HeadDim>());
    check_forward<half_t>(HeadDim, c, fa2_launcher<half_t, HeadDim>());
  }
  const std::vector<ForwardCase> long_cases = long_forward_cases();
  check_forward<bfloat16_t>(HeadDim, long_cases[0], fa2_launcher<bfloat16_t, HeadDim>());
  check_forward<half_t>(HeadDim, long_cases[1], fa2_launcher<half_t, HeadDim>());
}

}  // namespace attnkit::testing
