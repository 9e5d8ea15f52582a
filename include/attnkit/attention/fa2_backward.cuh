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

#include "../core/error.cuh"
#include "../core/launch.cuh"
#include "../core/scoped_workspace.cuh"
#include "fa2_backward_kernel.cuh"
#include "validate.cuh"
#include "validate_block_mask.cuh"

namespace attnkit::fa2 {
namespace detail {

// The passes every backward schedule runs around its main kernel: check the gradient
// tensors, take the workspace (the caller's, or one from cudaMallocAsync for the call), zero
// the dQ accumulator and the turn counters, preprocess (D, and LSE·log2(e) from `statistics`),
// `launch_main(scratch)`, postprocess (dQ scaled and rounded). `resolved` has its softmax
// scale resolved.
template <class Element, int HeadDim, class RowStatistics, class LaunchMain>
void run_backward_passes(const AttentionProblem& resolved, const BackwardGradients& grads,
                         const RowStatistics& statistics, cudaStream_t stream, LaunchMain&& launch_main) {
  const bool varlen = resolved.varlen();
  attnkit::detail::require_tensor(grads.d_o, "d_o", varlen);
  attnkit::detail::require_tensor(grads.d_q, "d_q", varlen);
  attnkit::detail::require_tensor(grads.d_k, "d_k", varlen);
  attnkit::detail::require_tensor(grads.d_v, "d_v", varlen);

  const BackwardWorkspaceLayout layout = backward_workspace_layout(resolved);
  attnkit::detail::ScopedWorkspace workspace(grads.workspace, grads.workspace_bytes, layout.total,
                                             "backward_workspace_bytes()", stream);
  char* const bytes = static_cast<char*>(workspace.get());
  float* const d_rows = reinterpret_cast<float*>(bytes + layout.d_offset);
  float* const lse_log2_rows = reinterpret_cast<float*>(bytes + layout.lse_log2_offset);
  const BackwardScratch scratch{reinterpret_cast<float*>(bytes), d_rows, lse_log2_rows,
                                reinterpret_cast<int*>(bytes + layout.counters_offset)};

  // Zeroes the dQ accumulator and the turn counters.
  ATTNKIT_CUDA_CHECK(cudaMemsetAsync(workspace.get(), 0, layout.d_offset, stream));
  const dim3 row_grid(ceil_div(resolved.seqlen_q, kPrePostWarps), resolved.heads_q, resolved.batch);
  backward_preprocess_kernel<Element, HeadDim, RowStatistics>
      <<<row_grid, kPrePostWarps * 32, 0, stream>>>(resolved, grads.d_o, d_rows, lse_log2_rows, statistics);
  ATTNKIT_CHECK_LAUNCH();
  launch_main(scratch);
  backward_postprocess_kernel<Element, HeadDim>
      <<<row_grid, kPrePostWarps * 32, 0, stream>>>(resolved, grads.d_q, scratch.dq_accumulator);
  ATTNKIT_CHECK_LAUNCH();
  workspace.release();
}

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
