#pragma once
// FP8 quantization with scales, per tensor or per block (FlashAttention-3, §3.3): a block of
// values x is stored as x / scale in FP8 with scale = amax(block) / max(FP8), so the block's
// largest value lands on the format's largest; attention undoes the scales with its descale
// factors (q·k = scale_q·scale_k·(q̂·k̂), O = scale_v·P·V̂).
//
// Blocks of a (rows, heads, head_dim) tensor: `block_rows` consecutive rows of one head share a
// scale; block_rows 0 gives one scale for the whole tensor (per-tensor FP8).
//
//   auto k8 = attnkit::quantize_fp8<attnkit::float8_e4m3_t>(k, rows, heads, head_dim, 128);
//   k8.values (rows, heads, head_dim), k8.scales (heads, ceil(rows / 128)), k8.dequantize()

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "../core/config.cuh"
#include "../core/error.cuh"
#include "../core/fp8.cuh"

namespace attnkit {

// The scale that maps a block of largest magnitude `amax` onto Fp8's range; 1 for an all-zero
// block (any scale stores zeros exactly).
template <class Fp8>
ATTNKIT_HOST_DEVICE inline float fp8_scale_for(float amax) {
  return amax > 0.f ? amax / ElementTraits<Fp8>::kMax : 1.f;
}

template <class Fp8>
struct QuantizedTensor {
  std::vector<Fp8> values;   // (rows, heads, head_dim): x / scale of x's block
  std::vector<float> scales;  // (heads, row_blocks), or one value (per-tensor)
  int64_t rows = 0;
  int heads = 0, head_dim = 0;
  int64_t block_rows = 0;    // 0: per-tensor

  float scale_of(int64_t row, int head) const {
    return block_rows == 0 ? scales[0] : scales[head * row_blocks() + row / block_rows];
  }
  int64_t row_blocks() const { return block_rows == 0 ? 1 : (rows + block_rows - 1) / block_rows; }
  // x ≈ scale · stored, in float64.
  std::vector<double> dequantize() const {
    std::vector<double> x(values.size());
    for (int64_t r = 0; r < rows; ++r)
      for (int h = 0; h < heads; ++h) {
        const double scale = scale_of(r, h);
        const int64_t at = (r * heads + h) * head_dim;
        for (int d = 0; d < head_dim; ++d) x[at + d] = scale * to_float(values[at + d]);
      }
    return x;
  }
};

template <class Fp8>
QuantizedTensor<Fp8> quantize_fp8(const std::vector<double>& x, int64_t rows, int heads, int head_dim,
                                  int64_t block_rows) {
  require(rows > 0 && heads > 0 && head_dim > 0, "quantize_fp8: rows = ", rows, ", heads = ", heads,
          ", head_dim = ", head_dim, " must be positive");
  require(static_cast<int64_t>(x.size()) == rows * heads * head_dim, "quantize_fp8: ", x.size(),
          " values for a (", rows, ", ", heads, ", ", head_dim, ") tensor");
  require(block_rows >= 0, "quantize_fp8: block_rows = ", block_rows, " must be >= 0 (0: one scale)");
  QuantizedTensor<Fp8> q;
  q.rows = rows;
  q.heads = heads;
  q.head_dim = head_dim;
  q.block_rows = block_rows;
  const int64_t blocks = q.row_blocks();
  std::vector<float> amax(block_rows == 0 ? 1 : std::size_t(heads) * blocks, 0.f);
  auto slot = [&](int64_t r, int h) -> float& { return block_rows == 0 ? amax[0] : amax[h * blocks + r / block_rows]; };
  for (int64_t r = 0; r < rows; ++r)
    for (int h = 0; h < heads; ++h)
      for (int d = 0; d < head_dim; ++d)
        slot(r, h) = std::max(slot(r, h), static_cast<float>(std::abs(x[(r * heads + h) * head_dim + d])));
  q.scales.resize(amax.size());
  for (std::size_t i = 0; i < amax.size(); ++i) q.scales[i] = fp8_scale_for<Fp8>(amax[i]);
  q.values.resize(x.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int h = 0; h < heads; ++h) {
      const float inverse = 1.f / q.scale_of(r, h);
      const int64_t at = (r * heads + h) * head_dim;
      for (int d = 0; d < head_dim; ++d) q.values[at + d] = from_float<Fp8>(static_cast<float>(x[at + d]) * inverse);
    }
  return q;
}

}  // namespace attnkit
