#pragma once
// Reductions along the rows of an mma accumulator. The four lanes of a group (lane / 4) own the
// columns of the same rows (layout/mma_fragment.cuh), so a row's value is combined with two
// butterfly shuffles among lanes that differ in their two lowest bits.

#include "../core/config.cuh"

namespace attnkit {

struct AccumulatorRowReduce {
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE float max(float x) const {
    x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
    return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
  }
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE float sum(float x) const {
    x += __shfl_xor_sync(0xffffffffu, x, 1);
    return x + __shfl_xor_sync(0xffffffffu, x, 2);
  }
};

}  // namespace attnkit
