#pragma once
// The Hopper backward's correctness matrix: the FA2 backward's (fa2_backward_cases.cuh) without
// dropout, which this kernel leaves to the sm_80 path, instantiated once per head dim. The
// forward is the Hopper one, whose LSE the backward reads.

#include <vector>

#include "attnkit/hopper/backward.cuh"
#include "fa2_backward_cases.cuh"
#include "hopper_forward_cases.cuh"

namespace attnkit::testing {

template <class Element, int HeadDim, class Variant = NoVariant>
BackwardLauncher hopper_backward_launcher(const Variant& variant = {}) {
  return [variant](const AttentionProblem& problem, const BackwardGradients& grads) {
    hopper::backward<Element, HeadDim>(problem, grads, variant);
  };
}

template <int HeadDim>
void run_hopper_backward_matrix() {
  skip_unless_hopper();
  for (const ForwardCase& c : backward_matrix()) {
    check_backward<bfloat16_t>(HeadDim, c, hopper_launcher<bfloat16_t, HeadDim>(),
                               hopper_backward_launcher<bfloat16_t, HeadDim>());
    check_backward<half_t>(HeadDim, c, hopper_launcher<half_t, HeadDim>(), hopper_backward_launcher<half_t, HeadDim>());
  }
  const std::vector<ForwardCase> long_cases = long_backward_cases();
  check_backward<bfloat16_t>(HeadDim, long_cases[0], hopper_launcher<bfloat16_t, HeadDim>(),
                             hopper_backward_launcher<bfloat16_t, HeadDim>());
  check_backward<half_t>(HeadDim, long_cases[1], hopper_launcher<half_t, HeadDim>(),
                         hopper_backward_launcher<half_t, HeadDim>());
  // Many CTAs per SM and query heads per KV head; varlen over 64 entries.
  for (const ForwardCase& c : persistent_grid_cases())
    check_backward<bfloat16_t>(HeadDim, c, hopper_launcher<bfloat16_t, HeadDim>(),
                               hopper_backward_launcher<bfloat16_t, HeadDim>());
}

}  // namespace attnkit::testing
