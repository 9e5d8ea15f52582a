#pragma once
// Accumulation into fp32 global memory from many CTAs (the backward's dQ): an mma accumulator
// lane holds two adjacent columns, added as one vector reduction where the hardware has it
// (red.global.add.v2.f32, sm_90) and as two scalar reductions before.

#include "../core/config.cuh"

namespace attnkit {

// address[0] += first, address[1] += second; address must be 8-byte aligned.
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void atomic_add_pair(float* address, float first, float second) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  atomicAdd(reinterpret_cast<float2*>(address), make_float2(first, second));
#else
  atomicAdd(address, first);
  atomicAdd(address + 1, second);
#endif
}

}  // namespace attnkit
