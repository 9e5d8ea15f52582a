// main() of every GPU test executable: exits 77 (CTest's SKIP_RETURN_CODE) with a visible
// message when no CUDA device can be used, so GPU tests are reported as skipped, not passed.

#include <cstdio>

#include <catch2/catch_session.hpp>
#include <cuda_runtime_api.h>

int main(int argc, char** argv) {
  int device_count = 0;
  const cudaError_t status = cudaGetDeviceCount(&device_count);
  if (status != cudaSuccess || device_count == 0) {
    std::printf("SKIPPED: no CUDA device (%s); GPU test not run\n",
                status != cudaSuccess ? cudaGetErrorString(status) : "device count is 0");
    return 77;
  }
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  std::printf("device: %s (sm_%d%d, %d SMs)\n", prop.name, prop.major, prop.minor, prop.multiProcessorCount);
  return Catch::Session().run(argc, argv);
}
