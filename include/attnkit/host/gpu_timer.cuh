#pragma once
// Host support: GPU time of enqueued work, by a pair of CUDA events on one stream; for the
// benchmarks and examples.
//
//   attnkit::GpuTimer timer;                    // its own non-blocking stream
//   double s = timer.seconds([&] { attnkit::forward(problem, timer.stream()); });
//   attnkit::GpuTimer on_default(nullptr);      // or a stream of the caller's (not owned)

#include <cuda_runtime_api.h>

#include "../core/error.cuh"

namespace attnkit {

class GpuTimer {
 public:
  GpuTimer() : owns_stream_(true) {
    ATTNKIT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    create_events();
  }
  explicit GpuTimer(cudaStream_t stream) : stream_(stream) { create_events(); }
  ~GpuTimer() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
    if (owns_stream_) cudaStreamDestroy(stream_);
  }
  GpuTimer(const GpuTimer&) = delete;
  GpuTimer& operator=(const GpuTimer&) = delete;

  cudaStream_t stream() const { return stream_; }

  // Seconds the work `launch` enqueues on stream() takes on the GPU.
  template <class Launch>
  double seconds(Launch&& launch) {
    ATTNKIT_CUDA_CHECK(cudaEventRecord(start_, stream_));
    launch();
    ATTNKIT_CUDA_CHECK(cudaEventRecord(stop_, stream_));
    ATTNKIT_CUDA_CHECK(cudaEventSynchronize(stop_));
    float milliseconds = 0.f;
    ATTNKIT_CUDA_CHECK(cudaEventElapsedTime(&milliseconds, start_, stop_));
    return milliseconds * 1e-3;
  }

 private:
  void create_events() {
    ATTNKIT_CUDA_CHECK(cudaEventCreate(&start_));
    ATTNKIT_CUDA_CHECK(cudaEventCreate(&stop_));
  }

  cudaStream_t stream_ = nullptr;
  bool owns_stream_ = false;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

}  // namespace attnkit
