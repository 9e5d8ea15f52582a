#pragma once
// The FA1 forward correctness matrix, instantiated once per head dim (one translation unit
// each, so the kernels compile in parallel): seqlens 1..1000 and 4096, s_q != s_k both ways,
// causal in both alignments, sliding windows, GQA and MQA, varlen, BHSD strides, scores up to
// about ±30, dropout, fp16 and bf16. The same matrix as the FA2 forward's, checked by the same
// rule.

#include <vector>

#include "attnkit/fa1/forward.cuh"
#include "support/case_matrix.cuh"
#include "support/forward_check.cuh"

namespace attnkit::testing {

template <class Element, int HeadDim, class Variant = NoVariant>
ForwardLauncher fa1_launcher(const Variant& variant = {}) {
  return [variant](const AttentionProblem& problem) { fa1::forward<Element, HeadDim>(problem, variant); };
}

inline std::vector<ForwardCase> fa1_forward_matrix() {
  return case_matrix({300,
                      {1, 17, 127, 128, 129, 1000},
                      {BandMask::window(64, 0), BandMask::window(200, 30),
                       BandMask::window(5, 7, MaskAlignment::top_left)}});
}

// One long sequence per dtype (the CPU reference costs O(s²·d)): 4096 keys are 8 to 64 K/V
// blocks, i.e. that many rescaled read-modify-writes of every output row.
inline std::vector<ForwardCase> fa1_long_forward_cases() {
  ForwardCase c;
  c.seqlen_q = c.seqlen_k = 4096;
  c.seed = 17;
  std::vector<ForwardCase> cases{c};
  c.band = BandMask::causal();
  c.seed = 18;
  cases.push_back(c);
  return cases;
}

template <int HeadDim>
void run_fa1_forward_matrix() {
  const fa1::BlockSizes sizes = fa1::block_sizes(HeadDim);
  INFO("fa1 blocks: B_r = " << sizes.block_m << ", B_c = " << sizes.block_n << ", warps = " << sizes.warps);
  for (const ForwardCase& c : fa1_forward_matrix()) {
    check_forward<bfloat16_t>(HeadDim, c, fa1_launcher<bfloat16_t, HeadDim>());
    check_forward<half_t>(HeadDim, c, fa1_launcher<half_t, HeadDim>());
  }
  for (const ForwardCase& c : dropout_cases(2100)) {
    check_forward<bfloat16_t>(HeadDim, c, fa1_launcher<bfloat16_t, HeadDim>());
    check_forward<half_t>(HeadDim, c, fa1_launcher<half_t, HeadDim>());
  }
  const std::vector<ForwardCase> long_cases = fa1_long_forward_cases();
  check_forward<bfloat16_t>(HeadDim, long_cases[0], fa1_launcher<bfloat16_t, HeadDim>());
  check_forward<half_t>(HeadDim, long_cases[1], fa1_launcher<half_t, HeadDim>());
}

}  // namespace attnkit::testing
