// Hopper backward, head dim 64: the correctness matrix of hopper_backward_cases.cuh, fp16 and bf16.
#include "hopper_backward_cases.cuh"

TEST_CASE("hopper backward, head dim 64", "[hopper][backward][d64]") { attnkit::testing::run_hopper_backward_matrix<64>(); }
