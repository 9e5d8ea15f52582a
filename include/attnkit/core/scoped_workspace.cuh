#pragma once
// Scratch memory for one launcher call: the caller's buffer when it passed one (checked for
// size and 256-byte alignment), else memory from the stream-ordered allocator
// (cudaMallocAsync), freed on the same stream when the call ends, also when a launch throws.

#include <cstddef>
#include <cstdint>

#include <cuda_runtime_api.h>

#include "error.cuh"

namespace attnkit::detail {

class ScopedWorkspace {
 public:
  // `given`/`given_bytes`: the caller's buffer, or nullptr to allocate `required` bytes.
  // `what` names the size query in the error message (e.g. "backward_workspace_bytes()").
  ScopedWorkspace(void* given, std::size_t given_bytes, std::size_t required, const char* what, cudaStream_t stream)
      : stream_(stream) {
    if (given == nullptr) {
      ATTNKIT_CUDA_CHECK(cudaMallocAsync(&owned_, required, stream));
      data_ = owned_;
      return;
    }
    require(given_bytes >= required, "workspace of ", given_bytes, " bytes is less than the ", required, " bytes ",
            what, " asks for");
    require(reinterpret_cast<uintptr_t>(given) % 256 == 0, "workspace = ", given, " is not 256-byte aligned");
    data_ = given;
  }
  ScopedWorkspace(const ScopedWorkspace&) = delete;
  ScopedWorkspace& operator=(const ScopedWorkspace&) = delete;
  ~ScopedWorkspace() {
    if (owned_ != nullptr) cudaFreeAsync(owned_, stream_);  // unwinding from an error: not checked
  }

  void* get() const { return data_; }

  // Frees an allocation taken here, with its status checked (the normal end of a call).
  void release() {
    void* const taken = owned_;
    owned_ = nullptr;
    if (taken != nullptr) ATTNKIT_CUDA_CHECK(cudaFreeAsync(taken, stream_));
  }

 private:
  void* data_ = nullptr;
  void* owned_ = nullptr;
  cudaStream_t stream_;
};

}  // namespace attnkit::detail
