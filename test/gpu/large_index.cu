// 64-bit indexing: one tensor of more than 2^31 elements, forward and backward through the
// runtime dispatch (the Hopper kernels on an sm_90a build on Hopper, the sm_80 kernels
// elsewhere; it shares the fuzzer's dispatch units, so it adds no kernel to compile).
//   keys past 2^31:    s_q = 64, s_k = 131136, 128 heads of 128: K, V, dK, dV have 2^31 + 2^20
//                      elements each
//   queries past 2^31: the same with s_q and s_k swapped: Q, O, dO, dQ past 2^31
// Inputs are made on the GPU; three heads (the first, one in the middle, the last) are read
// back and checked against the float64 reference: O under the tests' rule (twice a bf16
// implementation's error plus slack), the gradients within 2% of their largest value. Needs
// about 30 GB of free GPU memory; skipped below it.

#include <algorithm>
#include <vector>

#include <catch2/catch_test_macros.hpp>

#include "attnkit/attention/backward_problem.cuh"
#include "attnkit/attention/problem.cuh"
#include "attnkit/dispatch.cuh"
#include "attnkit/host/device_buffer.cuh"
#include "attnkit/reference/cpu_attention.cuh"
#include "attnkit/reference/host_tensor.cuh"
#include "fuzz_launch.h"
#include "support/device_array.cuh"
#include "support/tolerance_rule.h"

namespace {

using namespace attnkit;
using namespace attnkit::testing;

constexpr int kHeads = 128, kHeadDim = 128;

// Head `head` of a (rows, kHeads, kHeadDim) bf16 tensor on the device, as float64 (rows, 1, d).
std::vector<double> read_head(const DeviceBuffer<bfloat16_t>& tensor, int64_t rows, int head) {
  std::vector<bfloat16_t> values(std::size_t(rows) * kHeadDim);
  ATTNKIT_CUDA_CHECK(cudaMemcpy2D(values.data(), kHeadDim * sizeof(bfloat16_t),
                                  tensor.get() + std::size_t(head) * kHeadDim,
                                  std::size_t(kHeads) * kHeadDim * sizeof(bfloat16_t), kHeadDim * sizeof(bfloat16_t),
                                  rows, cudaMemcpyDeviceToHost));
  return to_doubles(values);
}

void run_case(int seqlen_q, int seqlen_k) {
  INFO("s_q = " << seqlen_q << ", s_k = " << seqlen_k << ", " << kHeads << " heads of " << kHeadDim);
  const std::size_t q_elements = std::size_t(seqlen_q) * kHeads * kHeadDim;
  const std::size_t k_elements = std::size_t(seqlen_k) * kHeads * kHeadDim;
  DeviceBuffer<bfloat16_t> q(q_elements), k(k_elements), v(k_elements), d_out(q_elements);
  DeviceArray<bfloat16_t> o(q_elements), dq(q_elements), dk(k_elements), dv(k_elements);
  DeviceArray<float> lse(std::size_t(kHeads) * seqlen_q);
  q.fill_normal(1);
  k.fill_normal(2);
  v.fill_normal(3);
  d_out.fill_normal(4);
  const AttentionProblem problem = make_bshd_problem(DType::bf16, 1, kHeads, kHeads, seqlen_q, seqlen_k, kHeadDim,
                                                     q.get(), k.get(), v.get(), o.get(), lse.get());
  INFO("kernel: " << kernel_family_name(plan(problem).kernel));
  fuzz_forward(problem);
  fuzz_backward(problem, make_gradients_like(problem, d_out.get(), dq.get(), dk.get(), dv.get()));
  ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());

  const auto shape = reference::Shape::dense(1, 1, 1, seqlen_q, seqlen_k, kHeadDim);
  for (const int head : {0, kHeads / 2 + 13, kHeads - 1}) {
    INFO("head " << head);
    const std::vector<double> qh = read_head(q, seqlen_q, head), kh = read_head(k, seqlen_k, head),
                              vh = read_head(v, seqlen_k, head), dh = read_head(d_out, seqlen_q, head);
    const auto exact = reference::forward(shape, qh, kh, vh);
    const auto same = reference::forward(shape, qh, kh, vh, NoVariant{}, reference::RoundedLike<bfloat16_t>{});
    check_tolerance_rule("O", read_head(o, seqlen_q, head), same.o, exact.o);
    // The gradients have no same-precision baseline here (the reference's backward is exact
    // only), so they are held to 2% of their largest value: bf16 rounding stays well inside
    // it, while a row read or written at a wrapped index misses it by its whole size.
    const auto grads = reference::backward(shape, qh, kh, vh, dh);
    auto check_gradient = [](const char* name, const std::vector<double>& actual, const std::vector<double>& exact) {
      const double error = reference::max_abs_diff(actual, exact);
      INFO(name << ": max error " << error << ", max |exact| " << reference::max_abs(exact));
      CHECK_FALSE(reference::any_nan(actual));
      CHECK(error <= 2e-2 * std::max(1.0, reference::max_abs(exact)));
    };
    check_gradient("dQ", read_head(dq, seqlen_q, head), grads.dq);
    check_gradient("dK", read_head(dk, seqlen_k, head), grads.dk);
    check_gradient("dV", read_head(dv, seqlen_k, head), grads.dv);
  }
}

}  // namespace

// Hidden ("[.large]"): the fuzzer's own run leaves it out; CTest runs it as gpu.large_index.
TEST_CASE("64-bit indexing: tensors of more than 2^31 elements, forward and backward", "[.large]") {
  if (!built_for_this_gpu())
    SKIP("built for other architectures than this GPU's (ATTNKIT_RUN_ARCHITECTURES)");
  std::size_t free_bytes = 0, total_bytes = 0;
  ATTNKIT_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  if (free_bytes < (std::size_t(30) << 30)) SKIP("needs about 30 GB of free GPU memory, " << (free_bytes >> 30) << " GB free");
  constexpr int kLong = 131136, kShort = 64;  // 131136 · 128 · 128 = 2^31 + 2^20
  static_assert(int64_t(kLong) * kHeads * kHeadDim > (int64_t(1) << 31), "the long side must pass 2^31 elements");
  run_case(kShort, kLong);
  run_case(kLong, kShort);
}
