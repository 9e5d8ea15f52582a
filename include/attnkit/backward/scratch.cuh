#pragma once
// The backward's workspace as its kernels see it: the buffers every backward schedule (FA1,
// FA2, Hopper) shares between its preprocess, main and postprocess passes
// (attention/backward_problem.cuh lays them out in one allocation), and the row order they
// share.

#include <cstdint>

#include "../attention/problem.cuh"
#include "../attention/sequence.cuh"

namespace attnkit {

// The workspace buffers the main kernel reads and writes (backward_problem.cuh's layout).
struct BackwardScratch {
  float* dq_accumulator;        // (rows, heads_q, head dim), zeroed
  const float* d_rows;          // D, (heads_q, rows)
  const float* lse_log2_rows;   // LSE·log2(e), +inf for rows that kept no key, (heads_q, rows)
  int* dq_turns;                // deterministic mode's turn counters, zeroed
};

// Row `row` of batch entry `batch` in the packed row order of the scratch buffers.
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE int64_t scratch_row(const AttentionProblem& problem, const SequenceSpan& span,
                                                        int batch, int row) {
  return (problem.cu_seqlens_q != nullptr ? span.q_row_offset : int64_t(batch) * problem.seqlen_q) + row;
}

}  // namespace attnkit
