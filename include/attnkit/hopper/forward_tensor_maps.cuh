#pragma once
// The TMA descriptors of the Hopper forward, built by its launcher (sm90/tensor_map.cuh) and passed
// as a __grid_constant__ kernel argument: the producer loads Q, K and V through them, the
// epilogue stores O.

#include <cuda.h>

namespace attnkit::hopper {

struct ForwardTensorMaps {
  CUtensorMap q;  // boxes of 64 rows (one consumer warpgroup's)
  CUtensorMap k;  // boxes of BlockN rows
  CUtensorMap v;
  CUtensorMap o;  // boxes of 16 rows (one consumer warp's)
};

}  // namespace attnkit::hopper
