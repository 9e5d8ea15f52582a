// attnkit::forward for the fuzzer (fuzz.cu): every head dim, both dtypes.
#include "attnkit/dispatch.cuh"
#include "fuzz_launch.h"

void attnkit::testing::fuzz_forward(const AttentionProblem& problem) { attnkit::forward(problem); }
