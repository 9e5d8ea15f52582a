#pragma once
// The 8-bit float element types of Hopper's tensor cores: e4m3 (3 mantissa bits, largest
// finite 448, no infinity) and e5m2 (2 mantissa bits, largest finite 57344), with conversion
// to and from float that saturates to the largest finite value, as FP8 attention wants (a
// value scaled past the range is clipped, never made infinite).
//
// FP8 inputs come with a scale: the stored value is x / scale, and x = scale · stored
// (quant/fp8_quantize.cuh). These types carry no scale themselves.

#include <cuda_fp8.h>

#include "config.cuh"
#include "element.cuh"

namespace attnkit {

using float8_e4m3_t = __nv_fp8_e4m3;
using float8_e5m2_t = __nv_fp8_e5m2;

template <>
struct ElementTraits<float8_e4m3_t> {
  static constexpr const char* name = "e4m3";
  static constexpr float kMax = 448.f;  // largest finite value
  static ATTNKIT_HOST_DEVICE float to_float(float8_e4m3_t x) { return static_cast<float>(x); }
  static ATTNKIT_HOST_DEVICE float8_e4m3_t from_float(float x) { return float8_e4m3_t(x); }  // saturating
};

template <>
struct ElementTraits<float8_e5m2_t> {
  static constexpr const char* name = "e5m2";
  static constexpr float kMax = 57344.f;
  static ATTNKIT_HOST_DEVICE float to_float(float8_e5m2_t x) { return static_cast<float>(x); }
  static ATTNKIT_HOST_DEVICE float8_e5m2_t from_float(float x) { return float8_e5m2_t(x); }  // saturating
};

}  // namespace attnkit
