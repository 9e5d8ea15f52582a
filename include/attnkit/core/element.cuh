#pragma once
// Element types: the 16-bit inputs attnkit computes on, their runtime tags, conversion to and
// from float, and packing of two elements into one 32-bit register (the operand unit of mma).

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "config.cuh"

namespace attnkit {

using half_t = __half;
using bfloat16_t = __nv_bfloat16;

// Runtime tag of an element type, for launchers that dispatch on it.
enum class DType { f16, bf16 };

inline const char* dtype_name(DType dtype) { return dtype == DType::f16 ? "f16" : "bf16"; }

template <class Element>
struct ElementTraits;

template <>
struct ElementTraits<half_t> {
  static constexpr DType dtype = DType::f16;
  static constexpr const char* name = "f16";
  static ATTNKIT_HOST_DEVICE float to_float(half_t x) { return __half2float(x); }
  static ATTNKIT_HOST_DEVICE half_t from_float(float x) { return __float2half_rn(x); }
};

template <>
struct ElementTraits<bfloat16_t> {
  static constexpr DType dtype = DType::bf16;
  static constexpr const char* name = "bf16";
  static ATTNKIT_HOST_DEVICE float to_float(bfloat16_t x) { return __bfloat162float(x); }
  static ATTNKIT_HOST_DEVICE bfloat16_t from_float(float x) { return __float2bfloat16_rn(x); }
};

// Conversions to and from float. float itself passes through, so code templated over the
// storage type (the references also run in fp32) needs no special case.
template <class Element>
ATTNKIT_HOST_DEVICE inline float to_float(Element x) {
  if constexpr (std::is_same_v<Element, float>) return x;
  else return ElementTraits<Element>::to_float(x);
}

template <class Element>
ATTNKIT_HOST_DEVICE inline Element from_float(float x) {
  if constexpr (std::is_same_v<Element, float>) return x;
  else return ElementTraits<Element>::from_float(x);
}

// Rounds a float to the nearest value representable in Element (used by references that mimic
// a same-precision implementation).
template <class Element>
ATTNKIT_HOST_DEVICE inline float round_to(float x) { return to_float(from_float<Element>(x)); }

// Packs (lo, hi) into one register, lo in bits 0..15: the order mma and ldmatrix use for the
// two consecutive columns a lane holds.
template <class Element>
ATTNKIT_HOST_DEVICE inline uint32_t pack2(float lo, float hi) {
#if defined(__CUDA_ARCH__)
  if constexpr (sizeof(Element) == 2 && ElementTraits<Element>::dtype == DType::bf16) {
    __nv_bfloat162 pair = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&pair);
  } else {
    __half2 pair = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&pair);
  }
#else
  Element halves[2] = {from_float<Element>(lo), from_float<Element>(hi)};
  uint32_t bits;
  std::memcpy(&bits, halves, sizeof(bits));
  return bits;
#endif
}

}  // namespace attnkit
