#pragma once
// The random Hadamard transform of quant/hadamard.cuh on the device, one row per warp: lane l
// holds the row's features [l·K, l·K + K), K = N / 32, in registers. The transform's stages
// that pair features less than K apart stay in each lane's registers; the others pair lane l
// with lane l ^ (h / K) through a shuffle. Same result as random_hadamard on the host (up to
// fp32 rounding), with no shared memory.

#include "../core/config.cuh"
#include "hadamard.cuh"

namespace attnkit {

template <int N>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void warp_random_hadamard(float (&values)[N / 32], int lane, RandomSigns signs) {
  static_assert(is_hadamard_size(N) && N >= 32, "the row length must be a power of two of at least 32");
  constexpr int K = N / 32;
#pragma unroll
  for (int i = 0; i < K; ++i) values[i] *= signs(lane * K + i);
  // Stages within a lane: features i and i + h, both in this lane's chunk.
#pragma unroll
  for (int h = 1; h < K; h *= 2)
#pragma unroll
    for (int i = 0; i < K; ++i)
      if ((i & h) == 0) {
        const float a = values[i], b = values[i + h];
        values[i] = a + b;
        values[i + h] = a - b;
      }
  // Stages across lanes: feature f pairs with f ^ h, held by lane ^ (h / K) at the same index;
  // the lower feature of the pair takes a + b, the upper a − b (its own value is then b).
#pragma unroll
  for (int lane_bit = 1; lane_bit < 32; lane_bit *= 2) {
    const bool upper = (lane & lane_bit) != 0;
#pragma unroll
    for (int i = 0; i < K; ++i) {
      const float other = __shfl_xor_sync(0xffffffffu, values[i], lane_bit);
      values[i] = upper ? other - values[i] : values[i] + other;
    }
  }
  const float norm = rsqrtf(static_cast<float>(N));
#pragma unroll
  for (int i = 0; i < K; ++i) values[i] *= norm;
}

}  // namespace attnkit
