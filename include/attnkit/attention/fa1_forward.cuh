#pragma once
// Host launcher of the FlashAttention-1 forward kernel (the 2022 schedule; a reference to
// compare FlashAttention-2 against, not a fast path).
//
//   attnkit::fa1::forward<bfloat16_t, 128>(problem);                  // plain / causal / window
//   attnkit::fa1::forward<bfloat16_t, 128>(problem, SoftCap{{}, 30.f}); // with a variant
//
//   // with a workspace of the caller's (else one is taken from cudaMallocAsync per call)
//   attnkit::fa1::ForwardWorkspace workspace{buffer, attnkit::fa1::forward_workspace_bytes(problem)};
//   attnkit::fa1::forward<bfloat16_t, 128>(problem, attnkit::NoVariant{}, stream, workspace);
//
// Writes O and, when problem.lse is set, LSE, with the same meaning as fa2::forward; dropout
// draws the FA2 kernels' mask. After the call the workspace holds the rows' m and ℓ, which
// fa1::backward reads: pass the same workspace to it. Instantiates one kernel per (element
// type, head dim, variant, config, dropout on or off).

#include <type_traits>

#include <cuda_runtime_api.h>

#include "../core/error.cuh"
#include "../core/scoped_workspace.cuh"
#include "fa1_forward_kernel.cuh"
#include "validate.cuh"

namespace attnkit::fa1 {

template <class Element, int HeadDim, class Variant = NoVariant,
          class Config = typename DefaultForwardConfig<Element, HeadDim>::type>
void forward(const AttentionProblem& problem, const Variant& variant = {}, cudaStream_t stream = nullptr,
             ForwardWorkspace workspace = {}) {
  static_assert(Config::kHeadDim == HeadDim && std::is_same_v<typename Config::Element, Element>,
                "Config was built for another element type or head dim");
  validate_problem(problem, ElementTraits<Element>::dtype, HeadDim);

  attnkit::detail::ScopedWorkspace scratch(workspace.data, workspace.bytes, forward_workspace_bytes(problem),
                                  "fa1::forward_workspace_bytes()", stream);

  AttentionProblem resolved = problem;
  resolved.softmax_scale = problem.effective_scale();

  // Dropout is a compile-time choice of the kernel: no RNG code where it is off.
  const auto kernel =
      problem.dropout.enabled() ? forward_kernel<Config, Variant, true> : forward_kernel<Config, Variant, false>;
  // Above 48 KB a kernel must opt in to its dynamic shared memory.
  ATTNKIT_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Config::kSmemBytes));
  // One CTA per (query head, batch entry): Algorithm 1 runs the whole head in one CTA.
  const dim3 grid(problem.heads_q, problem.batch);
  kernel<<<grid, Config::kThreads, Config::kSmemBytes, stream>>>(resolved, variant,
                                                                  forward_workspace_view(problem, scratch.get()));
  ATTNKIT_CHECK_LAUNCH();
  scratch.release();
}

}  // namespace attnkit::fa1
