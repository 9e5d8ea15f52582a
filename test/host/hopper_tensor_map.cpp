// hopper/tensor_map_rows.cuh on the host: the rows and batch of the TMA's view of a problem (dense:
// the sequence lengths and the batch; varlen: the packed row counts as one batch entry).

#include <catch2/catch_test_macros.hpp>

#include "attnkit/hopper/tensor_map_rows.cuh"

TEST_CASE("tensor_map_rows: dense and varlen views", "[hopper][tensor_map]") {
  attnkit::AttentionProblem problem;
  problem.batch = 3;
  problem.seqlen_q = 100;
  problem.seqlen_k = 250;
  const attnkit::hopper::TensorMapRows dense = attnkit::hopper::tensor_map_rows(problem);
  CHECK(dense.q == 100);
  CHECK(dense.k == 250);
  CHECK(dense.batch == 3);

  const int cu_seqlens[4] = {0, 1, 40, 90};
  problem.cu_seqlens_q = problem.cu_seqlens_k = cu_seqlens;
  problem.total_q = 90;
  problem.total_k = 1000;
  const attnkit::hopper::TensorMapRows varlen = attnkit::hopper::tensor_map_rows(problem);
  CHECK(varlen.q == 90);
  CHECK(varlen.k == 1000);
  CHECK(varlen.batch == 1);
}
