#pragma once
// Host launcher of the Hopper (sm_90a) attention backward.
//
//   attnkit::hopper::forward<bfloat16_t, 128>(problem);            // O and LSE (either forward)
//   attnkit::BackwardGradients grads = attnkit::make_gradients_like(problem, d_o, d_q, d_k, d_v);
//   attnkit::hopper::backward<bfloat16_t, 128>(problem, grads);
//
// Head dims 64 and 128; fp16 and bf16; causal and windows, GQA/MQA (dK, dV summed over the
// group in registers), varlen, variants with score_mod (and its derivative) and mask_mod, block
// masks, as fa2::backward. Not supported here (attnkit::backward in dispatch_backward.cuh falls
// back to fa2::backward for them): dropout, the deterministic mode, varlen without
// problem.total_q / total_k. The same workspace as fa2::backward (backward_workspace_bytes()).
// Needs a compute capability 9.0 device and a build for sm_90a.

#include <type_traits>

#include <cuda_runtime_api.h>

#include "../attention/validate.cuh"
#include "../attention/validate_block_mask.cuh"
#include "../core/error.cuh"
#include "../core/launch.cuh"
#include "../backward/passes.cuh"
#include "../sm90/tensor_map.cuh"
#include "backward_kernel.cuh"
#include "forward.cuh"
#include "tensor_map_rows.cuh"

namespace attnkit::hopper {

constexpr bool is_supported_backward_head_dim(int head_dim) { return head_dim == 64 || head_dim == 128; }

// Whether hopper::backward accepts this problem and these gradients (shape checks aside).
inline bool supports_backward(const AttentionProblem& problem, const BackwardGradients& grads) {
  return is_supported_backward_head_dim(problem.head_dim) && !grads.deterministic && supports_problem(problem);
}

namespace detail {

template <class Element, int HeadDim, class Variant, class Config, class QueryBlocks>
void launch_backward(const AttentionProblem& problem, const BackwardGradients& grads, const Variant& variant,
                     const QueryBlocks& query_blocks, cudaStream_t stream) {
  static_assert(Config::kHeadDim == HeadDim && std::is_same_v<typename Config::Element, Element>,
                "Config was built for another element type or head dim");
  validate_problem(problem, ElementTraits<Element>::dtype, HeadDim);
  require(problem.lse != nullptr, "the backward needs the forward's LSE: problem.lse is null");
  require_hopper_problem(problem, "backward", "fa2::backward");
  require(!grads.deterministic, "the deterministic mode is not supported by the Hopper backward; use fa2::backward");

  AttentionProblem resolved = problem;
  resolved.softmax_scale = problem.effective_scale();
  run_backward_passes<Element, HeadDim>(
      resolved, grads, SavedLse{}, stream, [&](const BackwardScratch& scratch) {
        const TensorMapRows rows = tensor_map_rows(problem);
        const DType dtype = ElementTraits<Element>::dtype;
        BackwardTensorMaps maps;
        maps.q = make_tensor_map(problem.q, dtype, HeadDim, rows.q, problem.heads_q, rows.batch, Config::kBlockM);
        maps.d_o = make_tensor_map(grads.d_o, dtype, HeadDim, rows.q, problem.heads_q, rows.batch, Config::kBlockM);
        maps.k = make_tensor_map(problem.k, dtype, HeadDim, rows.k, problem.heads_kv, rows.batch, Config::kBlockN);
        maps.v = make_tensor_map(problem.v, dtype, HeadDim, rows.k, problem.heads_kv, rows.batch, Config::kBlockN);

        const auto kernel = backward_kernel<Config, Variant, QueryBlocks>;
        const dim3 grid(ceil_div(problem.seqlen_k, Config::kBlockN), problem.heads_kv, problem.batch);
        attnkit::detail::launch_kernel(kernel, grid, Config::kThreads, Config::kSmemBytes, stream, resolved, maps,
                                       grads.d_k, grads.d_v, scratch, variant, query_blocks);
      });
}

}  // namespace detail

template <class Element, int HeadDim, class Variant = NoVariant,
          class Config = typename DefaultBackwardConfig<Element, HeadDim>::type>
void backward(const AttentionProblem& problem, const BackwardGradients& grads, const Variant& variant = {},
              cudaStream_t stream = nullptr) {
  detail::launch_backward<Element, HeadDim, Variant, Config>(problem, grads, variant, BandQueryWalk{}, stream);
}

// Block-sparse backward over the mask a block-sparse forward used (its transposed lists too),
// as fa2::backward_block_sparse. The mask's blocks must be whole kernel blocks: block_m a
// multiple of the config's BlockM (128 at head dim 64, 64 at 128), block_n of 128.
template <class Element, int HeadDim, class Variant = NoVariant,
          class Config = typename DefaultBackwardConfig<Element, HeadDim>::type>
void backward_block_sparse(const AttentionProblem& problem, const BackwardGradients& grads, const BlockMaskView& mask,
                           const Variant& variant = {}, cudaStream_t stream = nullptr) {
  validate_block_mask(problem, mask, Config::kBlockM, Config::kBlockN, BlockMaskLists::forward_and_transposed);
  detail::launch_backward<Element, HeadDim, Variant, Config>(problem, grads, variant, BlockMaskQueryWalk{mask},
                                                             stream);
}

}  // namespace attnkit::hopper
