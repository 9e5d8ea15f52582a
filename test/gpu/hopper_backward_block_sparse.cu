// The block-sparse Hopper backward (hopper::backward_block_sparse): the matrix of
// fa2_backward_block_sparse_cases.cuh without its dropout case, bf16 at head dim 128 and fp16
// at 64 (whose 128-row query blocks make each 128-row mask block one kernel block, where d=128
// splits it in two). Runs only on compute capability 9.0 devices; elsewhere it is skipped.

#include "fa2_backward_block_sparse_cases.cuh"
#include "hopper_forward_cases.cuh"

TEST_CASE("hopper block-sparse backward equals dense attention's gradients with the pattern's mask",
          "[hopper][backward][block_sparse]") {
  using attnkit::testing::SparseBackwardKernel;
  attnkit::testing::skip_unless_hopper();
  attnkit::testing::run_sparse_backward_matrix<attnkit::bfloat16_t, 128, SparseBackwardKernel::hopper>(23000);
  attnkit::testing::run_sparse_backward_matrix<attnkit::half_t, 64, SparseBackwardKernel::hopper>(23100);
  attnkit::testing::check_pattern_type<attnkit::bfloat16_t, 128, SparseBackwardKernel::hopper>(23200);
}
