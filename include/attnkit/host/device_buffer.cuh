#pragma once
// Host support: an owning device allocation, for the tests, benchmarks and examples (and any
// program that wants one). DeviceBuffer<T> holds `count` elements of T (float, half_t,
// bfloat16_t, or any type for raw storage); not copyable, movable.
//
//   attnkit::DeviceBuffer<attnkit::bfloat16_t> q(batch * seqlen * heads * head_dim);
//   q.fill_normal(/*seed=*/1);                  // N(0, 1), made on the device
//   attnkit::DeviceBuffer<float> lse(rows);
//   lse.poison();                               // every bit set: NaN in float, half, bfloat16
//   std::vector<float> host = lse.download();
//
// A failed cudaMalloc is an attnkit::error naming the size, after the error is cleared so the
// CUDA context stays usable.

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include <cuda_runtime_api.h>

#include "../core/config.cuh"
#include "../core/element.cuh"
#include "../core/error.cuh"
#include "../core/hash.cuh"

namespace attnkit {
namespace detail {

// Box-Muller on the two 32-bit halves of one hash of (seed, i); u1 is in (0, 1] so log never
// sees 0.
template <class T>
__global__ void fill_normal_kernel(T* data, std::size_t count, uint64_t seed, float mean, float stddev) {
  const std::size_t stride = std::size_t(gridDim.x) * blockDim.x;
  for (std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride) {
    const uint64_t bits = mix64(seed ^ mix64(i));
    const float u1 = (static_cast<uint32_t>(bits >> 32) + 1.0f) * 0x1p-32f;
    const float u2 = static_cast<uint32_t>(bits) * 0x1p-32f;
    const float normal = sqrtf(-2.f * logf(u1)) * cospif(2.f * u2);
    data[i] = from_float<T>(mean + stddev * normal);
  }
}

}  // namespace detail

template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  // A buffer of no elements still gets an address (argument checks want a non-null pointer).
  explicit DeviceBuffer(std::size_t count) : count_(count) {
    const cudaError_t status = cudaMalloc(&data_, bytes() > 0 ? bytes() : 1);
    if (status != cudaSuccess) {
      cudaGetLastError();
      data_ = nullptr;
      detail::fail("DeviceBuffer: cannot allocate ", bytes(), " bytes (", cudaGetErrorName(status), ")");
    }
  }
  // Allocates values.size() elements and copies `values` in.
  explicit DeviceBuffer(const std::vector<T>& values) : DeviceBuffer(values.size()) { upload(values); }
  ~DeviceBuffer() {
    if (data_ != nullptr) cudaFree(data_);
  }
  DeviceBuffer(DeviceBuffer&& other) noexcept { swap(other); }
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    swap(other);
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* get() const { return data_; }
  std::size_t size() const { return count_; }
  std::size_t bytes() const { return count_ * sizeof(T); }

  void upload(const std::vector<T>& values) {
    require(values.size() == count_, "DeviceBuffer: upload of ", values.size(), " values into a buffer of ", count_);
    if (count_ > 0) ATTNKIT_CUDA_CHECK(cudaMemcpy(data_, values.data(), bytes(), cudaMemcpyHostToDevice));
  }
  std::vector<T> download() const {
    std::vector<T> values(count_);
    if (count_ > 0) ATTNKIT_CUDA_CHECK(cudaMemcpy(values.data(), data_, bytes(), cudaMemcpyDeviceToHost));
    return values;
  }

  // Every bit set: a NaN in float, half and bfloat16, so an element nobody writes shows up.
  void poison() {
    if (count_ > 0) ATTNKIT_CUDA_CHECK(cudaMemset(data_, 0xff, bytes()));
  }

  // Fills with N(mean, stddev²) samples made on the device; the same seed gives the same data.
  void fill_normal(uint64_t seed, float mean = 0.f, float stddev = 1.f, cudaStream_t stream = nullptr) {
    if (count_ == 0) return;
    constexpr int kThreads = 256;
    const std::size_t wanted_blocks = (count_ + kThreads - 1) / kThreads;
    const unsigned blocks = static_cast<unsigned>(wanted_blocks < 65536 ? wanted_blocks : 65536);
    detail::fill_normal_kernel<T><<<blocks, kThreads, 0, stream>>>(data_, count_, seed, mean, stddev);
    ATTNKIT_CHECK_LAUNCH();
  }

 private:
  void swap(DeviceBuffer& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(count_, other.count_);
  }

  T* data_ = nullptr;
  std::size_t count_ = 0;
};

}  // namespace attnkit
