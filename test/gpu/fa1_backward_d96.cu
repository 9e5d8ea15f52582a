// FA1 backward, head dim 96: the correctness matrix of fa1_backward_cases.cuh, fp16 and bf16.
#include "fa1_backward_cases.cuh"

TEST_CASE("fa1 backward, head dim 96", "[fa1][backward][d96]") { attnkit::testing::run_fa1_backward_matrix<96>(); }
