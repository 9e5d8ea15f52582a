#pragma once
// The one way attnkit's launchers start a kernel: checks the grid against the hardware's
// limits (an attnkit::error naming the dimension, rather than a launch failure), opts the
// kernel in to its dynamic shared memory (above 48 KB a kernel must ask for it, a CUDA rule),
// launches on `stream`, and checks that the launch was accepted.
//
//   launch_kernel(forward_kernel<Config, Variant>, grid, Config::kThreads, Config::kSmemBytes, stream,
//                 problem, variant);

#include <cstdint>
#include <utility>

#include <cuda_runtime_api.h>

#include "error.cuh"

namespace attnkit::detail {

template <class... Params, class... Args>
void launch_kernel(void (*kernel)(Params...), dim3 grid, dim3 threads, int shared_bytes, cudaStream_t stream,
                   Args&&... args) {
  require(grid.x >= 1 && grid.x <= 0x7fffffffu, "grid.x = ", grid.x, " is outside [1, 2^31 - 1]");
  require(grid.y >= 1 && grid.y <= 65535u, "grid.y = ", grid.y, " is outside [1, 65535]");
  require(grid.z >= 1 && grid.z <= 65535u, "grid.z = ", grid.z, " is outside [1, 65535]");
  if (shared_bytes > 0)
    ATTNKIT_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, shared_bytes));
  kernel<<<grid, threads, shared_bytes, stream>>>(std::forward<Args>(args)...);
  ATTNKIT_CHECK_LAUNCH();
}

}  // namespace attnkit::detail
