#pragma once
// Test support: runs an attention backward kernel on random inputs and checks dQ, dK, dV
// against the float64 CPU reference under attnkit's tolerance rule (docs/reference.md, "Which
// oracle for what"):
//   max|dX - dX_ref| <= 2 · max|dX_same_precision - dX_ref| + slack      for X in Q, K, V
// where dX_same_precision comes from a plain same-precision implementation: the GPU standard
// attention in Element (reference/standard_attention.cuh: 16-bit GEMM operands with fp32
// accumulation, S, P, dP and dS stored in Element), the baseline the FlashAttention authors
// compare their backward against. It runs on the very inputs the kernel sees (Q, K, V, dO
// rounded to Element) and computes D from its own 16-bit O, as the kernel does from the
// forward's.
//
// The forward under test runs first and leaves O and LSE on the device for the backward;
// dQ, dK, dV start poisoned (NaN), so every element must be written, including the zero
// gradients of rows the mask empties and of keys no query keeps.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <vector>

#include <catch2/catch_test_macros.hpp>

#include "attnkit/attention/backward_problem.cuh"
#include "attnkit/reference/cpu_attention.cuh"
#include "attnkit/reference/finite_difference.cuh"
#include "attnkit/reference/host_tensor.cuh"
#include "attnkit/reference/standard_attention.cuh"
#include "support/device_array.cuh"
#include "support/forward_check.cuh"
#include "support/tolerance_rule.h"

namespace attnkit::testing {

// Launches the backward under test: `problem` holds the forward's O and LSE.
using BackwardLauncher = std::function<void(const AttentionProblem&, const BackwardGradients&)>;

// `host_variant` is what the CPU reference evaluates, `device_variant` what the standard
// attention baseline runs on the GPU (they differ when the variant points at memory, as ALiBi's
// slopes do); the launchers carry their own.
template <class Element, class HostVariant, class DeviceVariant>
void check_backward(int head_dim, const ForwardCase& c, const ForwardLauncher& forward,
                    const BackwardLauncher& backward, const HostVariant& host_variant,
                    const DeviceVariant& device_variant) {
  const bool varlen = !c.varlen_q.empty();
  reference::Shape shape =
      varlen ? reference::Shape::varlen(c.heads_q, c.heads_kv, head_dim, c.varlen_q, c.varlen_k, c.band)
             : reference::Shape::dense(c.batch, c.heads_q, c.heads_kv, c.seqlen_q, c.seqlen_k, head_dim, c.band);
  INFO("backward, " << c.describe(head_dim, ElementTraits<Element>::name));

  // Inputs in the reference's packed (rows, heads, dim) order, rounded to Element.
  std::vector<double> q = reference::random_normal(shape.q_size(), c.seed, c.input_stddev);
  std::vector<double> k = reference::random_normal(shape.kv_size(), c.seed + 1, c.input_stddev);
  std::vector<double> v = reference::random_normal(shape.kv_size(), c.seed + 2, 1.0);
  std::vector<double> d_out = reference::random_normal(shape.q_size(), c.seed + 3, 1.0);
  const std::vector<Element> q_elements = round_to_elements<Element>(q);
  const std::vector<Element> k_elements = round_to_elements<Element>(k);
  const std::vector<Element> v_elements = round_to_elements<Element>(v);
  const std::vector<Element> d_out_elements = round_to_elements<Element>(d_out);

  // The backward needs the forward's LSE whatever the case says about it.
  ForwardCase with_lse = c;
  with_lse.with_lse = true;
  using Tensors = CaseTensors<Element>;
  using Side = typename Tensors::Side;
  Tensors tensors(with_lse, head_dim, shape, q_elements, k_elements, v_elements);
  const AttentionProblem& problem = tensors.problem;
  DropoutFactors::attach(problem, shape);
  forward(problem);
  ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());

