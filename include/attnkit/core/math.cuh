#pragma once
// Scalar math shared by host and device: exp2-based exponentials (the hardware has a fast
// exp2, MUFU.EX2, so softmax works in log2 units with the scale folded into log2(e)).

#include <cmath>

#include "config.cuh"

namespace attnkit {

inline constexpr float kLog2e = 1.4426950408889634f;
inline constexpr float kLn2 = 0.6931471805599453f;

// The special-function unit's approximations, flush-to-zero, one MUFU instruction each (the
// IEEE forms carry slow paths for denormals, or extra scaling instructions to keep them);
// their exact counterparts on the host. Inline asm needs its instruction as a literal, so the
// three share this one body and differ only in their line of the table.
enum class SfuFunction { exp2, reciprocal, log2 };

template <SfuFunction Function>
ATTNKIT_HOST_DEVICE ATTNKIT_FORCEINLINE float sfu(float x) {
#if defined(__CUDA_ARCH__)
  float y;
  if constexpr (Function == SfuFunction::exp2)
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  else if constexpr (Function == SfuFunction::reciprocal)
    asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  else
    asm("lg2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
#else
  if constexpr (Function == SfuFunction::exp2)
    return std::exp2(x);
  else if constexpr (Function == SfuFunction::reciprocal)
    return 1.f / x;
  else
    return std::log2(x);
#endif
}

// exp2 for softmax. exp2f() without --use_fast_math emits ex2.approx.f32 (non-ftz), which
// ptxas wraps in extra scaling instructions to keep denormal results; a header library cannot
// choose the user's flags, so the flush-to-zero form is asked for directly. Probabilities below
// 2^-126 are irrelevant next to the row maximum's 1. exp2(-inf) = +0, which masked scores
// rely on.
ATTNKIT_HOST_DEVICE ATTNKIT_FORCEINLINE float fast_exp2(float x) { return sfu<SfuFunction::exp2>(x); }

// 1/x and log2(x) for softmax row sums: those are ≥ 1 where not zero (the row maximum
// contributes exp2(0) = 1), far from the denormals for which the IEEE forms (1.f / x, log2f)
// carry a slow path into every row of every tile's epilogue.
ATTNKIT_HOST_DEVICE ATTNKIT_FORCEINLINE float fast_reciprocal(float x) { return sfu<SfuFunction::reciprocal>(x); }
ATTNKIT_HOST_DEVICE ATTNKIT_FORCEINLINE float fast_log2(float x) { return sfu<SfuFunction::log2>(x); }

ATTNKIT_HOST_DEVICE ATTNKIT_FORCEINLINE float negative_infinity() { return -INFINITY; }

template <class T>
ATTNKIT_HOST_DEVICE constexpr T ceil_div(T a, T b) { return (a + b - 1) / b; }

}  // namespace attnkit
