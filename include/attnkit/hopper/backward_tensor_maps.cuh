#pragma once
// The TMA descriptors of the Hopper backward: what its producer loads from.

#include <cuda.h>

namespace attnkit::hopper {

struct BackwardTensorMaps {
  CUtensorMap q;    // boxes of BlockM rows
  CUtensorMap d_o;  // likewise
  CUtensorMap k;    // boxes of 128 rows
  CUtensorMap v;
};

}  // namespace attnkit::hopper
