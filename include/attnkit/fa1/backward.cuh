#pragma once
// Host launcher of the FlashAttention-1 backward (the 2022 schedule; a reference to compare
// FlashAttention-2 against, not a fast path).
//
//   attnkit::fa1::ForwardWorkspace state{buffer, attnkit::fa1::forward_workspace_bytes(problem)};
//   attnkit::fa1::forward<bfloat16_t, 128>(problem, attnkit::NoVariant{}, stream, state);  // O, m, ℓ
//   attnkit::BackwardGradients grads = attnkit::make_gradients_like(problem, d_o, d_q, d_k, d_v);
//   attnkit::fa1::backward<bfloat16_t, 128>(problem, grads, state, attnkit::NoVariant{}, stream);
//
// `forward_state` is the workspace the forward of this problem ran with: the backward reads
// its m and ℓ (problem.lse is not needed). The problem, variant and dropout seed/offset must be
// the forward's. The gradients are always bitwise reproducible (grads.deterministic changes
// nothing): each CTA owns its dQ rows. grads.workspace as for fa2::backward
// (backward_workspace_bytes()). Head dims 32, 64, 96, 128, 192, 256, with the FA2 backward's
// tile configs.

#include <type_traits>

#include <cuda_runtime_api.h>

#include "../attention/validate.cuh"
#include "../backward/passes.cuh"
#include "../core/error.cuh"
#include "../core/launch.cuh"
#include "../fa2/backward_config.cuh"
#include "backward_kernel.cuh"

namespace attnkit::fa1 {

template <class Element, int HeadDim, class Variant = NoVariant,
          class Config = typename fa2::DefaultBackwardConfig<Element, HeadDim>::type>
void backward(const AttentionProblem& problem, const BackwardGradients& grads, const ForwardWorkspace& forward_state,
              const Variant& variant = {}, cudaStream_t stream = nullptr) {
  static_assert(Config::kHeadDim == HeadDim && std::is_same_v<typename Config::Element, Element>,
                "Config was built for another element type or head dim");
  validate_problem(problem, ElementTraits<Element>::dtype, HeadDim);
  require(forward_state.data != nullptr, "fa1::backward needs the forward's workspace (its m and ℓ): forward_state.data is null");
  const std::size_t state_bytes = forward_workspace_bytes(problem);
  require(forward_state.bytes >= state_bytes, "forward_state.bytes = ", forward_state.bytes, " is less than the ",
          state_bytes, " bytes of the forward's workspace (fa1::forward_workspace_bytes())");

  AttentionProblem resolved = problem;
  resolved.softmax_scale = problem.effective_scale();
  const float scale_log2 = Variant::has_score_mod ? kLog2e : resolved.softmax_scale * kLog2e;
  const RowMaxAndSum statistics{forward_workspace_view(problem, forward_state.data), scale_log2};
  run_backward_passes<Element, HeadDim>(
      resolved, grads, statistics, stream, [&](const BackwardScratch& scratch) {
        // Dropout is a compile-time choice of the kernel: no RNG code where it is off.
        const auto kernel = problem.dropout.enabled() ? backward_kernel<Config, Variant, true>
                                                      : backward_kernel<Config, Variant, false>;
        // One CTA per (KV head, batch entry): Algorithm 4 runs a head's key blocks in one CTA.
        attnkit::detail::launch_kernel(kernel, dim3(problem.heads_kv, problem.batch), Config::kThreads,
                                       Config::kSmemBytes, stream, resolved, grads, scratch, variant);
      });
}

}  // namespace attnkit::fa1
