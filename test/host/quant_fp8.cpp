// quant/ and core/fp8.cuh on the host: FP8 rounding saturates and keeps 3 (e4m3) or 2 (e5m2)
// mantissa bits; the random Hadamard transform is orthogonal (round trip, and Q·Kᵀ unchanged
// when both are transformed); per-tensor and per-block quantization stay within half a step of
// their block's scale, the blocks' scales follow their own largest value, and the reference's
// FP8 rounding policy rounds P̃·256 to e4m3.

#include <cmath>
#include <cstdint>
#include <vector>

#include <catch2/catch_test_macros.hpp>

#include "attnkit/core/fp8.cuh"
#include "attnkit/quant/fp8_quantize.cuh"
#include "attnkit/quant/hadamard.cuh"
#include "attnkit/reference/cpu_attention.cuh"
#include "attnkit/reference/host_tensor.cuh"

using namespace attnkit;

TEST_CASE("fp8 rounding: saturating, 3 or 2 mantissa bits", "[quant][fp8]") {
  CHECK(round_to<float8_e4m3_t>(1000.f) == 448.f);
  CHECK(round_to<float8_e4m3_t>(-1000.f) == -448.f);
  CHECK(round_to<float8_e5m2_t>(1e9f) == 57344.f);
  CHECK(round_to<float8_e4m3_t>(1.0625f) == 1.f);    // halfway between 1 and 1.125: to even
  CHECK(round_to<float8_e4m3_t>(1.07f) == 1.125f);
  CHECK(round_to<float8_e5m2_t>(1.3f) == 1.25f);
  CHECK(round_to<float8_e4m3_t>(0x1p-9f) == 0x1p-9f);  // e4m3's smallest subnormal
  CHECK(round_to<float8_e4m3_t>(0x1p-11f) == 0.f);
}

TEST_CASE("random Hadamard: orthogonal, scores unchanged", "[quant][hadamard]") {
  for (int n : {64, 128, 256}) {
    REQUIRE(is_hadamard_size(n));
    const RandomSigns signs{uint64_t(n) * 7 + 1};
    const std::vector<double> q = reference::random_normal(n, 11), k = reference::random_normal(n, 12);
    std::vector<double> qm = q, km = k;
    random_hadamard(qm.data(), n, signs);
    random_hadamard(km.data(), n, signs);
    double dot = 0, dot_m = 0, norm = 0, norm_m = 0;
    for (int i = 0; i < n; ++i) {
      dot += q[i] * k[i];
      dot_m += qm[i] * km[i];
      norm += q[i] * q[i];
      norm_m += qm[i] * qm[i];
    }
    CHECK(std::abs(dot - dot_m) < 1e-12 * n);
    CHECK(std::abs(norm - norm_m) < 1e-12 * n);
    inverse_random_hadamard(qm.data(), n, signs);
    for (int i = 0; i < n; ++i) CHECK(std::abs(qm[i] - q[i]) < 1e-13);
  }
  CHECK_FALSE(is_hadamard_size(96));
  // An outlier feature is spread over all n: every output has magnitude |x| / √n.
  std::vector<double> spike(128, 0.0);
  spike[5] = 100.0;
  random_hadamard(spike.data(), 128, RandomSigns{3});
  for (double x : spike) CHECK(std::abs(std::abs(x) - 100.0 / std::sqrt(128.0)) < 1e-12);
}

TEST_CASE("quantize_fp8: per tensor and per block", "[quant][fp8]") {
  const int64_t rows = 300;
  const int heads = 2, head_dim = 64;
  std::vector<double> x = reference::random_normal(rows * heads * head_dim, 5);
  x[(7 * heads + 1) * head_dim + 3] = 200.0;  // an outlier in row 7 of head 1
  for (int64_t block_rows : {int64_t{0}, int64_t{128}}) {
    const auto q = quantize_fp8<float8_e4m3_t>(x, rows, heads, head_dim, block_rows);
    CHECK(q.row_blocks() == (block_rows == 0 ? 1 : 3));
    CHECK(q.scales.size() == (block_rows == 0 ? 1u : 6u));
    const std::vector<double> back = q.dequantize();
    for (int64_t r = 0; r < rows; ++r)
      for (int h = 0; h < heads; ++h)
        for (int d = 0; d < head_dim; ++d) {
          const int64_t at = (r * heads + h) * head_dim + d;
          // e4m3 keeps 3 mantissa bits: half a step is 1/16 of the value (subnormals: of the scale).
          const double step = std::max(std::abs(x[at]) / 16.0, q.scale_of(r, h) * 0x1p-10);
          CHECK(std::abs(back[at] - x[at]) <= step * 1.0001);
        }
    // The outlier's block takes its scale; with blocks, the other head's first block does not.
    CHECK(q.scale_of(7, 1) == 200.f / 448.f);
    if (block_rows > 0) CHECK(q.scale_of(7, 0) < 10.f / 448.f);
  }
}

TEST_CASE("RoundedLikeFp8: P̃·256 rounded to e4m3, divided by 256 · the row sum", "[quant][fp8]") {
  const reference::RoundedLikeFp8<float8_e4m3_t, bfloat16_t> fp8;
  CHECK(fp8.prob(1.0, 2.0) == 0.5);
  CHECK(fp8.prob(0.3, 1.0) == round_to<float8_e4m3_t>(0.3f * 256) / 256.0);
  CHECK(fp8.prob(1e-6, 1.0) == 0.0);  // below e4m3's range even after the scale
}
