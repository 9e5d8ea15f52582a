#pragma once
// The FA1 backward correctness matrix, instantiated once per head dim (one translation unit
// each, so the kernels compile in parallel): the FA2 backward's matrix (seqlens 1..300 and one
// of 1024, s_q != s_k both ways, causal in both alignments, sliding windows, GQA and MQA,
// varlen, BHSD strides, scores up to about ±30, dropout, fp16 and bf16), checked by the same
// rule, with the FA1 forward in front.

#include <memory>
#include <vector>

#include "attnkit/fa1/backward.cuh"
#include "fa1_forward_cases.cuh"
#include "fa2_backward_cases.cuh"

namespace attnkit::testing {

// The FA1 forward and backward of one check, sharing the forward's workspace: the backward
// reads the m and ℓ the forward left there.
struct Fa1Launchers {
  ForwardLauncher forward;
  BackwardLauncher backward;
};

template <class Element, int HeadDim, class Variant = NoVariant>
Fa1Launchers fa1_launchers(const Variant& variant = {}) {
  auto state = std::make_shared<std::unique_ptr<DeviceArray<unsigned char>>>();
  auto workspace = [state] { return fa1::ForwardWorkspace{(*state)->get(), (*state)->size()}; };
  Fa1Launchers launchers;
  launchers.forward = [variant, state, workspace](const AttentionProblem& problem) {
    *state = std::make_unique<DeviceArray<unsigned char>>(fa1::forward_workspace_bytes(problem));
    fa1::forward<Element, HeadDim>(problem, variant, nullptr, workspace());
  };
  launchers.backward = [variant, workspace](const AttentionProblem& problem, const BackwardGradients& grads) {
    fa1::backward<Element, HeadDim>(problem, grads, workspace(), variant);
  };
  return launchers;
}

template <class Element, int HeadDim>
void check_fa1_backward(const ForwardCase& c) {
  const Fa1Launchers launchers = fa1_launchers<Element, HeadDim>();
  check_backward<Element>(HeadDim, c, launchers.forward, launchers.backward);
}

template <int HeadDim>
void run_fa1_backward_matrix() {
  for (const ForwardCase& c : backward_matrix()) {
    check_fa1_backward<bfloat16_t, HeadDim>(c);
    check_fa1_backward<half_t, HeadDim>(c);
  }
  for (const ForwardCase& c : dropout_cases(9900)) {
    check_fa1_backward<bfloat16_t, HeadDim>(c);
    check_fa1_backward<half_t, HeadDim>(c);
  }
  const std::vector<ForwardCase> long_cases = long_backward_cases();
  check_fa1_backward<bfloat16_t, HeadDim>(long_cases[0]);
  check_fa1_backward<half_t, HeadDim>(long_cases[1]);
}

}  // namespace attnkit::testing
