#pragma once
// The Hopper forward's correctness matrix: the FA2 forward's (fa2_forward_cases.cuh) without
// dropout, which this kernel leaves to the sm_80 path, instantiated once per head dim.

#include <catch2/catch_test_macros.hpp>

#include "attnkit/hopper/forward.cuh"
#include "fa2_forward_cases.cuh"

namespace attnkit::testing {

template <class Element, int HeadDim, class Variant = NoVariant>
ForwardLauncher hopper_launcher(const Variant& variant = {}) {
  return [variant](const AttentionProblem& problem) { hopper::forward<Element, HeadDim>(problem, variant); };
}

// Skips the calling test case (visibly) on a GPU that is not compute capability 9.0.
inline void skip_unless_hopper() {
  int device = 0;
  ATTNKIT_CUDA_CHECK(cudaGetDevice(&device));
  if (!hopper::device_supports_forward(device)) SKIP("not a compute capability 9.0 GPU: Hopper kernels not run");
}

template <int HeadDim>
void run_hopper_forward_matrix() {
  skip_unless_hopper();
  for (const ForwardCase& c : forward_matrix()) {
    check_forward<bfloat16_t>(HeadDim, c, hopper_launcher<bfloat16_t, HeadDim>());
    check_forward<half_t>(HeadDim, c, hopper_launcher<half_t, HeadDim>());
  }
  const std::vector<ForwardCase> long_cases = long_forward_cases();
  check_forward<bfloat16_t>(HeadDim, long_cases[0], hopper_launcher<bfloat16_t, HeadDim>());
  check_forward<half_t>(HeadDim, long_cases[1], hopper_launcher<half_t, HeadDim>());
}

}  // namespace attnkit::testing
