// attnkit::backward for the fuzzer (fuzz.cu): every head dim, both dtypes.
#include "attnkit/dispatch_backward.cuh"
#include "fuzz_launch.h"

void attnkit::testing::fuzz_backward(const AttentionProblem& problem, const BackwardGradients& grads) {
  attnkit::backward(problem, grads);
}
