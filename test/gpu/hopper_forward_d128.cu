// Hopper forward, head dim 128: the correctness matrix of hopper_forward_cases.cuh, fp16 and bf16.
#include "hopper_forward_cases.cuh"

TEST_CASE("hopper forward, head dim 128", "[hopper][forward][d128]") { attnkit::testing::run_hopper_forward_matrix<128>(); }
