#pragma once
// Telling the compiler a value is the same on every lane of the warp.
//
// ptxas keeps values it can prove warp-uniform (kernel parameters, blockIdx, and what is
// computed from them under uniform control flow) in the uniform datapath: uniform registers
// and uniform branches, where wgmma reads its shared-memory descriptors from. A value loaded
// from global memory (a varlen cu_seqlens entry, a block list's length) lands in a vector
// register even when every lane loaded the same address, and so does everything derived from
// it. Broadcasting lane 0's copy makes the uniformity provable (the Hopper forward's tile loop;
// bench/README.md, Hopper forward: a warp-uniform pipeline state). Only for values that truly
// are warp-uniform; every lane must call it.

#include <cstdint>

#include "config.cuh"

namespace attnkit {

template <class T>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE T warp_uniform(T value) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8, "a 32- or 64-bit value");
  return __shfl_sync(0xffffffffu, value, 0);
}

}  // namespace attnkit
