#pragma once
// Division by a divisor known at launch, not at compile time: a multiply-high, an add and a
// shift. The GPU has no integer divider; `n / d` on a runtime d compiles to a float
// reciprocal on the MUFU pipe and a chain of conversions and fix-ups, which a persistent
// kernel's per-tile index arithmetic would otherwise run several times per tile, on the
// consumers' serial chain.
//
// The round-up method (Granlund and Montgomery, "Division by invariant integers using
// multiplication", 1994): with l = ceil(log2 d) and m = floor(2^32 (2^l − d) / d) + 1,
//
//   n / d = (umulhi(n, m) + n) >> l      for 0 ≤ n < 2^31, 1 ≤ d < 2^31
//
// (umulhi: the high 32 bits of the 64-bit product). m < 2^32 since 2^l − d < d, and
// umulhi(n, m) < n, so the sum stays below 2^32.

#include <cstdint>

#include "config.cuh"
#include "error.cuh"

namespace attnkit {

class FastDivisor {
 public:
  FastDivisor() = default;  // divides by 1

  explicit FastDivisor(int divisor) : divisor_(divisor) {
    require(divisor >= 1, "FastDivisor needs a divisor >= 1, got ", divisor);
    while ((uint64_t{1} << shift_) < static_cast<uint64_t>(divisor)) ++shift_;
    const uint64_t numerator = (uint64_t{1} << 32) * ((uint64_t{1} << shift_) - static_cast<uint64_t>(divisor));
    multiplier_ = static_cast<uint32_t>(numerator / static_cast<uint64_t>(divisor) + 1);
  }

  ATTNKIT_HOST_DEVICE int divisor() const { return divisor_; }

  // n / divisor() for 0 ≤ n < 2^31.
  ATTNKIT_HOST_DEVICE ATTNKIT_FORCEINLINE int quotient(int n) const {
    const uint32_t u = static_cast<uint32_t>(n);
#if defined(__CUDA_ARCH__)
    const uint32_t high = __umulhi(u, multiplier_);
#else
    const uint32_t high = static_cast<uint32_t>((static_cast<uint64_t>(u) * multiplier_) >> 32);
#endif
    return static_cast<int>((high + u) >> shift_);
  }

  // n % divisor() for 0 ≤ n < 2^31, given its quotient.
  ATTNKIT_HOST_DEVICE ATTNKIT_FORCEINLINE int remainder(int n, int quotient) const { return n - quotient * divisor_; }

 private:
  int divisor_ = 1;
  uint32_t multiplier_ = 1;
  int shift_ = 0;
};

}  // namespace attnkit
