#pragma once
// Whether this program can run the Hopper kernels on the current device: it must be a compute
// capability 9.0 GPU, and the kernels the driver loads for it must have been compiled for
// sm_90a. The second does not follow from the first: a program built for `90` (what
// CMAKE_CUDA_ARCHITECTURES=native gives on an H100) or only for `80` (PTX the driver compiles
// for the H100) runs on an H100 with every wgmma/setmaxnreg kernel body compiled out, and
// launching one of those traps and loses the CUDA context. The dispatchers ask here first and
// fall back to the sm_80 kernels; the Hopper launchers refuse with a message saying how to
// build.
//
// The probe is a kernel compiled, like the attention kernels, once per architecture the unit
// targets; its static shared memory differs between the sm_90a build and every other, and the
// host reads it with cudaFuncGetAttributes for the image the driver picked for the device. No
// launch, no synchronization: it may run while a stream is being captured. It answers for the
// translation units built with the same architectures as the one that calls it (attnkit's
// dispatch assumes one set of architectures per program).

#include <mutex>
#include <vector>

#include <cuda_runtime_api.h>

#include "../core/config.cuh"
#include "../core/error.cuh"

namespace attnkit::hopper {

enum class DeviceSupport {
  available,            // a compute capability 9.0 GPU and kernels built for sm_90a
  not_compute_90,       // another GPU generation
  not_built_for_sm90a,  // a Hopper GPU, but this program's kernels were compiled for another target
};

namespace detail {

// Far apart: ptxas pads a kernel's static shared memory to the alignment of the unit's dynamic
// shared arrays (128 bytes and more), which must not make one size look like the other.
inline constexpr int kProbeWordsSm90a = 1024;
inline constexpr int kProbeWordsOther = 1;

// A template only so that every unit including this header may define it.
template <int = 0>
__global__ void sm90a_build_probe(int* sink) {
  // The array's size is the answer; it is used so that ptxas keeps it.
  __shared__ int marker[ATTNKIT_DEVICE_SM90A ? kProbeWordsSm90a : kProbeWordsOther];
  marker[threadIdx.x % (sizeof(marker) / sizeof(int))] = static_cast<int>(threadIdx.x);
  __syncthreads();
  if (sink != nullptr) sink[threadIdx.x] = marker[0];
}

// Whether the kernels loaded for the current device were compiled for sm_90a; cached per device.
inline bool kernels_built_for_sm90a(int device) {
  static std::mutex mutex;
  static std::vector<signed char> known;  // per device: -1 not yet asked, else 0 / 1
  const std::lock_guard<std::mutex> lock(mutex);
  if (device >= static_cast<int>(known.size())) known.resize(device + 1, -1);
  if (known[device] < 0) {
    cudaFuncAttributes attributes{};
    const cudaError_t status = cudaFuncGetAttributes(&attributes, sm90a_build_probe<>);
    if (status != cudaSuccess) {
      // No image for this device at all (a build with only another generation's SASS): no
      // sm_90a kernels either. The error is not sticky; clear it for the caller's next check.
      (void)cudaGetLastError();
      known[device] = 0;
    } else {
      known[device] = attributes.sharedSizeBytes >= kProbeWordsSm90a * sizeof(int) ? 1 : 0;
    }
  }
  return known[device] == 1;
}

}  // namespace detail

// For the current device `device` (cudaGetDevice's).
inline DeviceSupport device_support(int device) {
  int major = 0;
  ATTNKIT_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  if (major != 9) return DeviceSupport::not_compute_90;
  return detail::kernels_built_for_sm90a(device) ? DeviceSupport::available : DeviceSupport::not_built_for_sm90a;
}

// Whether the Hopper forward and backward can run on the current device `device`.
inline bool device_supports_forward(int device) { return device_support(device) == DeviceSupport::available; }

// Why they cannot, for messages; empty when they can.
inline const char* describe(DeviceSupport support) {
  switch (support) {
    case DeviceSupport::available: return "";
    case DeviceSupport::not_compute_90: return "the device is not a compute capability 9.0 GPU";
    case DeviceSupport::not_built_for_sm90a:
      return "this program's kernels were not compiled for sm_90a (build with CMAKE_CUDA_ARCHITECTURES "
             "containing 90a, or nvcc -gencode arch=compute_90a,code=sm_90a; `90` and `native` give sm_90, "
             "which has no wgmma)";
  }
  return "unknown";
}

}  // namespace attnkit::hopper
