// FA2 backward, head dim 192: the correctness matrix of fa2_backward_cases.cuh, fp16 and bf16.
#include "fa2_backward_cases.cuh"

TEST_CASE("fa2 backward, head dim 192", "[fa2][backward][d192]") { attnkit::testing::run_backward_matrix<192>(); }
