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

namespace attnkit::testing {

template <class T>
class DeviceArray {
 public:
  explicit DeviceArray(std::size_t count) : count_(count) {
    ATTNKIT_CUDA_CHECK(cudaMalloc(&data_, bytes() > 0 ? bytes() : 1));
    poison();
  }
  explicit DeviceArray(const std::vector<T>& values) : DeviceArray(values.size()) { upload(values); }
  ~DeviceArray() { cudaFree(data_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;

  T* get() const { return data_; }
  std::size_t size() const { return count_; }
  std::size_t bytes() const { return count_ * sizeof(T); }

  void poison() { ATTNKIT_CUDA_CHECK(cudaMemset(data_, 0xff, bytes())); }
  void upload(const std::vector<T>& values) {
    require(values.size() == count_, "upload of ", values.size(), " values into an array of ", count_);
    ATTNKIT_CUDA_CHECK(cudaMemcpy(data_, values.data(), bytes(), cudaMemcpyHostToDevice));
  }
  std::vector<T> download() const {
    std::vector<T> values(count_);
    ATTNKIT_CUDA_CHECK(cudaMemcpy(values.data(), data_, bytes(), cudaMemcpyDeviceToHost));
    return values;
  }

 private:
  T* data_ = nullptr;
  std::size_t count_ = 0;
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
