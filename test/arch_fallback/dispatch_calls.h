// The dispatch calls of the program, each compiled in a unit of its own (forward.cu, backward.cu).
#pragma once

#include <attnkit/attention/backward_problem.cuh>
#include <attnkit/attention/problem.cuh>

void run_forward(const attnkit::AttentionProblem& problem);
void run_backward(const attnkit::AttentionProblem& problem, const attnkit::BackwardGradients& grads);
// hopper::forward called directly, bypassing the dispatch.
void run_hopper_forward(const attnkit::AttentionProblem& problem);
