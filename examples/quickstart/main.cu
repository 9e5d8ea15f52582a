// attnkit quick start: causal attention forward on random bf16 data through the runtime-dispatch
// API (attnkit/dispatch.cuh), checked against the float64 CPU reference, then timed.
//
// Exits 0 when the result matches, 1 when it does not, 77 when there is no GPU to run on.

#include <cmath>
#include <cstdio>
#include <vector>

#include <cuda_runtime_api.h>

#include <attnkit/dispatch.cuh>
#include <attnkit/reference/cpu_attention.cuh>
#include <attnkit/reference/host_tensor.cuh>

using attnkit::bfloat16_t;

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("quickstart: no CUDA device, nothing run\n");
    return 77;
  }

  // Shapes: batch 2, 16 query heads sharing 4 K/V heads (GQA), 2048 tokens, head dim 128.
  const int batch = 2, heads_q = 16, heads_kv = 4, seqlen = 2048, head_dim = 128;
  const attnkit::BandMask mask = attnkit::BandMask::causal();

  // Random inputs in BSHD layout, rounded to bf16 so the reference sees exactly the same values.
  const auto shape = attnkit::reference::Shape::dense(batch, heads_q, heads_kv, seqlen, seqlen, head_dim, mask);
  std::vector<double> q = attnkit::reference::random_normal(shape.q_size(), 1);
  std::vector<double> k = attnkit::reference::random_normal(shape.kv_size(), 2);
  std::vector<double> v = attnkit::reference::random_normal(shape.kv_size(), 3);
  auto to_bf16 = [](std::vector<double>& values) {
    std::vector<bfloat16_t> out(values.size());
    for (size_t i = 0; i < values.size(); ++i) {
      out[i] = attnkit::from_float<bfloat16_t>(static_cast<float>(values[i]));
      values[i] = attnkit::to_float(out[i]);
    }
    return out;
  };
  const std::vector<bfloat16_t> q_host = to_bf16(q), k_host = to_bf16(k), v_host = to_bf16(v);

  bfloat16_t *q_dev, *k_dev, *v_dev, *o_dev;
  float* lse_dev;
  ATTNKIT_CUDA_CHECK(cudaMalloc(&q_dev, q_host.size() * sizeof(bfloat16_t)));
  ATTNKIT_CUDA_CHECK(cudaMalloc(&k_dev, k_host.size() * sizeof(bfloat16_t)));
  ATTNKIT_CUDA_CHECK(cudaMalloc(&v_dev, v_host.size() * sizeof(bfloat16_t)));
  ATTNKIT_CUDA_CHECK(cudaMalloc(&o_dev, q_host.size() * sizeof(bfloat16_t)));
  ATTNKIT_CUDA_CHECK(cudaMalloc(&lse_dev, size_t(batch) * heads_q * seqlen * sizeof(float)));
  ATTNKIT_CUDA_CHECK(cudaMemcpy(q_dev, q_host.data(), q_host.size() * sizeof(bfloat16_t), cudaMemcpyHostToDevice));
  ATTNKIT_CUDA_CHECK(cudaMemcpy(k_dev, k_host.data(), k_host.size() * sizeof(bfloat16_t), cudaMemcpyHostToDevice));
  ATTNKIT_CUDA_CHECK(cudaMemcpy(v_dev, v_host.data(), v_host.size() * sizeof(bfloat16_t), cudaMemcpyHostToDevice));

  // The problem: pointers, shapes, strides (BSHD), mask. softmax_scale 0 means 1/sqrt(d).
  attnkit::AttentionProblem problem = attnkit::make_bshd_problem(
      attnkit::DType::bf16, batch, heads_q, heads_kv, seqlen, seqlen, head_dim, q_dev, k_dev, v_dev, o_dev, lse_dev);
  problem.band = mask;

  attnkit::forward(problem);  // throws attnkit::error on a bad problem
  ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());

  // Check against the float64 reference.
  std::vector<bfloat16_t> o_host(q_host.size());
  ATTNKIT_CUDA_CHECK(cudaMemcpy(o_host.data(), o_dev, o_host.size() * sizeof(bfloat16_t), cudaMemcpyDeviceToHost));
  std::vector<double> o(o_host.size());
  for (size_t i = 0; i < o.size(); ++i) o[i] = attnkit::to_float(o_host[i]);
  const attnkit::reference::ForwardResult expected = attnkit::reference::forward(shape, q, k, v);
  const double error = attnkit::reference::max_abs_diff(o, expected.o);
  std::printf("max |O - O_reference| = %.3g (bf16 output)\n", error);

  // Time it.
  cudaEvent_t start, stop;
  ATTNKIT_CUDA_CHECK(cudaEventCreate(&start));
  ATTNKIT_CUDA_CHECK(cudaEventCreate(&stop));
  const int repeats = 20;
  ATTNKIT_CUDA_CHECK(cudaEventRecord(start));
  for (int i = 0; i < repeats; ++i) attnkit::forward(problem);
  ATTNKIT_CUDA_CHECK(cudaEventRecord(stop));
  ATTNKIT_CUDA_CHECK(cudaEventSynchronize(stop));
  float milliseconds = 0.f;
  ATTNKIT_CUDA_CHECK(cudaEventElapsedTime(&milliseconds, start, stop));
  milliseconds /= repeats;
  const double flops = 4.0 * batch * heads_q * double(seqlen) * seqlen * head_dim / 2;  // causal: half
  std::printf("forward: %.3f ms, %.1f TFLOP/s (b=%d hq=%d hkv=%d s=%d d=%d causal bf16)\n", milliseconds,
              flops / (milliseconds * 1e-3) / 1e12, batch, heads_q, heads_kv, seqlen, head_dim);

  cudaFree(q_dev);
  cudaFree(k_dev);
  cudaFree(v_dev);
  cudaFree(o_dev);
  cudaFree(lse_dev);
  const bool ok = error < 2e-2 && std::isfinite(error);
  std::printf("%s\n", ok ? "quickstart: OK" : "quickstart: MISMATCH");
  return ok ? 0 : 1;
}
