// attnkit custom variant: a new attention written only by composing blocks. The variant below
// (about a screen) is the whole of it; the FA2 forward and backward kernels run it unchanged.
//
//   score  = cap · tanh((q·k·scale − slope_h · |q − k|) / cap)     ALiBi, then soft-capping
//   keep   = k < prefix  or  k ≤ q                                  a prefix-LM mask
//
// Forward and backward on random bf16 data, checked against the float64 CPU reference (which
// evaluates the same variant in double), then timed. Exits 0 when the results match, 1 when
// they do not, 77 when there is no GPU.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include <cuda_runtime_api.h>

#include <attnkit/fa2/backward.cuh>
#include <attnkit/fa2/forward.cuh>
#include <attnkit/host/device_buffer.cuh>
#include <attnkit/host/gpu_timer.cuh>
#include <attnkit/reference/cpu_attention.cuh>
#include <attnkit/reference/host_tensor.cuh>

using attnkit::bfloat16_t;

// ---- the variant -------------------------------------------------------------------------------
struct PrefixLmAlibiSoftcap : attnkit::VariantBase {
  static constexpr bool has_score_mod = true;  // the kernels call score_mod (and its gradient)
  static constexpr bool has_mask_mod = true;   // ... and mask_mod / classify

  int heads = 1;      // for the ALiBi slopes 2^(-8(h+1)/heads)
  int prefix = 0;     // keys every query sees
  float cap = 20.f;   // soft-capping bound

  template <class T>
  ATTNKIT_HOST_DEVICE T slope(int head) const {
    using std::exp2;
    return exp2(T(-8) * T(head + 1) / T(heads));
  }
  template <class T>
  ATTNKIT_HOST_DEVICE T score_mod(T score, int, int head, int q, int k) const {
    using std::tanh;
    const T biased = score - slope<T>(head) * T(q > k ? q - k : k - q);
    return T(cap) * tanh(biased / T(cap));
  }
  // d(score_mod)/d(score): the ALiBi bias does not depend on the score, so only tanh's part.
  template <class T>
  ATTNKIT_HOST_DEVICE T score_mod_grad(T score, int, int head, int q, int k) const {
    using std::tanh;
    const T t = tanh((score - slope<T>(head) * T(q > k ? q - k : k - q)) / T(cap));
    return T(1) - t * t;
  }
  ATTNKIT_HOST_DEVICE bool mask_mod(int, int, int q, int k) const { return k < prefix || k <= q; }
  // Whole tiles: entirely inside the prefix or on/below the diagonal run with no per-element
  // test; entirely above the diagonal and past the prefix are skipped (never loaded).
  ATTNKIT_HOST_DEVICE attnkit::TileClass classify(int, int, attnkit::TileBounds t) const {
    if (t.k_end <= prefix || t.k_end - 1 <= t.q_begin) return attnkit::TileClass::full;
    if (t.k_begin >= prefix && t.k_begin > t.q_end - 1) return attnkit::TileClass::skip;
    return attnkit::TileClass::partial;
  }
};
// ------------------------------------------------------------------------------------------------

namespace {

std::vector<bfloat16_t> to_bf16(std::vector<double>& values) {  // rounds `values` too
  std::vector<bfloat16_t> out(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    out[i] = attnkit::from_float<bfloat16_t>(static_cast<float>(values[i]));
    values[i] = attnkit::to_float(out[i]);
  }
  return out;
}

std::vector<double> download(const attnkit::DeviceBuffer<bfloat16_t>& device) {
  const std::vector<bfloat16_t> host = device.download();
  std::vector<double> values(host.size());
  for (size_t i = 0; i < host.size(); ++i) values[i] = attnkit::to_float(host[i]);
  return values;
}

// max |actual − expected| relative to max(1, max |expected|).
double relative_error(const std::vector<double>& actual, const std::vector<double>& expected) {
  return attnkit::reference::max_abs_diff(actual, expected) / std::max(1.0, attnkit::reference::max_abs(expected));
}

}  // namespace

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("custom_variant: no CUDA device, nothing run\n");
    return 77;
  }
  constexpr int kHeadDim = 128;
  const int batch = 2, heads = 8, seqlen = 1000;
  PrefixLmAlibiSoftcap variant;
  variant.heads = heads;
  variant.prefix = 300;

  // Random BSHD inputs (the reference's packed order for dense batches), rounded to bf16.
  const auto shape = attnkit::reference::Shape::dense(batch, heads, heads, seqlen, seqlen, kHeadDim,
                                                      attnkit::BandMask::none());
  std::vector<double> q = attnkit::reference::random_normal(shape.q_size(), 1);
  std::vector<double> k = attnkit::reference::random_normal(shape.kv_size(), 2);
  std::vector<double> v = attnkit::reference::random_normal(shape.kv_size(), 3);
  std::vector<double> d_out = attnkit::reference::random_normal(shape.q_size(), 4);
  using Buffer = attnkit::DeviceBuffer<bfloat16_t>;
  const Buffer q_dev(to_bf16(q)), k_dev(to_bf16(k)), v_dev(to_bf16(v)), d_out_dev(to_bf16(d_out));
  const Buffer o_dev(shape.q_size()), dq_dev(shape.q_size()), dk_dev(shape.kv_size()), dv_dev(shape.kv_size());
  const attnkit::DeviceBuffer<float> lse_dev(shape.lse_size());

  attnkit::AttentionProblem problem =
      attnkit::make_bshd_problem(attnkit::DType::bf16, batch, heads, heads, seqlen, seqlen, kHeadDim, q_dev.get(),
                                 k_dev.get(), v_dev.get(), o_dev.get(), lse_dev.get());
  const attnkit::BackwardGradients grads =
      attnkit::make_gradients_like(problem, d_out_dev.get(), dq_dev.get(), dk_dev.get(), dv_dev.get());
  auto step = [&] {
    attnkit::fa2::forward<bfloat16_t, kHeadDim>(problem, variant);
    attnkit::fa2::backward<bfloat16_t, kHeadDim>(problem, grads, variant);
  };
  step();
  ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());

  // The reference evaluates the same struct's score_mod, score_mod_grad and mask_mod in double.
  const attnkit::reference::ForwardResult forward = attnkit::reference::forward(shape, q, k, v, variant);
  const attnkit::reference::BackwardResult backward = attnkit::reference::backward(shape, q, k, v, d_out, variant);
  const double errors[] = {relative_error(download(o_dev), forward.o), relative_error(download(dq_dev), backward.dq),
                           relative_error(download(dk_dev), backward.dk), relative_error(download(dv_dev), backward.dv)};
  std::printf("relative max error: O %.2e, dQ %.2e, dK %.2e, dV %.2e (bf16)\n", errors[0], errors[1], errors[2],
              errors[3]);

  const int repeats = 10;
  attnkit::GpuTimer timer(nullptr);  // on the default stream, where step runs
  const double milliseconds = timer.seconds([&] {
    for (int i = 0; i < repeats; ++i) step();
  }) * 1e3;
  std::printf("forward + backward: %.3f ms (b=%d h=%d s=%d d=%d, prefix %d, bf16)\n", milliseconds / repeats, batch,
              heads, seqlen, kHeadDim, variant.prefix);

  // bf16 outputs: one rounding is ~4e-3 relative; the kernels stay within a few of them.
  const bool ok = std::all_of(std::begin(errors), std::end(errors), [](double e) { return std::isfinite(e) && e < 2e-2; });
  std::printf("%s\n", ok ? "custom_variant: OK" : "custom_variant: MISMATCH");
  return ok ? 0 : 1;
}
