// FA1 forward, head dim 192: the correctness matrix of fa1_forward_cases.cuh, fp16 and bf16.
#include "fa1_forward_cases.cuh"

TEST_CASE("fa1 forward, head dim 192", "[fa1][forward][d192]") { attnkit::testing::run_fa1_forward_matrix<192>(); }
