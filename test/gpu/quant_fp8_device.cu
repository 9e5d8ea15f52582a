// quant/quantize_fp8_kernel.cuh and quant/warp_hadamard.cuh on the GPU, against the host forms
// (quant/fp8_quantize.cuh, quant/hadamard.cuh): per tensor and per block of 128 rows, with and
// without the random Hadamard transform, e4m3 and e5m2, head dims 64 and 128, bf16 input with
// outliers, rows not a multiple of the block. The scales must agree to fp32 rounding and every
// dequantized value to within one FP8 step of the host's (the transform is fp32 on the device,
// float64 on the host, so a value on a rounding boundary may land one step apart).

#include <cmath>
#include <vector>

#include <catch2/catch_test_macros.hpp>

#include "attnkit/core/fp8.cuh"
#include "attnkit/quant/fp8_quantize.cuh"
#include "attnkit/quant/hadamard.cuh"
#include "attnkit/quant/quantize_fp8_kernel.cuh"
#include "attnkit/reference/host_tensor.cuh"
#include "support/device_array.cuh"

namespace {

using namespace attnkit;
using namespace attnkit::testing;

template <class Fp8, int HeadDim>
void check_quantize(int64_t block_rows, bool hadamard) {
  const int64_t rows = 300;
  const int heads = 3;
  INFO(ElementTraits<Fp8>::name << " d=" << HeadDim << " block_rows=" << block_rows << " hadamard=" << hadamard);
  std::vector<double> x = reference::random_normal(rows * heads * HeadDim, 40 + HeadDim + block_rows);
  x[(17 * heads + 2) * HeadDim + 5] = 90.0;  // outliers
  x[(250 * heads + 0) * HeadDim + 1] = -60.0;
  const std::vector<bfloat16_t> x_bf16 = round_to_elements<bfloat16_t>(x);
  std::vector<double> host_x = to_doubles(x_bf16);  // what the device reads
  const RandomSigns signs{99};
  if (hadamard)
    for (std::size_t at = 0; at < host_x.size(); at += HeadDim) random_hadamard(&host_x[at], HeadDim, signs);
  const QuantizedTensor<Fp8> expected = quantize_fp8<Fp8>(host_x, rows, heads, HeadDim, block_rows);

  DeviceArray<bfloat16_t> x_device(x_bf16);
  DeviceArray<Fp8> out(x.size());
  DeviceArray<float> scales(expected.scales.size());
  quantize_fp8_device<Fp8, HeadDim>(x_device.get(), rows, heads, out.get(), scales.get(),
                                    Fp8Quantization{block_rows, hadamard, signs});
  ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());
  const std::vector<float> got_scales = scales.download();
  for (std::size_t i = 0; i < got_scales.size(); ++i)
    CHECK(std::abs(got_scales[i] - expected.scales[i]) <= 1e-5f * expected.scales[i]);

  const std::vector<Fp8> got = out.download();
  int64_t off_by_more = 0;
  for (int64_t r = 0; r < rows; ++r)
    for (int h = 0; h < heads; ++h) {
      const double scale = expected.scale_of(r, h);
      for (int d = 0; d < HeadDim; ++d) {
        const int64_t at = (r * heads + h) * HeadDim + d;
        const double mine = scale * to_float(got[at]), theirs = scale * to_float(expected.values[at]);
        // One step of the format at this magnitude (its subnormal step near zero).
        const double step = std::max(std::abs(theirs) * (std::is_same_v<Fp8, float8_e4m3_t> ? 0x1p-3 : 0x1p-2),
                                     scale * (std::is_same_v<Fp8, float8_e4m3_t> ? 0x1p-9 : 0x1p-16));
        off_by_more += std::abs(mine - theirs) > step * 1.001;
      }
    }
  CHECK(off_by_more == 0);
}

}  // namespace

TEST_CASE("quantize_fp8_device: per tensor and per block, with and without the Hadamard transform", "[quant][fp8]") {
  for (const bool hadamard : {false, true}) {
    for (const int64_t block_rows : {int64_t{0}, int64_t{128}}) {
      check_quantize<float8_e4m3_t, 64>(block_rows, hadamard);
      check_quantize<float8_e4m3_t, 128>(block_rows, hadamard);
      check_quantize<float8_e5m2_t, 128>(block_rows, hadamard);
    }
  }
}
