// Hopper backward, head dim 128: the correctness matrix of hopper_backward_cases.cuh, fp16 and bf16.
#include "hopper_backward_cases.cuh"

TEST_CASE("hopper backward, head dim 128", "[hopper][backward][d128]") { attnkit::testing::run_hopper_backward_matrix<128>(); }
