#pragma once
// Scalar math shared by host and device: exp2-based exponentials (the hardware has a fast
// exp2, MUFU.EX2, so softmax works in log2 units with the scale folded into log2(e)).

#include <cmath>

#include "config.cuh"

namespace attnkit {

inline constexpr float kLog2e = 1.4426950408889634f;
inline constexpr float kLn2 = 0.6931471805599453f;

// exp2 on the special-function unit. exp2f() without --use_fast_math emits ex2.approx.f32
// (non-ftz), which ptxas wraps in extra scaling instructions to keep denormal results; a
// header library cannot choose the user's flags, so the flush-to-zero form is asked for
// directly. Probabilities below 2^-126 are irrelevant next to the row maximum's 1.
// exp2(-inf) = +0, which masked scores rely on.
ATTNKIT_HOST_DEVICE ATTNKIT_FORCEINLINE float fast_exp2(float x) {
#if defined(__CUDA_ARCH__)
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
#else
  return std::exp2(x);
#endif
}

// 1/x and log2(x) on the special-function unit (rcp.approx, lg2.approx; flush-to-zero), for
// softmax row sums: those are ≥ 1 where not zero (the row maximum contributes exp2(0) = 1),
// far from the denormals for which the IEEE forms (1.f / x, log2f) carry a slow path into
// every row of every tile's epilogue.
ATTNKIT_HOST_DEVICE ATTNKIT_FORCEINLINE float fast_reciprocal(float x) {
#if defined(__CUDA_ARCH__)
  float y;
  asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
#else
  return 1.f / x;
#endif
}

ATTNKIT_HOST_DEVICE ATTNKIT_FORCEINLINE float fast_log2(float x) {
#if defined(__CUDA_ARCH__)
  float y;
  asm("lg2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
#else
  return std::log2(x);
#endif
}

ATTNKIT_HOST_DEVICE ATTNKIT_FORCEINLINE float negative_infinity() { return -INFINITY; }

template <class T>
ATTNKIT_HOST_DEVICE constexpr T ceil_div(T a, T b) { return (a + b - 1) / b; }

}  // namespace attnkit
