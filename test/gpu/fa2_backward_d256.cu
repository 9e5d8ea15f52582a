// FA2 backward, head dim 256: the correctness matrix of fa2_backward_cases.cuh, fp16 and bf16.
#include "fa2_backward_cases.cuh"

TEST_CASE("fa2 backward, head dim 256", "[fa2][backward][d256]") { attnkit::testing::run_backward_matrix<256>(); }
