#pragma once
// The FA2 forward correctness matrix, instantiated once per head dim (one translation unit
// each, so the kernels compile in parallel): seqlens 1..1000 and 4096, s_q != s_k both ways,
// causal in both alignments, sliding windows, GQA and MQA, varlen, BHSD strides, scores up
// to about ±30, dropout, fp16 and bf16.

#include "attnkit/fa2/forward.cuh"
#include "attnkit/mask/alibi.cuh"
#include "attnkit/mask/softcap.cuh"
#include "support/case_matrix.cuh"
#include "support/forward_check.cuh"
#include "support/test_variants.cuh"

namespace attnkit::testing {

template <class Element, int HeadDim, class Variant = NoVariant>
ForwardLauncher fa2_launcher(const Variant& variant = {}) {
  return [variant](const AttentionProblem& problem) { fa2::forward<Element, HeadDim>(problem, variant); };
}

inline std::vector<ForwardCase> forward_matrix() {
  return case_matrix({100,
                      {1, 17, 127, 128, 129, 1000},
                      {BandMask::window(64, 0), BandMask::window(200, 30),
                       BandMask::window(5, 7, MaskAlignment::top_left)}});
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

// ALiBi, soft-capping, a mask_mod and a user's length-dependent score_mod (RecencyBias) over
// variant_cases(), each through the launcher that
// `make_launcher(variant)` returns (the FA2 and the Hopper forward tests share it).
template <class Element, int HeadDim, class MakeLauncher>
void check_forward_variants(const MakeLauncher& make_launcher) {
  for (const ForwardCase& c : variant_cases(900)) {
    const AlibiPair alibi(c);
    check_forward<Element>(HeadDim, c, make_launcher(alibi.device), alibi.host);

    const SoftCap softcap{{}, 5.f};
    check_forward<Element>(HeadDim, c, make_launcher(softcap), softcap);

    check_forward<Element>(HeadDim, c, make_launcher(DropEveryThird{}), DropEveryThird{});

    // One head dim is enough for the per-entry binding, which no head dim changes (compile time).
    if constexpr (HeadDim == 128) check_forward<Element>(HeadDim, c, make_launcher(RecencyBias{}), RecencyBias{});
  }
}

template <int HeadDim>
void run_forward_matrix() {
  for (const ForwardCase& c : forward_matrix()) {
    check_forward<bfloat16_t>(HeadDim, c, fa2_launcher<bfloat16_t, HeadDim>());
    check_forward<half_t>(HeadDim, c, fa2_launcher<half_t, HeadDim>());
  }
  for (const ForwardCase& c : dropout_cases(1900)) {
    check_forward<bfloat16_t>(HeadDim, c, fa2_launcher<bfloat16_t, HeadDim>());
    check_forward<half_t>(HeadDim, c, fa2_launcher<half_t, HeadDim>());
  }
  const std::vector<ForwardCase> long_cases = long_forward_cases();
  check_forward<bfloat16_t>(HeadDim, long_cases[0], fa2_launcher<bfloat16_t, HeadDim>());
  check_forward<half_t>(HeadDim, long_cases[1], fa2_launcher<half_t, HeadDim>());
}

}  // namespace attnkit::testing
