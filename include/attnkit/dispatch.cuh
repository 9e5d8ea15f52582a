#pragma once
// Runtime dispatch of the forward: one call for every supported (element type, head dim), for
// users who pick shapes at run time. On a compute capability 9.0 GPU, in a program built for
// sm_90a, the Hopper kernel (hopper/forward.cuh) runs the problems it supports (head dims 64,
// 128, 256 without dropout; varlen with total_q/total_k set); everything else runs the FA2
// kernel for sm_80+. attnkit::plan(problem) says which one a problem gets, and why.
//
//   attnkit::AttentionProblem problem = attnkit::make_bshd_problem(...);
//   problem.band = attnkit::BandMask::causal();
//   attnkit::forward(problem, stream);            // every head dim: 24 FA2 + 10 Hopper kernels
//   attnkit::forward_for<64, 128>(problem);       // only these: 8 FA2 + 8 Hopper kernels
//   attnkit::plan(problem).kernel                 // KernelFamily::hopper or ::sm80, and .reason
//
// Compile time: kernels are instantiated where these functions are called, not where the
// header is included. attnkit::forward instantiates all of them, for every architecture the
// unit is built for; forward_for<...> only the head dims listed, and throws attnkit::error
// naming the head dim for a problem with any other. Call either from one translation unit of
// your program. The backward's dispatch is in dispatch_backward.cuh.

#include <sstream>
#include <string>
#include <type_traits>

#include <cuda_runtime_api.h>

#include "attention/validate.cuh"
#include "fa2/forward.cuh"
#include "hopper/device_support.cuh"
#include "hopper/forward.cuh"

namespace attnkit {

// The kernel family a problem runs on (attnkit::plan).
enum class KernelFamily {
  sm80,    // the FlashAttention-2 kernels (mma.sync, cp.async): every GPU from sm_80 on
  hopper,  // the sm_90a kernels (TMA, wgmma, warp-specialized)
};

inline const char* kernel_family_name(KernelFamily family) {
  return family == KernelFamily::hopper ? "hopper (sm_90a)" : "fa2 (sm_80)";
}

struct Plan {
  KernelFamily kernel = KernelFamily::sm80;
  std::string reason;  // why not the Hopper kernel; empty when that one runs
};

namespace detail {

constexpr bool is_dispatch_head_dim(int head_dim) {
  for (int supported : kSupportedHeadDims)
    if (head_dim == supported) return true;
  return false;
}

// "64, 128" for <64, 128>.
template <int... HeadDims>
std::string head_dim_list() {
  std::string list;
  ((list += (list.empty() ? "" : ", ") + std::to_string(HeadDims)), ...);
  return list;
}

// Throws for a head dim that has no kernel in this dispatch: unsupported by attnkit, or left
// out of the `api<HeadDims...>` list.
template <int... HeadDims>
[[noreturn]] void fail_unlisted_head_dim(const char* api, int head_dim) {
  require_supported_head_dim(head_dim);
  fail("head_dim = ", head_dim, " has no kernel in this program: attnkit::", api, "<", head_dim_list<HeadDims...>(),
       "> instantiates only those head dims (add ", head_dim, " to the list)");
}

// Calls `run(std::integral_constant<int, d>{})` for the d of HeadDims equal to head_dim; false
// when there is none.
template <int... HeadDims, class Run>
bool run_for_head_dim(int head_dim, Run&& run) {
  return ((head_dim == HeadDims && (run(std::integral_constant<int, HeadDims>{}), true)) || ...);
}

template <class Run>
void run_for_dtype(DType dtype, Run&& run) {
  switch (dtype) {
    case DType::f16: return run(half_t{});
    case DType::bf16: return run(bfloat16_t{});
  }
  fail("dtype ", static_cast<int>(dtype), " is not one of f16 (", static_cast<int>(DType::f16), "), bf16 (",
       static_cast<int>(DType::bf16), ")");
}

// Why the Hopper kernels do not take a problem on the current device; empty when they do.
// `head_dims` lists the head dims they have, `pass` names them in the message.
inline std::string hopper_refusal(const AttentionProblem& problem, bool head_dim_supported, const char* head_dims,
                                  const char* pass) {
  if (!head_dim_supported)
    return "head_dim = " + std::to_string(problem.head_dim) + " has no Hopper " + pass + " (" + head_dims + ")";
  std::string refusal = hopper::feature_refusal(problem);
  if (!refusal.empty()) return refusal;
  int device = 0;
  ATTNKIT_CUDA_CHECK(cudaGetDevice(&device));
  const hopper::DeviceSupport support = hopper::device_support(device);
  if (support != hopper::DeviceSupport::available) return hopper::describe(support);
  return {};
}

}  // namespace detail

// Which kernel attnkit::forward runs for `problem` on the current device, and why not the
// Hopper one when it does not. Throws attnkit::error for a head dim attnkit has no kernel for.
inline Plan plan(const AttentionProblem& problem) {
  require_supported_head_dim(problem.head_dim);
  std::string refusal =
      detail::hopper_refusal(problem, hopper::is_supported_head_dim(problem.head_dim), "64, 128, 256", "forward");
  return {refusal.empty() ? KernelFamily::hopper : KernelFamily::sm80, std::move(refusal)};
}

namespace detail {

template <class Element, int HeadDim>
void forward_typed(const AttentionProblem& problem, cudaStream_t stream) {
  if constexpr (hopper::is_supported_head_dim(HeadDim)) {
    if (plan(problem).kernel == KernelFamily::hopper)
      return hopper::forward<Element, HeadDim>(problem, NoVariant{}, stream);
  }
  fa2::forward<Element, HeadDim>(problem, NoVariant{}, stream);
}

}  // namespace detail

// Attention forward: O (and LSE when problem.lse is set) from Q, K, V, with the problem's
// band mask (causal / sliding window), GQA, varlen, dropout and softmax scale, for the head
// dims listed (each one of 32, 64, 96, 128, 192, 256).
template <int... HeadDims>
void forward_for(const AttentionProblem& problem, cudaStream_t stream = nullptr) {
  static_assert(sizeof...(HeadDims) > 0, "list the head dims to instantiate: attnkit::forward_for<128>(...)");
  static_assert((detail::is_dispatch_head_dim(HeadDims) && ...),
                "forward_for: every head dim listed must be one of 32, 64, 96, 128, 192, 256");
  const bool ran = detail::run_for_head_dim<HeadDims...>(problem.head_dim, [&](auto head_dim) {
    detail::run_for_dtype(problem.dtype, [&](auto element) {
      detail::forward_typed<decltype(element), decltype(head_dim)::value>(problem, stream);
    });
  });
  if (!ran) detail::fail_unlisted_head_dim<HeadDims...>("forward_for", problem.head_dim);
}

// Every head dim. A template (called without template arguments) only so that its kernels are
// instantiated in the units that call it, not in every unit that includes this header.
template <class = void>
void forward(const AttentionProblem& problem, cudaStream_t stream = nullptr) {
  forward_for<32, 64, 96, 128, 192, 256>(problem, stream);
}

}  // namespace attnkit
