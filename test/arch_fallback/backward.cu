#include <attnkit/dispatch_backward.cuh>

#include "dispatch_calls.h"

void run_backward(const attnkit::AttentionProblem& problem, const attnkit::BackwardGradients& grads) {
  attnkit::backward_for<64>(problem, grads);
}
