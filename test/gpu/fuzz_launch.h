// The fuzzer's launchers: attnkit's runtime dispatch (the Hopper kernels where a problem
// allows them, the sm_80 kernels elsewhere), each in its own translation unit so that the
// forward's and the backward's kernels compile in parallel.
#pragma once

#include "attnkit/attention/backward_problem.cuh"
#include "attnkit/attention/problem.cuh"

namespace attnkit::testing {

// Whether this binary holds code for the current GPU (the fuzzer is built for one
// architecture, cmake/attnkitDevelopment.cmake's ATTNKIT_RUN_ARCHITECTURES).
bool built_for_this_gpu();

void fuzz_forward(const AttentionProblem& problem);
void fuzz_backward(const AttentionProblem& problem, const BackwardGradients& grads);

}  // namespace attnkit::testing
