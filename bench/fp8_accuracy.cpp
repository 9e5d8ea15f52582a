// FP8 attention's accuracy, emulated on the CPU: the experiment of the FlashAttention-3 paper
// (§4.3) with attnkit's float64 reference. Q, K, V have N(0, 1) entries plus, for 0.1% of them,
// an N(0, 100) term (outliers); the error is the RMSE of O against float64 attention on the
// unquantized inputs. Rows:
//   fp16, bf16            inputs and arithmetic of a 16-bit kernel (RoundedLike)
//   e4m3 per-tensor       one scale per tensor, an FP8 kernel's arithmetic (RoundedLikeFp8)
//   e4m3 per-block        one scale per 128 rows of each head
//   e4m3 Hadamard         Q and K through one random Hadamard transform, per-tensor scales
//   e4m3 both             the transform and per-block scales
// The GPU kernel must match the emulation of its own arithmetic (the FP8 tests' tolerance).
//
// usage: fp8_accuracy [seqlen] [head_dim] [heads]   (default 1024 128 2)

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "attnkit/core/fp8.cuh"
#include "attnkit/quant/fp8_quantize.cuh"
#include "attnkit/quant/hadamard.cuh"
#include "attnkit/reference/cpu_attention.cuh"

using namespace attnkit;

namespace {

std::vector<double> with_outliers(std::size_t count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0), outlier(0.0, 10.0);
  std::bernoulli_distribution rare(0.001);
  std::vector<double> x(count);
  for (double& value : x) value = normal(rng) + (rare(rng) ? outlier(rng) : 0.0);
  return x;
}

double rmse(const std::vector<double>& a, const std::vector<double>& b) {
  double sum = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += (a[i] - b[i]) * (a[i] - b[i]);
  return std::sqrt(sum / a.size());
}

template <class Element>
std::vector<double> rounded(std::vector<double> x) {
  for (double& value : x) value = round_to<Element>(static_cast<float>(value));
  return x;
}

// Every (row, head) of a (rows, heads, head_dim) tensor through the transform.
std::vector<double> transformed(std::vector<double> x, int head_dim, RandomSigns signs) {
  for (std::size_t at = 0; at < x.size(); at += head_dim) random_hadamard(&x[at], head_dim, signs);
  return x;
}

}  // namespace

int main(int argc, char** argv) {
  const int seqlen = argc > 1 ? std::atoi(argv[1]) : 1024;
  const int head_dim = argc > 2 ? std::atoi(argv[2]) : 128;
  const int heads = argc > 3 ? std::atoi(argv[3]) : 2;
  if (seqlen <= 0 || heads <= 0 || !is_hadamard_size(head_dim)) {
    std::fprintf(stderr, "fp8_accuracy: seqlen %d, heads %d, head_dim %d: head_dim must be a power of two\n", seqlen,
                 heads, head_dim);
    return 2;
  }
  const auto shape = reference::Shape::dense(1, heads, heads, seqlen, seqlen, head_dim);
  const std::vector<double> q = with_outliers(shape.q_size(), 1), k = with_outliers(shape.kv_size(), 2),
                            v = with_outliers(shape.kv_size(), 3);
  const std::vector<double> exact = reference::forward(shape, q, k, v).o;

  std::printf("FP8 attention accuracy (emulated): s=%d d=%d heads=%d, N(0,1) + 0.1%% N(0,100) outliers\n", seqlen,
              head_dim, heads);
  std::printf("%-22s %s\n", "method", "RMSE of O");
  auto row = [](const char* name, double error) { std::printf("%-22s %.2e\n", name, error); };
  row("fp16", rmse(reference::forward(shape, rounded<half_t>(q), rounded<half_t>(k), rounded<half_t>(v), NoVariant{},
                                      reference::RoundedLike<half_t>{}).o, exact));
  row("bf16", rmse(reference::forward(shape, rounded<bfloat16_t>(q), rounded<bfloat16_t>(k), rounded<bfloat16_t>(v),
                                      NoVariant{}, reference::RoundedLike<bfloat16_t>{}).o, exact));

  const RandomSigns signs{2026};
  const reference::RoundedLikeFp8<float8_e4m3_t, bfloat16_t> fp8;
  auto fp8_row = [&](const char* name, bool hadamard, int64_t block_rows) {
    const std::vector<double> qt = hadamard ? transformed(q, head_dim, signs) : q;
    const std::vector<double> kt = hadamard ? transformed(k, head_dim, signs) : k;
    auto quantized = [&](const std::vector<double>& x) {
      return quantize_fp8<float8_e4m3_t>(x, seqlen, heads, head_dim, block_rows).dequantize();
    };
    row(name, rmse(reference::forward(shape, quantized(qt), quantized(kt), quantized(v), NoVariant{}, fp8).o, exact));
  };
  fp8_row("e4m3 per-tensor", false, 0);
  fp8_row("e4m3 per-block (128)", false, 128);
  fp8_row("e4m3 Hadamard", true, 0);
  fp8_row("e4m3 Hadamard + block", true, 128);
  return 0;
}
