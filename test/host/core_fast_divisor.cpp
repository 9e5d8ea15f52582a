// Tests of core/fast_divisor.cuh: quotient and remainder equal the integer division's for
// divisors of every size class (1, powers of two and their neighbours, the shapes kernels
// divide by, the largest ones) and numerators across the whole 0 .. 2^31 − 1 range.

#include <cstdint>
#include <vector>

#include <catch2/catch_test_macros.hpp>

#include "attnkit/core/error.cuh"
#include "attnkit/core/fast_divisor.cuh"

using attnkit::FastDivisor;

namespace {

std::vector<int> test_divisors() {
  std::vector<int> divisors;
  for (int d = 1; d <= 300; ++d) divisors.push_back(d);
  for (int shift = 9; shift <= 30; ++shift)
    for (int delta : {-1, 0, 1}) divisors.push_back((1 << shift) + delta);
  for (int d : {1000, 1023, 4095, 32768 + 7, 1000003, 123456789, 0x7ffffffe, 0x7fffffff}) divisors.push_back(d);
  return divisors;
}

std::vector<int> test_numerators(int divisor) {
  std::vector<int> numerators;
  for (int n = 0; n < 2000; ++n) numerators.push_back(n);
  // Around the multiples of the divisor, where a wrong rounding shows first.
  for (int64_t k : {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{1000}, (int64_t{1} << 31) / divisor - 1,
                    (int64_t{1} << 31) / divisor}) {
    for (int64_t delta = -2; delta <= 2; ++delta) {
      const int64_t n = k * divisor + delta;
      if (n >= 0 && n <= 0x7fffffff) numerators.push_back(static_cast<int>(n));
    }
  }
  // A spread over the whole range (a fixed linear congruential sequence).
  uint32_t state = 12345u + static_cast<uint32_t>(divisor);
  for (int i = 0; i < 2000; ++i) {
    state = state * 1664525u + 1013904223u;
    numerators.push_back(static_cast<int>(state >> 1));
  }
  numerators.push_back(0x7fffffff);
  return numerators;
}

}  // namespace

TEST_CASE("quotient and remainder match integer division") {
  for (int divisor : test_divisors()) {
    const FastDivisor fast(divisor);
    REQUIRE(fast.divisor() == divisor);
    for (int n : test_numerators(divisor)) {
      const int quotient = fast.quotient(n);
      INFO("n = " << n << ", d = " << divisor);
      REQUIRE(quotient == n / divisor);
      REQUIRE(fast.remainder(n, quotient) == n % divisor);
    }
  }
}

TEST_CASE("the default divisor is 1") {
  const FastDivisor one;
  REQUIRE(one.divisor() == 1);
  for (int n : {0, 1, 7, 0x7fffffff}) REQUIRE(one.quotient(n) == n);
}

TEST_CASE("a divisor below 1 is an error naming it") {
  try {
    FastDivisor bad(0);
    FAIL("no error for divisor 0");
  } catch (const attnkit::error& e) {
    REQUIRE(std::string(e.what()).find("got 0") != std::string::npos);
  }
  REQUIRE_THROWS_AS(FastDivisor(-3), attnkit::error);
}
