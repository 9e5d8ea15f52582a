// attnkit quick start: causal attention forward and backward on random bf16 data through the
// runtime-dispatch API (attnkit/dispatch.cuh, attnkit/dispatch_backward.cuh), checked against
// the float64 CPU reference, then timed.
//
// Exits 0 when the results match, 1 when they do not, 77 when there is no GPU to run on.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include <cuda_runtime_api.h>

#include <attnkit/dispatch.cuh>
#include <attnkit/dispatch_backward.cuh>
#include <attnkit/host/device_buffer.cuh>
#include <attnkit/host/gpu_timer.cuh>
#include <attnkit/reference/cpu_attention.cuh>
#include <attnkit/reference/host_tensor.cuh>

using attnkit::bfloat16_t;

namespace {

// Rounds `values` to bf16 in place, so the reference sees exactly what the GPU sees.
std::vector<bfloat16_t> to_bf16(std::vector<double>& values) {
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

// Milliseconds per call of `step`, averaged over `repeats` calls.
template <class Step>
double time_ms(int repeats, Step&& step) {
  attnkit::GpuTimer timer(nullptr);  // on the default stream, where the steps run
  return timer.seconds([&] {
    for (int i = 0; i < repeats; ++i) step();
  }) * 1e3 / repeats;
}

}  // namespace

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("quickstart: no CUDA device, nothing run\n");
    return 77;
  }

  // Shapes: batch 2, 16 query heads sharing 4 K/V heads (GQA), 2048 tokens, head dim 128.
  constexpr int kHeadDim = 128;
  const int batch = 2, heads_q = 16, heads_kv = 4, seqlen = 2048;
  const attnkit::BandMask mask = attnkit::BandMask::causal();

  // Random inputs and output gradient in BSHD layout (the reference's packed order), rounded to bf16.
  const auto shape = attnkit::reference::Shape::dense(batch, heads_q, heads_kv, seqlen, seqlen, kHeadDim, mask);
  std::vector<double> q = attnkit::reference::random_normal(shape.q_size(), 1);
  std::vector<double> k = attnkit::reference::random_normal(shape.kv_size(), 2);
  std::vector<double> v = attnkit::reference::random_normal(shape.kv_size(), 3);
  std::vector<double> d_out = attnkit::reference::random_normal(shape.q_size(), 4);
  using Buffer = attnkit::DeviceBuffer<bfloat16_t>;  // owns a device allocation (attnkit/host)
  const Buffer q_dev(to_bf16(q)), k_dev(to_bf16(k)), v_dev(to_bf16(v)), d_out_dev(to_bf16(d_out));
  const Buffer o_dev(shape.q_size()), dq_dev(shape.q_size()), dk_dev(shape.kv_size()), dv_dev(shape.kv_size());
  const attnkit::DeviceBuffer<float> lse_dev(shape.lse_size());  // the backward recomputes P from it

  // The problem: pointers, shapes, strides (BSHD), mask. softmax_scale 0 means 1/sqrt(d).
  attnkit::AttentionProblem problem =
      attnkit::make_bshd_problem(attnkit::DType::bf16, batch, heads_q, heads_kv, seqlen, seqlen, kHeadDim,
                                 q_dev.get(), k_dev.get(), v_dev.get(), o_dev.get(), lse_dev.get());
  problem.band = mask;
  // dO read, dQ, dK, dV written, each with the strides of the tensor it belongs to.
  const attnkit::BackwardGradients grads =
      attnkit::make_gradients_like(problem, d_out_dev.get(), dq_dev.get(), dk_dev.get(), dv_dev.get());

  // Dispatch on the problem's dtype and head dim at run time. The lists instantiate head dim 128
  // only; attnkit::forward / attnkit::backward would build all six. Both throw attnkit::error
  // on a bad problem (a head dim not listed included).
  auto forward = [&] { attnkit::forward_for<kHeadDim>(problem); };
  auto backward = [&] { attnkit::backward_for<kHeadDim>(problem, grads); };
  forward();
  backward();
  ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());

  // Check against the float64 reference (threads over the CPU's cores; a few seconds).
  const attnkit::reference::ForwardResult expected = attnkit::reference::forward(shape, q, k, v);
  const attnkit::reference::BackwardResult expected_grads = attnkit::reference::backward(shape, q, k, v, d_out);
  const double errors[] = {relative_error(download(o_dev), expected.o),
                           relative_error(download(dq_dev), expected_grads.dq),
                           relative_error(download(dk_dev), expected_grads.dk),
                           relative_error(download(dv_dev), expected_grads.dv)};
  std::printf("relative max error: O %.2e, dQ %.2e, dK %.2e, dV %.2e (bf16)\n", errors[0], errors[1], errors[2],
              errors[3]);

  // Time each pass. FLOPs: 4·b·h·s²·d for the forward's two GEMMs, halved by the causal mask;
  // the backward's five GEMMs are 2.5 times that.
  const double forward_ms = time_ms(20, forward);
  const double backward_ms = time_ms(20, backward);
  const double forward_flops = 4.0 * batch * heads_q * double(seqlen) * seqlen * kHeadDim / 2;
  const double backward_flops = 2.5 * forward_flops;
  std::printf("b=%d hq=%d hkv=%d s=%d d=%d causal bf16\n", batch, heads_q, heads_kv, seqlen, kHeadDim);
  std::printf("forward:  %.3f ms, %.1f TFLOP/s\n", forward_ms, forward_flops / (forward_ms * 1e-3) / 1e12);
  std::printf("backward: %.3f ms, %.1f TFLOP/s\n", backward_ms, backward_flops / (backward_ms * 1e-3) / 1e12);

  // bf16 outputs: one rounding is ~4e-3 relative; the kernels stay within a few of them.
  const bool ok = std::all_of(std::begin(errors), std::end(errors), [](double e) { return std::isfinite(e) && e < 2e-2; });
  std::printf("%s\n", ok ? "quickstart: OK" : "quickstart: MISMATCH");
  return ok ? 0 : 1;
}
