// The block-sparse FA2 backward at head dim 128: the correctness matrix of
// fa2_backward_block_sparse_cases.cuh, fp16 and bf16.
#include "fa2_backward_block_sparse_cases.cuh"

TEST_CASE("fa2 block-sparse backward equals dense attention's gradients with the pattern's mask, d=128",
          "[fa2][backward][block_sparse]") {
  attnkit::testing::run_sparse_backward_matrix<attnkit::bfloat16_t, 128>(22000);
  attnkit::testing::run_sparse_backward_matrix<attnkit::half_t, 128>(22100);
  attnkit::testing::check_pattern_type<attnkit::half_t, 128>(22200);
}
