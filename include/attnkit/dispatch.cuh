#pragma once
// Runtime dispatch: one call for every supported (element type, head dim), for users who pick
// shapes at run time. On a compute capability 9.0 GPU the Hopper kernel (hopper/forward.cuh)
// runs the problems it supports (head dims 64, 128, 256 without dropout; varlen with
// total_q/total_k set); everything else runs the FA2 kernel for sm_80+. Including this header
// instantiates every FA2 forward kernel (12) and the Hopper ones (10): include it in one
// translation unit of your program and call from there.
//
//   attnkit::AttentionProblem problem = attnkit::make_bshd_problem(...);
//   problem.band = attnkit::BandMask::causal();
//   attnkit::forward(problem, stream);

#include <cuda_runtime_api.h>

#include "attention/fa2_forward.cuh"
#include "hopper/forward.cuh"

namespace attnkit {

namespace detail {
inline bool runs_on_hopper(const AttentionProblem& problem) {
  if (!hopper::supports_problem(problem)) return false;
  int device = 0;
  ATTNKIT_CUDA_CHECK(cudaGetDevice(&device));
  return hopper::device_supports_forward(device);
}

template <class Element>
void forward_for_head_dim(const AttentionProblem& problem, cudaStream_t stream) {
  const bool hopper = runs_on_hopper(problem);
  switch (problem.head_dim) {
    case 32: return fa2::forward<Element, 32>(problem, NoVariant{}, stream);
    case 64:
      if (hopper) return hopper::forward<Element, 64>(problem, NoVariant{}, stream);
      return fa2::forward<Element, 64>(problem, NoVariant{}, stream);
    case 96: return fa2::forward<Element, 96>(problem, NoVariant{}, stream);
    case 128:
      if (hopper) return hopper::forward<Element, 128>(problem, NoVariant{}, stream);
      return fa2::forward<Element, 128>(problem, NoVariant{}, stream);
    case 192: return fa2::forward<Element, 192>(problem, NoVariant{}, stream);
    case 256:
      if (hopper) return hopper::forward<Element, 256>(problem, NoVariant{}, stream);
      return fa2::forward<Element, 256>(problem, NoVariant{}, stream);
    default:
      require_supported_head_dim(problem.head_dim);  // throws, naming the head dim
      fail("head_dim = ", problem.head_dim, " has no kernel in dispatch.cuh");
  }
}
}  // namespace detail

// Attention forward: O (and LSE when problem.lse is set) from Q, K, V, with the problem's
// band mask (causal / sliding window), GQA, varlen and softmax scale.
inline void forward(const AttentionProblem& problem, cudaStream_t stream = nullptr) {
  switch (problem.dtype) {
    case DType::f16: return detail::forward_for_head_dim<half_t>(problem, stream);
    case DType::bf16: return detail::forward_for_head_dim<bfloat16_t>(problem, stream);
  }
  detail::fail("unknown dtype ", static_cast<int>(problem.dtype));
}

}  // namespace attnkit
