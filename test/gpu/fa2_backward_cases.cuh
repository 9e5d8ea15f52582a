#pragma once
// The FA2 backward correctness matrix, instantiated once per head dim (one translation unit
// each, so the kernels compile in parallel). A reduced forward matrix, since the CPU reference's
// backward costs about five forwards: seqlens 1..300 and one of 1024, s_q != s_k both ways,
// causal in both alignments, sliding windows, GQA and MQA, varlen, BHSD strides, scores up to
// about ±30, dropout, fp16 and bf16.

#include "attnkit/fa2/backward.cuh"
#include "fa2_forward_cases.cuh"
#include "support/backward_check.cuh"

namespace attnkit::testing {

template <class Element, int HeadDim, class Variant = NoVariant>
BackwardLauncher fa2_backward_launcher(const Variant& variant = {}) {
  return [variant](const AttentionProblem& problem, const BackwardGradients& grads) {
    fa2::backward<Element, HeadDim>(problem, grads, variant);
  };
}

// ALiBi (its derivative is 1, so only the forward's P changes), soft-capping (its derivative
// 1 − tanh² must reach dS; a cap of 5 saturates the ±30 scores of the stddev-3 case) and a
// mask_mod over variant_cases(), each through the forward and backward launchers that
// make_forward(variant) and make_backward(variant) return (the FA2 and Hopper tests share it).
template <class Element, int HeadDim, class MakeForward, class MakeBackward>
void check_backward_variants(const MakeForward& make_forward, const MakeBackward& make_backward) {
  for (const ForwardCase& c : variant_cases(7900)) {
    const AlibiPair alibi(c);
    check_backward<Element>(HeadDim, c, make_forward(alibi.device), make_backward(alibi.device), alibi.host,
                            alibi.device);
    const SoftCap softcap{{}, 5.f};
    check_backward<Element>(HeadDim, c, make_forward(softcap), make_backward(softcap), softcap);
    check_backward<Element>(HeadDim, c, make_forward(DropEveryThird{}), make_backward(DropEveryThird{}),
                            DropEveryThird{});
    // One head dim is enough for the per-entry binding, which no head dim changes (compile time).
    if constexpr (HeadDim == 128)
      check_backward<Element>(HeadDim, c, make_forward(RecencyBias{}), make_backward(RecencyBias{}), RecencyBias{});
  }
}

// Around the tile sizes (64 query rows and 128 key rows per block; 32 and 64 for head dims
// 192, 256) and a single row; a window
// wider than a tile and one narrower than a tile whose key blocks see only a few query rows.
inline std::vector<ForwardCase> backward_matrix() {
  return case_matrix({5000,  // apart from the forward matrix's seeds
                      {1, 17, 128, 129, 300},
                      {BandMask::window(64, 0), BandMask::window(5, 7, MaskAlignment::top_left)}});
}

// One longer causal sequence per dtype.
inline std::vector<ForwardCase> long_backward_cases() {
  ForwardCase c;
  c.heads_q = c.heads_kv = 2;
  c.seqlen_q = c.seqlen_k = 1024;
  c.band = BandMask::causal();
  c.seed = 17;
  std::vector<ForwardCase> cases{c};
  c.seed = 18;
  cases.push_back(c);
  return cases;
}

template <int HeadDim>
void run_backward_matrix() {
  for (const ForwardCase& c : backward_matrix()) {
    check_backward<bfloat16_t>(HeadDim, c, fa2_launcher<bfloat16_t, HeadDim>(),
                               fa2_backward_launcher<bfloat16_t, HeadDim>());
    check_backward<half_t>(HeadDim, c, fa2_launcher<half_t, HeadDim>(), fa2_backward_launcher<half_t, HeadDim>());
  }
  for (const ForwardCase& c : dropout_cases(5900)) {
    check_backward<bfloat16_t>(HeadDim, c, fa2_launcher<bfloat16_t, HeadDim>(),
                               fa2_backward_launcher<bfloat16_t, HeadDim>());
    check_backward<half_t>(HeadDim, c, fa2_launcher<half_t, HeadDim>(), fa2_backward_launcher<half_t, HeadDim>());
  }
  const std::vector<ForwardCase> long_cases = long_backward_cases();
  check_backward<bfloat16_t>(HeadDim, long_cases[0], fa2_launcher<bfloat16_t, HeadDim>(),
                             fa2_backward_launcher<bfloat16_t, HeadDim>());
  check_backward<half_t>(HeadDim, long_cases[1], fa2_launcher<half_t, HeadDim>(),
                         fa2_backward_launcher<half_t, HeadDim>());
}

}  // namespace attnkit::testing
