// FA2 forward, head dim 128: the correctness matrix of fa2_forward_cases.cuh, fp16 and bf16.
#include "fa2_forward_cases.cuh"

TEST_CASE("fa2 forward, head dim 128", "[fa2][forward][d128]") { attnkit::testing::run_forward_matrix<128>(); }
