#pragma once
// Host launcher of the FlashAttention-2 forward kernel.
//
//   attnkit::fa2::forward<bfloat16_t, 128>(problem);                 // plain / causal / window
//   attnkit::fa2::forward<bfloat16_t, 128>(problem, SoftCap{30.f});  // with a variant
//
// Instantiates two kernels (without and with dropout) per (element type, head dim, variant,
// config); put different instantiations in different translation units to bound compile time.

#include <type_traits>

#include <cuda_runtime_api.h>

#include "../core/error.cuh"
#include "fa2_forward_kernel.cuh"
#include "validate.cuh"

namespace attnkit::fa2 {

template <class Element, int HeadDim, class Variant = NoVariant,
          class Config = typename DefaultForwardConfig<Element, HeadDim>::type>
void forward(const AttentionProblem& problem, const Variant& variant = {}, cudaStream_t stream = nullptr) {
  static_assert(Config::kHeadDim == HeadDim && std::is_same_v<typename Config::Element, Element>,
                "Config was built for another element type or head dim");
  validate_problem(problem, ElementTraits<Element>::dtype, HeadDim);

  AttentionProblem resolved = problem;
  resolved.softmax_scale = problem.effective_scale();

  // Dropout is a separate instantiation so that p = 0 runs no RNG code at all.
  const auto kernel = problem.dropout.enabled() ? forward_kernel<Config, Variant, true>
                                                : forward_kernel<Config, Variant, false>;
  // Above 48 KB a kernel must opt in to its dynamic shared memory.
  ATTNKIT_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Config::kSmemBytes));
  const dim3 grid(ceil_div(problem.seqlen_q, Config::kBlockM), problem.heads_q, problem.batch);
  kernel<<<grid, Config::kThreads, Config::kSmemBytes, stream>>>(resolved, variant);
  ATTNKIT_CHECK_LAUNCH();
}

}  // namespace attnkit::fa2
