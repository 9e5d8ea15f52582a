// build_block_mask (block_sparse.h): attnkit's GPU builders (mask/block_mask_builder.cuh) on a
// runtime pattern or a boolean block tensor, their lists copied into the caller's tensors.

#include <attnkit/core/math.cuh>
#include <attnkit/mask/block_mask_builder.cuh>

#include "block_sparse.h"
#include "pattern_mask.cuh"

namespace attnkit_torch {

void build_block_mask(const BlockMaskRequest& request, const BlockMaskArrays& lists, cudaStream_t stream,
                      LaunchStatus& status) {
  guarded(status, [&] {
    const RuntimePattern pattern = RuntimePattern::from(request.pattern);
    const attnkit::DeviceBlockMask built =
        request.pattern.kind == PatternKind::blocks
            ? attnkit::build_block_mask_from_dense(
                  request.dense_blocks, request.batches, request.heads, attnkit::ceil_div(request.seqlen_q, request.block_m),
                  attnkit::ceil_div(request.seqlen_k, request.block_n), request.block_m, request.block_n, stream)
            : attnkit::build_block_mask_from_mask_mod(pattern, request.batches, request.heads, request.seqlen_q,
                                                      request.seqlen_k, request.block_m, request.block_n, stream);
    // The builder owns its arrays; the caller's tensors outlive it (torch's allocator, freed with
    // the Python mask object). Copied on the same stream, before `built` frees its own.
    const attnkit::BlockMaskView& view = built.view();
    const std::size_t entries = std::size_t(view.batches) * view.heads;
    const std::size_t cells = entries * view.q_blocks * view.kv_blocks;
    auto copy = [&](int* to, const int* from, std::size_t count) {
      ATTNKIT_CUDA_CHECK(cudaMemcpyAsync(to, from, count * sizeof(int), cudaMemcpyDeviceToDevice, stream));
    };
    copy(lists.full_counts, view.full_counts, entries * view.q_blocks);
    copy(lists.full_indices, view.full_indices, cells);
    copy(lists.partial_counts, view.partial_counts, entries * view.q_blocks);
    copy(lists.partial_indices, view.partial_indices, cells);
    copy(lists.full_q_counts, view.full_q_counts, entries * view.kv_blocks);
    copy(lists.full_q_indices, view.full_q_indices, cells);
    copy(lists.partial_q_counts, view.partial_q_counts, entries * view.kv_blocks);
    copy(lists.partial_q_indices, view.partial_q_indices, cells);
    // The copies must finish before ~DeviceBlockMask frees what they read; cudaFree's own
    // synchronization is not something to lean on.
    ATTNKIT_CUDA_CHECK(cudaStreamSynchronize(stream));
  });
}

}  // namespace attnkit_torch
