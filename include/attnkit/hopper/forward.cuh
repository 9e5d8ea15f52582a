#pragma once
// Host launcher of the Hopper (sm_90a) attention forward.
//
//   attnkit::hopper::forward<bfloat16_t, 128>(problem);                 // plain / causal / window
//   attnkit::hopper::forward<bfloat16_t, 128>(problem, SoftCap{{}, 30.f});
//   attnkit::hopper::forward_block_sparse<bfloat16_t, 128>(problem, mask.view(), pattern);
//
// Head dims 64, 128 and 256; fp16 and bf16; causal and windows, GQA/MQA, varlen, LSE and
// variants as in fa2::forward. Not supported here (attnkit::forward in dispatch.cuh falls back
// to the sm_80 kernel for them): dropout, and varlen without problem.total_q / total_k, which
// bound the TMA's view of the packed tensors. Needs a compute capability 9.0 device and a
// build for sm_90a (CMAKE_CUDA_ARCHITECTURES 90a, or -gencode arch=compute_90a,code=sm_90a);
// on any other build it throws attnkit::error before launching (device_support.cuh).

#include <algorithm>
#include <string>
#include <type_traits>

#include <cuda_runtime_api.h>

#include "../attention/validate.cuh"
#include "../attention/validate_block_mask.cuh"
#include "../core/error.cuh"
#include "../core/launch.cuh"
#include "../sm90/tensor_map.cuh"
#include "device_support.cuh"
#include "forward_kernel.cuh"
#include "tensor_map_rows.cuh"

