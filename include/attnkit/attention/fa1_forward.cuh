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
// Writes O and, when problem.lse is set, LSE, with the same meaning as fa2::forward. Dropout
// is not supported. Instantiates one kernel per (element type, head dim, variant, config).

#include <cstdint>
#include <type_traits>

#include <cuda_runtime_api.h>

#include "../core/error.cuh"
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
  require(!problem.dropout.enabled(), "fa1::forward does not implement dropout (dropout.probability = ",
          problem.dropout.probability, ")");

  const std::size_t required_bytes = forward_workspace_bytes(problem);
  // Frees a workspace taken here, also when a launch below throws.
  struct OwnedWorkspace {
    void* data = nullptr;
    cudaStream_t stream;
    ~OwnedWorkspace() {
      if (data != nullptr) cudaFreeAsync(data, stream);
    }
  } owned{nullptr, stream};
  if (workspace.data == nullptr) {
    ATTNKIT_CUDA_CHECK(cudaMallocAsync(&owned.data, required_bytes, stream));
    workspace = {owned.data, required_bytes};
  } else {
    require(workspace.bytes >= required_bytes, "workspace.bytes = ", workspace.bytes, " is less than the ",
            required_bytes, " bytes fa1::forward_workspace_bytes() asks for");
    require(reinterpret_cast<uintptr_t>(workspace.data) % 256 == 0, "workspace.data = ", workspace.data,
            " is not 256-byte aligned");
  }

  AttentionProblem resolved = problem;
  resolved.softmax_scale = problem.effective_scale();

  const auto kernel = forward_kernel<Config, Variant>;
  // Above 48 KB a kernel must opt in to its dynamic shared memory.
  ATTNKIT_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Config::kSmemBytes));
  // One CTA per (query head, batch entry): Algorithm 1 runs the whole head in one CTA.
  const dim3 grid(problem.heads_q, problem.batch);
  kernel<<<grid, Config::kThreads, Config::kSmemBytes, stream>>>(resolved, variant,
                                                                  forward_workspace_view(problem, workspace.data));
  ATTNKIT_CHECK_LAUNCH();
  if (owned.data != nullptr) {
    void* const taken = owned.data;
    owned.data = nullptr;  // freed here, with its status checked, not again by the guard
    ATTNKIT_CUDA_CHECK(cudaFreeAsync(taken, stream));
  }
}

}  // namespace attnkit::fa1
