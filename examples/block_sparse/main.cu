// attnkit block-sparse attention: a Longformer-style mask (a local window plus global tokens)
// turned into a block mask on the GPU, then the block-sparse FA2 forward and backward, which
// visit only the blocks the mask keeps. Checked against dense attention under the same element
// mask (the float64 CPU reference evaluates the pattern pair by pair), then timed beside the
// dense forward without a mask.
//
// Exits 0 when the results match, 1 when they do not, 77 when there is no GPU.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include <cuda_runtime_api.h>

#include <attnkit/fa2/backward.cuh>
#include <attnkit/fa2/forward.cuh>
#include <attnkit/host/device_buffer.cuh>
#include <attnkit/host/gpu_timer.cuh>
#include <attnkit/mask/block_mask_builder.cuh>
#include <attnkit/mask/mask_patterns.cuh>
#include <attnkit/reference/cpu_attention.cuh>
#include <attnkit/reference/host_tensor.cuh>

using attnkit::bfloat16_t;

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
    std::printf("block_sparse: no CUDA device, nothing run\n");
    return 77;
  }
  constexpr int kHeadDim = 128;
  const int batch = 2, heads = 8, seqlen = 4000;  // not a multiple of the 128-token blocks

  // The pattern: keys within 300 positions of the query, plus 100 global tokens that see and are
  // seen by everyone. Its mask_mod is the element mask; its classify says which 128 × 128 blocks
  // are skipped, kept whole or cut by the mask.
  attnkit::LocalGlobalPattern pattern;
  pattern.window = 300;
  pattern.globals = 100;

  // Random BSHD inputs (the reference's packed order for dense batches), rounded to bf16.
  const auto shape = attnkit::reference::Shape::dense(batch, heads, heads, seqlen, seqlen, kHeadDim);
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

  // The block mask, built on the GPU from the pattern's mask_mod: one entry (batch 1, heads 1)
  // that every batch entry and head shares. It holds the forward's lists (per query block its
  // key blocks) and the transposed ones the backward walks (per key block its query blocks).
  attnkit::DeviceBlockMask mask;
  const double build_ms = time_ms(1, [&] {
    mask = attnkit::build_block_mask_from_mask_mod(pattern, 1, 1, seqlen, seqlen);
  });
  const attnkit::HostBlockMask lists = mask.download();
  std::printf("block mask: %d x %d blocks of %d x %d, density %.1f%% (%lld kept), built in %.3f ms\n",
              lists.q_blocks, lists.kv_blocks, lists.block_m, lists.block_n, 100.0 * lists.density(),
              static_cast<long long>(lists.kept_blocks()), build_ms);

  // The pattern is the variant too: partial blocks apply its mask_mod per element, full blocks
  // run with no test, and blocks not listed are never loaded.
  auto sparse_forward = [&] {
    attnkit::fa2::forward_block_sparse<bfloat16_t, kHeadDim>(problem, mask.view(), pattern);
  };
  auto sparse_backward = [&] {
    attnkit::fa2::backward_block_sparse<bfloat16_t, kHeadDim>(problem, grads, mask.view(), pattern);
  };
  sparse_forward();
  sparse_backward();
  ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());

  // Dense attention with the same element mask, in float64: the reference evaluates the same
  // struct's mask_mod for every pair.
  const attnkit::reference::ForwardResult forward = attnkit::reference::forward(shape, q, k, v, pattern);
  const attnkit::reference::BackwardResult backward = attnkit::reference::backward(shape, q, k, v, d_out, pattern);
  const double errors[] = {relative_error(download(o_dev), forward.o), relative_error(download(dq_dev), backward.dq),
                           relative_error(download(dk_dev), backward.dk), relative_error(download(dv_dev), backward.dv)};
  std::printf("relative max error: O %.2e, dQ %.2e, dK %.2e, dV %.2e (bf16)\n", errors[0], errors[1], errors[2],
              errors[3]);

  // Time: the sparse passes, and the dense forward without a mask for scale (it is
  // run last, so its O is not the one checked above).
  const double forward_ms = time_ms(20, sparse_forward);
  const double backward_ms = time_ms(20, sparse_backward);
  const double dense_ms = time_ms(20, [&] { attnkit::fa2::forward<bfloat16_t, kHeadDim>(problem); });
  std::printf("b=%d h=%d s=%d d=%d bf16, window %d, %d global tokens\n", batch, heads, seqlen, kHeadDim,
              pattern.window, pattern.globals);
  std::printf("sparse forward:  %.3f ms (dense forward, no mask: %.3f ms, %.1fx)\n", forward_ms, dense_ms,
              dense_ms / forward_ms);
  std::printf("sparse backward: %.3f ms\n", backward_ms);

  // bf16 outputs: one rounding is ~4e-3 relative; the kernels stay within a few of them.
  const bool ok = std::all_of(std::begin(errors), std::end(errors), [](double e) { return std::isfinite(e) && e < 2e-2; });
  std::printf("%s\n", ok ? "block_sparse: OK" : "block_sparse: MISMATCH");
  return ok ? 0 : 1;
}