  DeviceArray<Element> d_out_device(tensors.to_layout(d_out_elements, Side::query));
  DeviceArray<Element> dq_device(q_elements.size()), dk_device(k_elements.size()), dv_device(v_elements.size());
  const BackwardGradients grads =
      make_gradients_like(problem, d_out_device.get(), dq_device.get(), dk_device.get(), dv_device.get());
  backward(problem, grads);
  ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());
  const std::vector<double> dq = tensors.to_packed(dq_device.download(), Side::query);
  const std::vector<double> dk = tensors.to_packed(dk_device.download(), Side::key);
  const std::vector<double> dv = tensors.to_packed(dv_device.download(), Side::key);

  // The same-precision baseline, on the same device inputs, with its own O (and no LSE).
  DeviceArray<Element> baseline_o(q_elements.size());
  DeviceArray<Element> baseline_dq(q_elements.size()), baseline_dk(k_elements.size()),
      baseline_dv(v_elements.size());
  AttentionProblem baseline_problem = problem;
  baseline_problem.o.data = baseline_o.get();
  baseline_problem.lse = nullptr;
  const BackwardGradients baseline_grads = make_gradients_like(
      baseline_problem, d_out_device.get(), baseline_dq.get(), baseline_dk.get(), baseline_dv.get());
  {
    reference::StandardAttention<Element> standard;
    standard.forward(baseline_problem, nullptr, device_variant);
    standard.backward(baseline_problem, baseline_grads.d_o, baseline_grads.d_q, baseline_grads.d_k,
                      baseline_grads.d_v, nullptr, device_variant);
    ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());
  }
  const std::vector<double> same_precision_dq = tensors.to_packed(baseline_dq.download(), Side::query);
  const std::vector<double> same_precision_dk = tensors.to_packed(baseline_dk.download(), Side::key);
  const std::vector<double> same_precision_dv = tensors.to_packed(baseline_dv.download(), Side::key);

  const reference::BackwardResult exact = c.finite_difference_oracle
                                             ? reference::finite_difference_backward(shape, q, k, v, d_out, host_variant)
                                             : reference::backward(shape, q, k, v, d_out, host_variant);

  // Slack: 1e-3 · max(1, the largest |dQ_ref|, |dK_ref|, |dV_ref|). It covers what the 2× rule
  // cannot: gradients whose exact value is zero by structure, where both kernels leave noise
  // the baseline measures only roughly (a row that keeps one key has P = 1 and dS = P(dP − D)
  // = 0, but D comes from O rounded to 16 bits, so dP − D is of the order of a bf16 ulp of dP,
  // summed into dK over the rows: its scale is that of the other gradients, not of dK's zero),
  // and fp32 summation-order noise on gradients summed over thousands of rows. At the largest
  // gradient it is under half a bf16 ulp and about one fp16 ulp, so it hides nothing larger
  // than the rounding of the output itself; the floor of 1 keeps it from vanishing for small
  // gradients. The forward check uses the same rule for O.
  const double gradient_scale =
      std::max({1.0, reference::max_abs(exact.dq), reference::max_abs(exact.dk), reference::max_abs(exact.dv)});
  check_tolerance_rule("dQ", dq, same_precision_dq, exact.dq, gradient_scale);
  check_tolerance_rule("dK", dk, same_precision_dk, exact.dk, gradient_scale);
  check_tolerance_rule("dV", dv, same_precision_dv, exact.dv, gradient_scale);
}

// The variant's data is readable on the host and on the device alike (or it has none).
template <class Element, class HostVariant = NoVariant>
void check_backward(int head_dim, const ForwardCase& c, const ForwardLauncher& forward,
                    const BackwardLauncher& backward, const HostVariant& host_variant = {}) {
  check_backward<Element>(head_dim, c, forward, backward, host_variant, host_variant);
}

// A small case checked against central finite differences of the float64 forward instead of
// the reference's analytic backward: causal GQA with dropout, sizes that leave partial tiles.
inline ForwardCase finite_difference_case(uint64_t seed) {
  ForwardCase c;
  c.heads_q = 2;
  c.heads_kv = 1;
  c.seqlen_q = 19;
  c.seqlen_k = 23;
  c.band = BandMask::causal();
  c.dropout = 0.2f;
  c.seed = seed;
  c.finite_difference_oracle = true;
  return c;
}

// Cases for "the same inputs give bitwise the same gradients": many key blocks adding into each
// dQ block (long non-causal rows, GQA), the causal and window orders, and varlen, where entries
// have different numbers of key blocks.
inline std::vector<ForwardCase> repeatability_cases(uint64_t first_seed) {
  ForwardCase wide;
  wide.batch = 2;
  wide.heads_q = 8;
  wide.heads_kv = 2;
  wide.seqlen_q = wide.seqlen_k = 2048;
  wide.seed = first_seed;
  ForwardCase causal = wide;
  causal.band = BandMask::causal();
  causal.seqlen_q = 1500;
  causal.seed = first_seed + 10;
  ForwardCase window = wide;
  window.band = BandMask::window(300, 40);
  window.seed = first_seed + 20;
  ForwardCase varlen;
  varlen.heads_q = 4;
  varlen.heads_kv = 2;
  varlen.varlen_q = {1, 700, 1300, 129};
  varlen.varlen_k = {5, 1024, 900, 300};
  varlen.band = BandMask::causal();
  varlen.seed = first_seed + 30;
  return {wide, causal, window, varlen};
}

// For each case, `make_run(c)` gives a callable returning all the gradients of one backward as
// stored (a std::vector of elements); 5 calls of it must agree bit for bit.
template <class MakeRun>
void check_bitwise_repeatable(int head_dim, const std::vector<ForwardCase>& cases, MakeRun&& make_run) {
  for (const ForwardCase& c : cases) {
    INFO(c.describe(head_dim, "bf16"));
    auto run = make_run(c);
    const auto first = run();
    REQUIRE_FALSE(reference::any_nan(to_doubles(first)));
    for (int repeat = 1; repeat < 5; ++repeat) {
      const auto again = run();
      INFO("run " << repeat + 1);
      CHECK(std::memcmp(first.data(), again.data(), first.size() * sizeof(first[0])) == 0);
    }
  }
}

}  // namespace attnkit::testing
