#pragma once
// Host launcher of the FlashAttention-2 backward: preprocess (D = rowsum(dO ∘ O)), the main
// kernel (dK, dV; dQ accumulated in fp32), postprocess (dQ scaled and rounded).
//
//   attnkit::fa2::forward<bfloat16_t, 128>(problem);              // writes O and LSE
//   attnkit::BackwardGradients grads = attnkit::make_gradients_like(problem, d_o, d_q, d_k, d_v);
//   attnkit::fa2::backward<bfloat16_t, 128>(problem, grads);
//
//   // block-sparse: forward and backward over the same mask and pattern
//   attnkit::fa2::forward_block_sparse<bfloat16_t, 128>(problem, mask.view(), pattern);
//   attnkit::fa2::backward_block_sparse<bfloat16_t, 128>(problem, grads, mask.view(), pattern);
//
// Head dims 32, 64, 96, 128, 192, 256. The problem must be the forward's (same dropout seed and
// offset too), with its LSE. grads.deterministic = true gives bitwise-reproducible gradients.

#include <type_traits>

#include <cuda_runtime_api.h>

#include "../attention/validate.cuh"
#include "../attention/validate_block_mask.cuh"
#include "../backward/passes.cuh"
#include "../core/error.cuh"
#include "../core/launch.cuh"
#include "backward_kernel.cuh"

namespace attnkit::fa2 {
namespace detail {

// Validates, resolves the scale, and runs the passes around the main kernel, launched over
// `query_blocks`' walk.
template <class Element, int HeadDim, class Variant, class Config, class QueryBlocks>
void launch_backward(const AttentionProblem& problem, const BackwardGradients& grads, const Variant& variant,
                     const QueryBlocks& query_blocks, cudaStream_t stream) {
  static_assert(Config::kHeadDim == HeadDim && std::is_same_v<typename Config::Element, Element>,
                "Config was built for another element type or head dim");
  validate_problem(problem, ElementTraits<Element>::dtype, HeadDim);
  require(problem.lse != nullptr, "the backward needs the forward's LSE: problem.lse is null");

  AttentionProblem resolved = problem;
  resolved.softmax_scale = problem.effective_scale();
  run_backward_passes<Element, HeadDim>(resolved, grads, SavedLse{}, stream, [&](const BackwardScratch& scratch) {
    // Dropout and the deterministic mode are compile-time choices of the kernel (no RNG code,
    // no turn-taking code where they are off): one of four instantiations.
    const bool dropout = problem.dropout.enabled();
    const auto kernel =
        dropout ? (grads.deterministic ? backward_kernel<Config, Variant, true, true, QueryBlocks>
                                       : backward_kernel<Config, Variant, true, false, QueryBlocks>)
                : (grads.deterministic ? backward_kernel<Config, Variant, false, true, QueryBlocks>
                                       : backward_kernel<Config, Variant, false, false, QueryBlocks>);
    const dim3 grid(ceil_div(problem.seqlen_k, Config::kBlockN), problem.heads_kv, problem.batch);
    attnkit::detail::launch_kernel(kernel, grid, Config::kThreads, Config::kSmemBytes, stream, resolved, grads,
                                   scratch, variant, query_blocks);
  });
}

}  // namespace detail

template <class Element, int HeadDim, class Variant = NoVariant,
          class Config = typename DefaultBackwardConfig<Element, HeadDim>::type>
void backward(const AttentionProblem& problem, const BackwardGradients& grads, const Variant& variant = {},
              cudaStream_t stream = nullptr) {
  detail::launch_backward<Element, HeadDim, Variant, Config>(problem, grads, variant, BandQueryWalk{}, stream);
}

// Block-sparse backward: each key block visits only the query blocks `mask` lists for it (its
// transposed lists; mask/block_mask.cuh, arrays on the device), full ones with no element mask,
// partial ones with the variant's mask_mod, the band on top, as fa2::forward_block_sparse did
// for the forward this differentiates (run it, or the dense forward with the same variant,
// first). Key blocks no query keeps get dK = dV = 0, rows that keep no key dQ = 0. The mask's
// blocks must be whole kernel blocks: block_m a multiple of the config's BlockM (64; 32 at head
// dims 192 and 256), block_n of its BlockN (128; 64 at 192 and 256), and it must cover the
// problem's sequences. grads.deterministic works as in fa2::backward; it counts each key
// block's turn in the mask's forward lists, which must then ascend, as the builders' do.
template <class Element, int HeadDim, class Variant = NoVariant,
          class Config = typename DefaultBackwardConfig<Element, HeadDim>::type>
void backward_block_sparse(const AttentionProblem& problem, const BackwardGradients& grads, const BlockMaskView& mask,
                           const Variant& variant = {}, cudaStream_t stream = nullptr) {
  validate_block_mask(problem, mask, Config::kBlockM, Config::kBlockN, BlockMaskLists::forward_and_transposed);
  detail::launch_backward<Element, HeadDim, Variant, Config>(problem, grads, variant, BlockMaskQueryWalk{mask},
                                                             stream);
}

}  // namespace attnkit::fa2
