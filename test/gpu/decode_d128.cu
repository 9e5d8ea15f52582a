// Decode over a KV cache, head dim 128: the matrix of decode_cases.cuh, fp16 and bf16.
#include "decode_cases.cuh"

TEST_CASE("decode, head dim 128", "[decode][d128]") { attnkit::testing::run_decode_matrix<128>(); }
