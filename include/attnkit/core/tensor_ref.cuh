#pragma once
// A strided view of a (batch, row, head, head_dim) tensor: what every problem description
// (attention/problem.cuh, decode/decode_problem.cuh) and the tensor maps (sm90/tensor_map.cuh)
// are made of. Strides are in elements; head_dim has unit stride.

#include <cstdint>

namespace attnkit {

struct TensorRef {
  void* data = nullptr;
  int64_t batch_stride = 0;
  int64_t row_stride = 0;
  int64_t head_stride = 0;
};

}  // namespace attnkit
