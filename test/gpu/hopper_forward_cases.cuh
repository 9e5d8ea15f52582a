#pragma once
// The Hopper forward's correctness matrix: the FA2 forward's (fa2_forward_cases.cuh) without
// dropout, which this kernel leaves to the sm_80 path, instantiated once per head dim.

#include <vector>

#include <catch2/catch_test_macros.hpp>

#include "attnkit/hopper/forward.cuh"
#include "fa2_forward_cases.cuh"

namespace attnkit::testing {

// Config: void for the head dim's defaults (hopper::DefaultForwardConfig), or one config.
template <class Element, int HeadDim, class Variant = NoVariant, class Config = void>
ForwardLauncher hopper_launcher(const Variant& variant = {}) {
  return [variant](const AttentionProblem& problem) {
    hopper::forward<Element, HeadDim, Variant, Config>(problem, variant);
  };
}

// Skips the calling test case (visibly) on a GPU that is not compute capability 9.0.
inline void skip_unless_hopper() {
  int device = 0;
  ATTNKIT_CUDA_CHECK(cudaGetDevice(&device));
  if (!hopper::device_supports_forward(device)) SKIP("not a compute capability 9.0 GPU: Hopper kernels not run");
}

// More tiles than SMs, so each CTA of a persistent config walks several slots of the tile
// schedule: causal GQA over 128 (batch, head) pairs, and varlen over 64 entries of mixed
// lengths (1 to 300 rows, some shorter than a query block, tiles past an entry's end skipped).
inline std::vector<ForwardCase> persistent_grid_cases() {
  ForwardCase causal;
  causal.batch = 8;
  causal.heads_q = 16;
  causal.heads_kv = 4;
  causal.seqlen_q = causal.seqlen_k = 300;
  causal.band = BandMask::causal();
  causal.seed = 41;
  ForwardCase varlen;
  varlen.heads_q = varlen.heads_kv = 4;
  for (int i = 0; i < 64; ++i) {
    varlen.varlen_q.push_back(1 + (i * 37) % 300);
    varlen.varlen_k.push_back(1 + (i * 53 + 11) % 300);
  }
  varlen.batch = 64;
  varlen.seed = 42;
  return {causal, varlen};
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
  for (const ForwardCase& c : persistent_grid_cases())
    check_forward<bfloat16_t>(HeadDim, c, hopper_launcher<bfloat16_t, HeadDim>());
}

}  // namespace attnkit::testing
