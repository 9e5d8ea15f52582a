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
//   // block-sparse (Algorithm 5): only the tiles a block mask lists (mask/block_mask.cuh)
//   attnkit::fa1::forward_block_sparse<bfloat16_t, 128>(problem, mask.view(), {}, CausalPattern{});
//
// Writes O and, when problem.lse is set, LSE, with the same meaning as fa2::forward; dropout
// draws the FA2 kernels' mask. After the call the workspace holds the rows' m and ℓ, which
// fa1::backward reads: pass the same workspace to it. Instantiates one kernel per (element
// type, head dim, variant, config, dropout on or off, dense or block-sparse).

#include <type_traits>

#include <cuda_runtime_api.h>

#include "../attention/validate.cuh"
#include "../attention/validate_block_mask.cuh"
#include "../core/error.cuh"
#include "../core/launch.cuh"
#include "../core/scoped_workspace.cuh"
#include "block_mask_schedule.cuh"
#include "forward_kernel.cuh"

namespace attnkit::fa1 {
namespace detail {

// Validates, resolves the scale, takes the workspace, and launches the kernel (with or without
// dropout) over `query_blocks`' walk.
template <class Element, int HeadDim, class Variant, class Config, class QueryBlocks>
void launch_forward(const AttentionProblem& problem, const Variant& variant, cudaStream_t stream,
                    ForwardWorkspace workspace, const QueryBlocks& query_blocks) {
  static_assert(Config::kHeadDim == HeadDim && std::is_same_v<typename Config::Element, Element>,
                "Config was built for another element type or head dim");
  validate_problem(problem, ElementTraits<Element>::dtype, HeadDim);

  attnkit::detail::ScopedWorkspace scratch(workspace.data, workspace.bytes, forward_workspace_bytes(problem),
                                  "fa1::forward_workspace_bytes()", stream);

  AttentionProblem resolved = problem;
  resolved.softmax_scale = problem.effective_scale();

  // Dropout is a compile-time choice of the kernel: no RNG code where it is off.
  const auto kernel = problem.dropout.enabled() ? forward_kernel<Config, Variant, true, QueryBlocks>
                                                : forward_kernel<Config, Variant, false, QueryBlocks>;
  // One CTA per (query head, batch entry): Algorithm 1 runs the whole head in one CTA.
  attnkit::detail::launch_kernel(kernel, dim3(problem.heads_q, problem.batch), Config::kThreads, Config::kSmemBytes,
                                 stream, resolved, variant, forward_workspace_view(problem, scratch.get()),
                                 query_blocks);
  scratch.release();
}

}  // namespace detail

template <class Element, int HeadDim, class Variant = NoVariant,
          class Config = typename DefaultForwardConfig<Element, HeadDim>::type>
void forward(const AttentionProblem& problem, const Variant& variant = {}, cudaStream_t stream = nullptr,
             ForwardWorkspace workspace = {}) {
  detail::launch_forward<Element, HeadDim, Variant, Config>(problem, variant, stream, workspace, BandQueryBlocks{});
}

// Block-sparse forward (Algorithm 5): each K/V block visits only the query blocks `mask` lists
// for it in its transposed lists (mask/block_mask.cuh; its arrays on the device), full ones with
// no element mask, partial ones with the variant's mask_mod, which should be the pattern the
// mask was built from. The band (problem.band, usually none) still applies on top. Rows that
// keep no key get O = 0 and LSE = −inf (and ℓ = 0 in the workspace, which fa1::backward reads as
// such). The mask's blocks must be whole kernel blocks: block_m a multiple of the config's
// BlockM (16), block_n of its BlockN (SparseForwardConfig: 128 for d ≤ 128, 64 for 192 and
// 256; a ForwardConfig with another B_c that divides the mask's also runs), and it must cover
// the problem's sequences. Arguments in fa1::forward's order, the mask after the problem.
template <class Element, int HeadDim, class Variant = NoVariant,
          class Config = typename SparseForwardConfig<Element, HeadDim>::type>
void forward_block_sparse(const AttentionProblem& problem, const BlockMaskView& mask, const Variant& variant = {},
                          cudaStream_t stream = nullptr, ForwardWorkspace workspace = {}) {
  validate_block_mask(problem, mask, Config::kBlockM, Config::kBlockN);
  require(mask.full_q_counts != nullptr && mask.full_q_indices != nullptr && mask.partial_q_counts != nullptr &&
              mask.partial_q_indices != nullptr,
          "block mask transposed lists (full_q_*, partial_q_*) are null: the FA1 forward walks the query blocks of "
          "each key block");
  detail::launch_forward<Element, HeadDim, Variant, Config>(problem, variant, stream, workspace,
                                                            BlockMaskQueryBlocks{mask});
}

}  // namespace attnkit::fa1
