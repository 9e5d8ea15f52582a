#pragma once
// The rows and batch of the TMA's view of an attention problem's tensors
// (sm90/tensor_map.cuh): (seqlen_q, seqlen_k, batch) dense; a varlen problem's packed rows
// (total_q, total_k) as one batch entry.

#include <cstdint>

#include "../attention/problem.cuh"

namespace attnkit::hopper {

struct TensorMapRows {
  int64_t q, k;
  int batch;
};

inline TensorMapRows tensor_map_rows(const AttentionProblem& problem) {
  if (problem.varlen()) return {problem.total_q, problem.total_k, 1};
  return {problem.seqlen_q, problem.seqlen_k, problem.batch};
}

}  // namespace attnkit::hopper
