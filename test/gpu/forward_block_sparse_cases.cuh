#pragma once
// The block-sparse forward's correctness matrix, shared by the kernels that have one: the
// sparse result against dense attention with the equivalent element mask (the float64
// reference evaluating the pattern's mask_mod), under the forward's tolerance rule, for every
// pattern of mask/mask_patterns.cuh, sequences that are not block multiples, s_q != s_k, GQA,
// a mask shared by all heads and one per head, rows that keep no key, dropout, and masks from
// the host and from the GPU builders.

#include <memory>
#include <vector>

#include "attnkit/mask/block_mask_builder.cuh"
#include "attnkit/mask/mask_patterns.cuh"
#include "support/case_matrix.cuh"
#include "support/device_array.cuh"
#include "support/forward_check.cuh"
#include "support/mask_table.cuh"

namespace attnkit::testing {

// Launches the sparse forward under test, `SparseForward::run<Element, HeadDim>(problem, mask,
// variant)`, with the mask built (on the host from `pattern`'s classify, or on the GPU from its
// mask_mod) for the problem's shape, one mask entry per head when `per_head`. The kernel's
// variant is the element mask of `host_pattern` (the same pattern, readable on the host) as a
// table (support/mask_table.cuh), so every pattern runs the same kernels.
template <class SparseForward, class Element, int HeadDim, class Pattern, class HostPattern>
ForwardLauncher sparse_launcher(const Pattern& pattern, bool gpu_builder, bool per_head,
                                const HostPattern& host_pattern) {
  return [pattern, gpu_builder, per_head, host_pattern](const AttentionProblem& problem) {
    const int heads = per_head ? problem.heads_q : 1;
    DeviceBlockMask mask =
        gpu_builder ? build_block_mask_from_mask_mod(pattern, 1, heads, problem.seqlen_q, problem.seqlen_k)
                    : DeviceBlockMask::upload(build_block_mask_host(
                          1, heads, problem.seqlen_q, problem.seqlen_k,
                          [&](int b, int h, TileBounds t) { return pattern.classify(b, h, t); }));
    const DeviceMaskTable table(host_pattern, problem);
    SparseForward::template run<Element, HeadDim>(problem, mask.view(), table.variant());
    ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());  // before the mask and the table are freed
  };
}
template <class SparseForward, class Element, int HeadDim, class Pattern>
ForwardLauncher sparse_launcher(const Pattern& pattern, bool gpu_builder, bool per_head) {
  return sparse_launcher<SparseForward, Element, HeadDim>(pattern, gpu_builder, per_head, pattern);
}

// Every pattern against dense attention with its element mask; the dropout case only where
// SparseForward::kDropout says the kernel supports it.
template <class SparseForward, class Element, int HeadDim>
void check_sparse_patterns() {
  const ForwardCase square = gqa_case(1000, 1000, 12000);
  {
    INFO("pattern: causal, host builder, shared mask");
    check_forward<Element>(HeadDim, square, sparse_launcher<SparseForward, Element, HeadDim>(CausalPattern{}, false, false),
                           CausalPattern{});
  }
  {
    INFO("pattern: causal, s_q < s_k (bottom-right), GPU builder");
    const CausalPattern shifted{{}, 300};
    check_forward<Element>(HeadDim, gqa_case(700, 1000, 12010),
                           sparse_launcher<SparseForward, Element, HeadDim>(shifted, true, false), shifted);
  }
  {
    INFO("pattern: causal shifted by -200: the first 200 rows keep no key (O = 0, LSE = -inf)");
    const CausalPattern empty_rows{{}, -200};
    check_forward<Element>(HeadDim, square, sparse_launcher<SparseForward, Element, HeadDim>(empty_rows, false, false), empty_rows);
  }
  {
    INFO("pattern: sliding window of 200, per-head masks");
    const SlidingWindowPattern window{{}, 200, 0};
    check_forward<Element>(HeadDim, square, sparse_launcher<SparseForward, Element, HeadDim>(window, false, true), window);
  }
  {
    INFO("pattern: local 100 + 40 global tokens");
    const LocalGlobalPattern local_global{{}, 100, 40, 0};
    check_forward<Element>(HeadDim, square, sparse_launcher<SparseForward, Element, HeadDim>(local_global, true, false),
                           local_global);
  }
  {
    INFO("pattern: strided, stride 150");
    const StridedPattern strided{{}, 150, 0};
    check_forward<Element>(HeadDim, square, sparse_launcher<SparseForward, Element, HeadDim>(strided, false, false), strided);
  }
  {
    INFO("pattern: causal documents of 1..400 tokens");
    std::vector<int> ids(1000);
    for (int i = 0, doc = 0, left = 1; i < 1000; ++i) {
      if (--left == 0) left = 1 + (++doc * 97) % 400;
      ids[i] = doc;
    }
    auto device_ids = std::make_shared<DeviceArray<int>>(ids);
    const DocumentPattern on_device{{}, device_ids->get(), 1000, true, 0};
    DocumentPattern on_host = on_device;
    on_host.document = ids.data();
    // The mask is built on the GPU from the device ids; the kernel's table and the reference
    // read the host ids.
    const ForwardLauncher launch =
        [inner = sparse_launcher<SparseForward, Element, HeadDim>(on_device, true, false, on_host),
         device_ids](const AttentionProblem& problem) { inner(problem); };
    check_forward<Element>(HeadDim, square, launch, on_host);
  }
  if constexpr (SparseForward::kDropout) {
    INFO("pattern: causal with dropout 0.2");
    ForwardCase c = square;
    c.dropout = 0.2f;
    check_forward<Element>(HeadDim, c, sparse_launcher<SparseForward, Element, HeadDim>(CausalPattern{}, false, false),
                           CausalPattern{});
  }
}

}  // namespace attnkit::testing
