#pragma once
// Host launcher of the FlashAttention-2 forward kernel.
//
//   attnkit::fa2::forward<bfloat16_t, 128>(problem);                 // plain / causal / window
//   attnkit::fa2::forward<bfloat16_t, 128>(problem, SoftCap{30.f});  // with a variant
//
// Instantiates two kernels (without and with dropout) per (element type, head dim, variant,
// config, dense or block-sparse); put different instantiations in different translation units
// to bound compile time.

#include <type_traits>

#include <cuda_runtime_api.h>

#include "../attention/validate.cuh"
#include "../attention/validate_block_mask.cuh"
#include "../core/error.cuh"
#include "../core/launch.cuh"
#include "forward_kernel.cuh"

namespace attnkit::fa2 {
namespace detail {

// Validates, resolves the scale, and launches the kernel (with or without dropout) over
// `key_blocks`' walk.
template <class Element, int HeadDim, class Variant, class Config, class KeyBlocks>
void launch_forward(const AttentionProblem& problem, const Variant& variant, const KeyBlocks& key_blocks,
                    cudaStream_t stream) {
  static_assert(Config::kHeadDim == HeadDim && std::is_same_v<typename Config::Element, Element>,
                "Config was built for another element type or head dim");
  validate_problem(problem, ElementTraits<Element>::dtype, HeadDim);

  AttentionProblem resolved = problem;
  resolved.softmax_scale = problem.effective_scale();

  // Dropout is a separate instantiation so that p = 0 runs no RNG code at all.
  const auto kernel = problem.dropout.enabled() ? forward_kernel<Config, Variant, true, KeyBlocks>
                                                : forward_kernel<Config, Variant, false, KeyBlocks>;
  const dim3 grid(ceil_div(problem.seqlen_q, Config::kBlockM), problem.heads_q, problem.batch);
  attnkit::detail::launch_kernel(kernel, grid, Config::kThreads, Config::kSmemBytes, stream, resolved, variant,
                                 key_blocks);
}

}  // namespace detail

template <class Element, int HeadDim, class Variant = NoVariant,
          class Config = typename DefaultForwardConfig<Element, HeadDim>::type>
void forward(const AttentionProblem& problem, const Variant& variant = {}, cudaStream_t stream = nullptr) {
  detail::launch_forward<Element, HeadDim, Variant, Config>(problem, variant, BandWalk{}, stream);
}

// Block-sparse forward: each query block visits only the key blocks `mask` lists for it
// (mask/block_mask.cuh; its arrays on the device), full ones with no element mask, partial ones
// with the variant's mask_mod, which should be the pattern the mask was built from. The band
// (problem.band, usually none) still applies on top. Rows that keep no key get O = 0 and
// LSE = −inf. The mask's blocks must be whole kernel blocks: block_m a multiple of the config's
// BlockM (128), block_n of its BlockN (64 or 128), and it must cover the problem's sequences.
template <class Element, int HeadDim, class Variant = NoVariant,
          class Config = typename DefaultForwardConfig<Element, HeadDim>::type>
void forward_block_sparse(const AttentionProblem& problem, const BlockMaskView& mask, const Variant& variant = {},
                          cudaStream_t stream = nullptr) {
  validate_block_mask(problem, mask, Config::kBlockM, Config::kBlockN);
  detail::launch_forward<Element, HeadDim, Variant, Config>(problem, variant, BlockMaskWalk{mask}, stream);
}

}  // namespace attnkit::fa2
