#pragma once
// The passes every backward schedule (fa1/, fa2/, hopper/) runs around its own main kernel: a
// block for a user's backward kernel too. It checks the gradient tensors, takes the workspace
// (the caller's, or one from cudaMallocAsync for the call), zeroes the dQ accumulator and the
// turn counters, runs the preprocess (D, and LSE·log2(e) from `statistics`: SavedLse, or
// FA1's m and l), `launch_main(scratch)`, and the postprocess (dQ scaled and rounded).

#include <cuda_runtime_api.h>

#include "../attention/backward_problem.cuh"
#include "../attention/validate.cuh"
#include "../core/error.cuh"
#include "../core/math.cuh"
#include "../core/scoped_workspace.cuh"
#include "pre_post.cuh"
#include "scratch.cuh"

namespace attnkit {

// `resolved` has its softmax scale resolved.
template <class Element, int HeadDim, class RowStatistics, class LaunchMain>
void run_backward_passes(const AttentionProblem& resolved, const BackwardGradients& grads,
                         const RowStatistics& statistics, cudaStream_t stream, LaunchMain&& launch_main) {
  const bool varlen = resolved.varlen();
  detail::require_tensor(grads.d_o, "d_o", varlen);
  detail::require_tensor(grads.d_q, "d_q", varlen);
  detail::require_tensor(grads.d_k, "d_k", varlen);
  detail::require_tensor(grads.d_v, "d_v", varlen);

  const BackwardWorkspaceLayout layout = backward_workspace_layout(resolved);
  detail::ScopedWorkspace workspace(grads.workspace, grads.workspace_bytes, layout.total,
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

}  // namespace attnkit
