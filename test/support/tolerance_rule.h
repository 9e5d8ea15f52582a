#pragma once
// Test support: attnkit's tolerance rule for a kernel's output X (O, dQ, dK, dV) against the
// float64 reference: every element written (no NaN), and
//   max |X − X_ref| ≤ 2 · max |X_same − X_ref| + 1e-3 · max(1, slack_scale)
// where X_same is a plain same-precision implementation's result (its error says what the
// element type costs; docs/reference.md) and slack_scale is max |X_ref| unless the caller knows
// the noise has another scale (backward_check.cuh: the gradients').

#include <algorithm>
#include <vector>

#include <catch2/catch_test_macros.hpp>

#include "attnkit/reference/host_tensor.cuh"

namespace attnkit::testing {

inline void check_tolerance_rule(const char* name, const std::vector<double>& actual,
                                 const std::vector<double>& same_precision, const std::vector<double>& exact,
                                 double slack_scale) {
  const double error = reference::max_abs_diff(actual, exact);
  const double baseline = reference::max_abs_diff(same_precision, exact);
  const double slack = 1e-3 * std::max(1.0, slack_scale);
  INFO(name << ": max |" << name << " - " << name << "_ref| = " << error << ", same-precision baseline = " << baseline
            << ", slack = " << slack << ", max |" << name << "_ref| = " << reference::max_abs(exact));
  CHECK_FALSE(reference::any_nan(actual));
  CHECK_FALSE(reference::any_nan(same_precision));
  CHECK(error <= 2.0 * baseline + slack);
}

inline void check_tolerance_rule(const char* name, const std::vector<double>& actual,
                                 const std::vector<double>& same_precision, const std::vector<double>& exact) {
  check_tolerance_rule(name, actual, same_precision, exact, reference::max_abs(exact));
}

}  // namespace attnkit::testing
