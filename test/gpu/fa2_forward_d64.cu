// FA2 forward, head dim 64: the correctness matrix of fa2_forward_cases.cuh, fp16 and bf16.
#include "fa2_forward_cases.cuh"

TEST_CASE("fa2 forward, head dim 64", "[fa2][forward][d64]") { attnkit::testing::run_forward_matrix<64>(); }
