// The block-sparse FA1 forward at head dim 128 (16 × 128 kernel blocks, the default): the shared
// block-sparse matrix and FA1's own cases, fp16 and bf16 (fa1_forward_block_sparse_cases.cuh).
#include "fa1_forward_block_sparse_cases.cuh"

using namespace attnkit;
using namespace attnkit::testing;

TEST_CASE("fa1 block-sparse forward equals dense attention with the pattern's mask, d=128",
          "[fa1][forward][block_sparse][d128]") {
  check_sparse_patterns<Fa1SparseForward, bfloat16_t, 128>();
  check_sparse_patterns<Fa1SparseForward, half_t, 128>();
}

TEST_CASE("fa1 block-sparse forward, mask blocks of several kernel blocks, per-entry masks, d=128",
          "[fa1][forward][block_sparse][d128]") {
  check_fa1_sparse_schedule<bfloat16_t, 128>();
  check_fa1_sparse_schedule<half_t, 128>();
}
