// The block-sparse kernels behind block_sparse.h for one (head dim, score modification),
// included by each generated unit: `ATTNKIT_TORCH_REGISTER_SPARSE(64, softcap)`. Separate
// units from the dense ones (kernels.cuh), so the two compile in parallel.
#pragma once

#include <attnkit/fa2/backward.cuh>
#include <attnkit/fa2/forward.cuh>
#include <attnkit/hopper/forward.cuh>

#include "block_sparse.h"
#include "kernels.cuh"
#include "pattern_mask.cuh"

namespace attnkit_torch {

// The one place where the sparse forward's kernel is chosen: the Hopper kernel for head dims
// 64 and 128 on an sm_90 GPU when it supports the problem (and the caller allows it), else
// FA2's, which runs everything.
template <int HeadDim>
bool sparse_forward_runs_on_hopper(const attnkit::AttentionProblem& problem, bool allow_hopper) {
  if (!(HeadDim == 64 || HeadDim == 128) || !allow_hopper || !attnkit::hopper::supports_problem(problem)) return false;
  int device = 0;
  ATTNKIT_CUDA_CHECK(cudaGetDevice(&device));
  return attnkit::hopper::device_supports_forward(device);
}

template <int HeadDim, ScoreModKind Kind, class Element>
void sparse_forward_typed(const attnkit::AttentionProblem& problem, const attnkit::BlockMaskView& mask,
                          const PatternMask& pattern, const ScoreMod& mod, bool allow_hopper, cudaStream_t stream) {
  const auto variant = with_pattern(make_variant<Kind>(mod), pattern);
  if constexpr (HeadDim == 64 || HeadDim == 128) {  // the head dims with a Hopper sparse kernel here
    if (sparse_forward_runs_on_hopper<HeadDim>(problem, allow_hopper))
      return attnkit::hopper::forward_block_sparse<Element, HeadDim>(problem, mask, variant, stream);
  }
  attnkit::fa2::forward_block_sparse<Element, HeadDim>(problem, mask, variant, stream);
}

template <int HeadDim, ScoreModKind Kind>
void sparse_forward(const attnkit::AttentionProblem& problem, const attnkit::BlockMaskView& mask,
                    const PatternMask& pattern, const ScoreMod& mod, bool allow_hopper, cudaStream_t stream,
                    LaunchStatus& status) {
  guarded(status, [&] {
    if (problem.dtype == attnkit::DType::bf16)
      return sparse_forward_typed<HeadDim, Kind, attnkit::bfloat16_t>(problem, mask, pattern, mod, allow_hopper,
                                                                      stream);
    sparse_forward_typed<HeadDim, Kind, attnkit::half_t>(problem, mask, pattern, mod, allow_hopper, stream);
  });
}

template <int HeadDim, ScoreModKind Kind>
void sparse_backward(const attnkit::AttentionProblem& problem, const attnkit::BackwardGradients& grads,
                     const attnkit::BlockMaskView& mask, const PatternMask& pattern, const ScoreMod& mod,
                     cudaStream_t stream, LaunchStatus& status) {
  guarded(status, [&] {
    const auto variant = with_pattern(make_variant<Kind>(mod), pattern);
    if (problem.dtype == attnkit::DType::bf16)
      return attnkit::fa2::backward_block_sparse<attnkit::bfloat16_t, HeadDim>(problem, grads, mask, variant, stream);
    attnkit::fa2::backward_block_sparse<attnkit::half_t, HeadDim>(problem, grads, mask, variant, stream);
  });
}

#define ATTNKIT_TORCH_REGISTER_SPARSE(HEAD_DIM, KIND)                                                      \
  namespace {                                                                                              \
  const attnkit_torch::SparseRegistrar sparse_registrar(                                                   \
      HEAD_DIM, attnkit_torch::ScoreModKind::KIND,                                                         \
      {&attnkit_torch::sparse_forward<HEAD_DIM, attnkit_torch::ScoreModKind::KIND>,                        \
       &attnkit_torch::sparse_backward<HEAD_DIM, attnkit_torch::ScoreModKind::KIND>});                     \
  }

}  // namespace attnkit_torch
