// FA1 backward, head dim 32: the correctness matrix of fa1_backward_cases.cuh, fp16 and bf16.
#include "fa1_backward_cases.cuh"

TEST_CASE("fa1 backward, head dim 32", "[fa1][backward][d32]") { attnkit::testing::run_fa1_backward_matrix<32>(); }