namespace attnkit::hopper {

constexpr bool is_supported_head_dim(int head_dim) { return head_dim == 64 || head_dim == 128 || head_dim == 256; }

// Why the Hopper kernels cannot take this problem's features, the head dim and shape checks
// aside; empty when they can. The one statement of what they lack, for the launchers' errors,
// supports_problem and attnkit::plan.
inline std::string feature_refusal(const AttentionProblem& problem) {
  if (problem.dropout.enabled()) return "dropout (p = " + std::to_string(problem.dropout.probability) + ")";
  if (problem.varlen() && (problem.total_q <= 0 || problem.total_k <= 0))
    return "varlen without total_q and total_k (the packed row counts bound the TMA's view of the packed "
           "tensors; got " + std::to_string(problem.total_q) + " and " + std::to_string(problem.total_k) +
           "; make_varlen_bshd_problem sets them)";
  return {};
}

// Whether hopper::forward accepts this problem's features (shape checks aside).
inline bool supports_problem(const AttentionProblem& problem) {
  return is_supported_head_dim(problem.head_dim) && feature_refusal(problem).empty();
}

namespace detail {

// What the Hopper kernels need beyond validate_problem: the features feature_refusal names, a
// compute capability 9.0 device and a build for sm_90a; returns the device id. `pass` names the
// kernel in the messages ("forward"), `fallback` the launcher that runs the rest ("fa2::forward").
inline int require_hopper_problem(const AttentionProblem& problem, const char* pass, const char* fallback) {
  const std::string refusal = feature_refusal(problem);
  require(refusal.empty(), "the Hopper ", pass, " does not take ", refusal, "; use ", fallback);
  int device = 0;
  ATTNKIT_CUDA_CHECK(cudaGetDevice(&device));
  const DeviceSupport support = device_support(device);
  require(support == DeviceSupport::available, "the Hopper ", pass, " cannot run on device ", device, ": ",
          describe(support), "; attnkit::forward / attnkit::backward fall back to the sm_80 kernels, or call ",
          fallback);
  return device;
}

}  // namespace detail

// What a forward kernel built from the roles (forward_kernel.cuh, or a user's own wiring of
// them) is launched with, for `Config` and a problem: the problem with its softmax scale
// resolved, the TMA descriptors, the tile schedule, the grid, the block and the shared memory.
// Validates the problem for the Hopper kernels first (attnkit::error naming the bad value).
struct ForwardLaunch {
  AttentionProblem problem;
  ForwardTensorMaps maps;
  TileSchedule schedule;
  int grid;
  int threads;
  int shared_bytes;
};

template <class Config>
ForwardLaunch prepare_forward_launch(const AttentionProblem& problem) {
  using Element = typename Config::Element;
  constexpr int kHeadDim = Config::kHeadDim;
  validate_problem(problem, ElementTraits<Element>::dtype, kHeadDim);
  const int device = detail::require_hopper_problem(problem, "forward", "fa2::forward");

  AttentionProblem resolved = problem;
  resolved.softmax_scale = problem.effective_scale();

  const TensorMapRows rows = tensor_map_rows(problem);
  const DType dtype = ElementTraits<Element>::dtype;
  ForwardTensorMaps maps;
  maps.q = make_tensor_map(problem.q, dtype, kHeadDim, rows.q, problem.heads_q, rows.batch, Config::kWarpgroupRows);
  maps.k = make_tensor_map(problem.k, dtype, kHeadDim, rows.k, problem.heads_kv, rows.batch, Config::kBlockN);
  maps.v = make_tensor_map(problem.v, dtype, kHeadDim, rows.k, problem.heads_kv, rows.batch, Config::kBlockN);
  maps.o = make_tensor_map(problem.o, dtype, kHeadDim, rows.q, problem.heads_q, rows.batch, 16);

  // Persistent: one CTA per SM at most (the tiles' shared memory and registers fill an SM);
  // otherwise one per tile, two per slot of the schedule.
  const TileSchedule schedule{ceil_div(problem.seqlen_q, Config::kBlockM), problem.heads_q, problem.heads_kv,
                              problem.batch};
  int grid = 2 * schedule.slots();
  if constexpr (Config::kPersistent) {
    int sm_count = 0;
    ATTNKIT_CUDA_CHECK(cudaDeviceGetAttribute(&sm_count, cudaDevAttrMultiProcessorCount, device));
    grid = std::min(schedule.slots(), sm_count);
  }
  return {resolved, maps, schedule, grid, Config::kThreads, Config::kSmemBytes};
}

namespace detail {

// Launches the library's kernel over `key_blocks`' walk.
template <class Element, int HeadDim, class Variant, class Config, class KeyBlocks>
void launch_forward(const AttentionProblem& problem, const Variant& variant, const KeyBlocks& key_blocks,
                    cudaStream_t stream) {
  static_assert(Config::kHeadDim == HeadDim && std::is_same_v<typename Config::Element, Element>,
                "Config was built for another element type or head dim");
  const ForwardLaunch launch = prepare_forward_launch<Config>(problem);
  const auto kernel = forward_kernel<Config, Variant, KeyBlocks>;
  attnkit::detail::launch_kernel(kernel, launch.grid, launch.threads, launch.shared_bytes, stream, launch.problem,
                                 launch.maps, variant, key_blocks, launch.schedule);
}

}  // namespace detail

// With an explicit Config, that kernel; without, one of the head dim's defaults
// (DefaultForwardConfig), picked by sequence length and mask.
template <class Element, int HeadDim, class Variant = NoVariant, class Config = void>
void forward(const AttentionProblem& problem, const Variant& variant = {}, cudaStream_t stream = nullptr) {
  if constexpr (std::is_void_v<Config>) {
    using Defaults = DefaultForwardConfig<Element, HeadDim>;
    if (Defaults::use_banded(problem.seqlen_q, problem.band.bounded()))
      return forward<Element, HeadDim, Variant, typename Defaults::banded_type>(problem, variant, stream);
    if constexpr (!std::is_same_v<typename Defaults::type, typename Defaults::short_type>) {
      if (Defaults::use_short(problem.seqlen_q, problem.band.bounded()))
        return forward<Element, HeadDim, Variant, typename Defaults::short_type>(problem, variant, stream);
    }
    return forward<Element, HeadDim, Variant, typename Defaults::type>(problem, variant, stream);
  } else {
    detail::launch_forward<Element, HeadDim, Variant, Config>(problem, variant, BandWalk{}, stream);
  }
}

// Block-sparse forward: each query block visits only the key blocks `mask` lists for it
// (mask/block_mask.cuh; its arrays on the device), as fa2::forward_block_sparse does: full ones
// with no element mask, partial ones with the variant's mask_mod, the band on top, O = 0 and
// LSE = −inf for rows that keep no key. The mask's blocks must be whole kernel blocks:
// block_m a multiple of 128 (the config's two consumer warpgroups), block_n of the config's
// BlockN (SparseForwardConfig: 128 for head dims 64 and 128, 64 for 256).
template <class Element, int HeadDim, class Variant = NoVariant,
          class Config = typename SparseForwardConfig<Element, HeadDim>::type>
void forward_block_sparse(const AttentionProblem& problem, const BlockMaskView& mask, const Variant& variant = {},
                          cudaStream_t stream = nullptr) {
  validate_block_mask(problem, mask, Config::kBlockM, Config::kBlockN);
  detail::launch_forward<Element, HeadDim, Variant, Config>(problem, variant, BlockMaskWalk{mask}, stream);
}

}  // namespace attnkit::hopper
