#pragma once
// Where one batch entry's sequences lie: dense batches index by batch stride, varlen batches
// by cu_seqlens offsets into packed rows. Kernels call locate_sequence once per CTA and then
// work in positions within the entry's own sequences (what masks and variants see).

#include <cstdint>

#include "problem.cuh"

namespace attnkit {

struct SequenceSpan {
  int64_t q_row_offset;  // rows of packed Q/O before this entry (varlen), else 0
  int64_t k_row_offset;
  int seqlen_q;
  int seqlen_k;
};

ATTNKIT_HOST_DEVICE inline SequenceSpan locate_sequence(const AttentionProblem& problem, int batch) {
  if (problem.cu_seqlens_q != nullptr) {
    const int q_start = problem.cu_seqlens_q[batch];
    const int k_start = problem.cu_seqlens_k[batch];
    return {q_start, k_start, problem.cu_seqlens_q[batch + 1] - q_start, problem.cu_seqlens_k[batch + 1] - k_start};
  }
  return {0, 0, problem.seqlen_q, problem.seqlen_k};
}

// Pointer to element (row 0, head, dim 0) of batch entry `batch` in `tensor`.
template <class Element>
ATTNKIT_HOST_DEVICE inline Element* sequence_start(const TensorRef& tensor, int64_t row_offset, int batch, int head,
                                                   bool varlen) {
  const int64_t offset =
      (varlen ? row_offset * tensor.row_stride : batch * tensor.batch_stride) + head * tensor.head_stride;
  return static_cast<Element*>(tensor.data) + offset;
}

// Pointer to LSE row 0 of (batch, head).
ATTNKIT_HOST_DEVICE inline float* lse_start(const AttentionProblem& problem, const SequenceSpan& span, int batch,
                                            int head) {
  const int64_t offset =
      (problem.cu_seqlens_q != nullptr ? span.q_row_offset : batch * problem.lse_batch_stride) +
      head * problem.lse_head_stride;
  return problem.lse + offset;
}

}  // namespace attnkit
