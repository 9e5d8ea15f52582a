#pragma once
// Runtime dispatch of the backward: one call for every supported (element type, head dim), the
// counterpart of attnkit::forward (dispatch.cuh). On a compute capability 9.0 GPU, in a program
// built for sm_90a, the Hopper backward (hopper/backward.cuh) runs the problems it supports
// (head dims 64 and 128, no dropout, not the deterministic mode, varlen with total_q /
// total_k); the FA2 backward (fa2/backward.cuh) runs everything else, everywhere.
// Either runs after either forward.
//
//   attnkit::forward(problem, stream);                        // O and LSE (problem.lse set)
//   attnkit::BackwardGradients grads = attnkit::make_gradients_like(problem, d_o, d_q, d_k, d_v);
//   attnkit::backward(problem, grads, stream);                // every head dim: 76 kernels
//   attnkit::backward_for<128>(problem, grads, stream);       // only 128: 14 kernels
//   attnkit::plan(problem, grads)                             // which kernel, and why
//
// `problem` must be the forward's (its O, LSE, dropout seed and offset). Compile time: as in
// dispatch.cuh, kernels are instantiated where these are called. Each head dim is, per dtype,
// a main kernel for each of (dropout, deterministic) plus a preprocess and a postprocess (and
// at 64 and 128 the Hopper kernel), the heaviest code in the library; attnkit::backward builds
// all six head dims, backward_for<...> only those listed and throws attnkit::error naming the head dim for a problem with another.
// Forward-only programs include dispatch.cuh alone and pay nothing for this.

#include <cuda_runtime_api.h>

#include "attention/backward_problem.cuh"
#include "dispatch.cuh"
#include "fa2/backward.cuh"
#include "hopper/backward.cuh"

namespace attnkit {

// Which kernel attnkit::backward runs for `problem` and `grads` on the current device, and why
// not the Hopper one when it does not.
inline Plan plan(const AttentionProblem& problem, const BackwardGradients& grads) {
  require_supported_head_dim(problem.head_dim);
  std::string refusal = detail::hopper_refusal(
      problem, hopper::is_supported_backward_head_dim(problem.head_dim), "64, 128", "backward");
  if (refusal.empty() && grads.deterministic) refusal = "the deterministic mode runs on the sm_80 backward";
  return {refusal.empty() ? KernelFamily::hopper : KernelFamily::sm80, std::move(refusal)};
}

namespace detail {

template <class Element, int HeadDim>
void backward_typed(const AttentionProblem& problem, const BackwardGradients& grads, cudaStream_t stream) {
  if constexpr (hopper::is_supported_backward_head_dim(HeadDim)) {
    if (plan(problem, grads).kernel == KernelFamily::hopper)
      return hopper::backward<Element, HeadDim>(problem, grads, NoVariant{}, stream);
  }
  fa2::backward<Element, HeadDim>(problem, grads, NoVariant{}, stream);
}

}  // namespace detail

// dQ, dK, dV from grads.d_o for the head dims listed (each one of 32, 64, 96, 128, 192, 256).
template <int... HeadDims>
void backward_for(const AttentionProblem& problem, const BackwardGradients& grads, cudaStream_t stream = nullptr) {
  static_assert(sizeof...(HeadDims) > 0, "list the head dims to instantiate: attnkit::backward_for<128>(...)");
  static_assert((detail::is_dispatch_head_dim(HeadDims) && ...),
                "backward_for: every head dim listed must be one of 32, 64, 96, 128, 192, 256");
  const bool ran = detail::run_for_head_dim<HeadDims...>(problem.head_dim, [&](auto head_dim) {
    detail::run_for_dtype(problem.dtype, [&](auto element) {
      detail::backward_typed<decltype(element), decltype(head_dim)::value>(problem, grads, stream);
    });
  });
  if (!ran) detail::fail_unlisted_head_dim<HeadDims...>("backward_for", problem.head_dim);
}

// Every head dim; a template for the same reason as attnkit::forward.
template <class = void>
void backward(const AttentionProblem& problem, const BackwardGradients& grads, cudaStream_t stream = nullptr) {
  backward_for<32, 64, 96, 128, 192, 256>(problem, grads, stream);
}

}  // namespace attnkit
