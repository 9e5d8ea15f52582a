#pragma once
// Compilation-context macros shared by every attnkit header.
//
// The same header is compiled three ways: by nvcc for the device, by nvcc for the host, and
// by a plain C++ compiler (host tests, host-only users). ATTNKIT_HOST_DEVICE expands to
// nothing in the last case so host-testable blocks (layout, softmax, mask, reference) need
// no CUDA compiler.

#if defined(__CUDACC__)
#define ATTNKIT_HOST_DEVICE __host__ __device__
#define ATTNKIT_DEVICE __device__
#define ATTNKIT_FORCEINLINE __forceinline__
#else
#define ATTNKIT_HOST_DEVICE
#define ATTNKIT_DEVICE
#define ATTNKIT_FORCEINLINE inline
#endif

// Placed before a __host__ __device__ template that calls device-only code through its template
// arguments (a warp shuffle in a Reduce policy): the host instantiation is never made, so nvcc's
// host/device call check would only produce false warnings.
#if defined(__CUDACC__)
#define ATTNKIT_EXEC_CHECK_DISABLE _Pragma("nv_exec_check_disable")
#else
#define ATTNKIT_EXEC_CHECK_DISABLE
#endif

// True while compiling device code for sm_80 or newer (mma.sync bf16, cp.async, ldmatrix).
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define ATTNKIT_DEVICE_SM80 1
#else
#define ATTNKIT_DEVICE_SM80 0
#endif

// True while compiling device code for sm_90a, whose wgmma/setmaxnreg instructions only exist
// on the arch-specific target (compute_90a), not on plain sm_90.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define ATTNKIT_DEVICE_SM90A 1
#else
#define ATTNKIT_DEVICE_SM90A 0
#endif

namespace attnkit {
inline constexpr int kWarpSize = 32;
}  // namespace attnkit
