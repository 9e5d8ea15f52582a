#pragma once
// Host-side tensors for tests and references: plain std::vector<double>, filled with
// reproducible random data and compared by their largest elementwise difference. Part of the
// reference API for testing kernels against the oracles (docs/reference.md).

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "../core/error.cuh"

namespace attnkit::reference {

// n samples of N(0, stddev²). The same seed gives the same data on every platform that ships
// the same standard library (mt19937_64 itself is fully specified; normal_distribution is not).
inline std::vector<double> random_normal(std::size_t n, uint64_t seed, double stddev = 1.0) {
  std::mt19937_64 generator(seed);
  std::normal_distribution<double> normal(0.0, stddev);
  std::vector<double> values(n);
  for (double& value : values) value = normal(generator);
  return values;
}

// Largest |x|; NaN if any element is NaN.
inline double max_abs(const std::vector<double>& values) {
  double largest = 0.0;
  for (const double value : values) {
    if (std::isnan(value)) return std::numeric_limits<double>::quiet_NaN();
    largest = std::fmax(largest, std::fabs(value));
  }
  return largest;
}

// Largest |a - b|. Equal values count as 0 even when infinite, so a row's LSE of -inf matches
// -inf; NaN anywhere gives NaN, so a comparison `diff < tolerance` fails as it should.
inline double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  require(a.size() == b.size(), "max_abs_diff: sizes differ (", a.size(), " vs ", b.size(), ")");
  double largest = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] == b[i]) continue;
    const double diff = std::fabs(a[i] - b[i]);
    if (std::isnan(diff)) return std::numeric_limits<double>::quiet_NaN();
    largest = std::fmax(largest, diff);
  }
  return largest;
}

// max |actual - expected| / max |expected|: one scale for the whole tensor, so elements near
// zero do not blow the ratio up (the way attention errors are usually judged).
inline double relative_error(const std::vector<double>& actual, const std::vector<double>& expected) {
  const double scale = max_abs(expected);
  const double diff = max_abs_diff(actual, expected);
  return scale > 0.0 ? diff / scale : diff;
}

inline bool any_nan(const std::vector<double>& values) {
  for (const double value : values)
    if (std::isnan(value)) return true;
  return false;
}

}  // namespace attnkit::reference
