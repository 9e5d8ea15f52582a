#pragma once
// Test support: a device array that starts poisoned with NaN (all bits set is a NaN in float,
// half and bfloat16), so an element the code under test forgets to write shows up as NaN; and
// conversions between the float64 host tensors of the reference and the elements on the GPU.

#include <cstddef>
#include <type_traits>
#include <vector>

#include <cuda_runtime_api.h>

#include "attnkit/core/element.cuh"
#include "attnkit/core/error.cuh"
#include "attnkit/host/device_buffer.cuh"

namespace attnkit::testing {

// A DeviceBuffer (attnkit/host/device_buffer.cuh) poisoned when made.
template <class T>
class DeviceArray : public DeviceBuffer<T> {
 public:
  explicit DeviceArray(std::size_t count) : DeviceBuffer<T>(count) { this->poison(); }
  explicit DeviceArray(const std::vector<T>& values) : DeviceArray(values.size()) { this->upload(values); }
};

// double keeps its precision; float and the 16-bit types go through core's conversions.
template <class T>
double to_double(T x) {
  if constexpr (std::is_same_v<T, double>) return x;
  else return static_cast<double>(to_float(x));
}

template <class T>
T from_double(double x) {
  if constexpr (std::is_same_v<T, double>) return x;
  else return from_float<T>(static_cast<float>(x));
}

// Rounds `values` to Element in place (so the reference sees exactly the GPU's inputs) and
// returns the Element copy.
template <class Element>
std::vector<Element> round_to_elements(std::vector<double>& values) {
  std::vector<Element> elements(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    elements[i] = from_double<Element>(values[i]);
    values[i] = to_double(elements[i]);
  }
  return elements;
}

template <class T>
std::vector<double> to_doubles(const std::vector<T>& values) {
  std::vector<double> result(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) result[i] = to_double(values[i]);
  return result;
}

}  // namespace attnkit::testing
