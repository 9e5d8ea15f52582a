#include <attnkit/dispatch.cuh>

#include "dispatch_calls.h"

void run_forward(const attnkit::AttentionProblem& problem) { attnkit::forward_for<64>(problem); }

void run_hopper_forward(const attnkit::AttentionProblem& problem) {
  attnkit::hopper::forward<attnkit::bfloat16_t, 64>(problem);
}
