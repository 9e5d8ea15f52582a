#pragma once
// Test support: runs an attention forward kernel on random inputs and checks it against the
// float64 CPU reference under attnkit's tolerance rule (docs/reference.md, "Which oracle for
// what"):
//   max|O - O_ref| <= 2 · max|O_same_precision - O_ref| + slack
// where O_same_precision is the reference evaluated with 16-bit rounding of S, P and O (what a
// plain bf16/fp16 implementation computes). LSE is compared directly (it is computed in fp32
// from the same inputs). Outputs start poisoned; every valid element must be written.
// CaseTensors, the device side of a case (tensors in its layout, the AttentionProblem), is
// shared with backward_check.cuh.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch_test_macros.hpp>

#include "attnkit/attention/problem.cuh"
#include "attnkit/reference/cpu_attention.cuh"
#include "attnkit/reference/host_tensor.cuh"
#include "support/device_array.cuh"
#include "support/dropout_factors.cuh"
#include "support/tolerance_rule.h"

namespace attnkit::testing {

enum class Layout { bshd, bhsd };

struct ForwardCase {
  int batch = 1;
  int heads_q = 1;
  int heads_kv = 1;
  int seqlen_q = 1;
  int seqlen_k = 1;
  BandMask band = BandMask::none();
  std::vector<int> varlen_q, varlen_k;  // set: varlen with these lengths (batch = their count)
  double input_stddev = 1.0;            // 3 pushes scaled scores to about ±30
  Layout layout = Layout::bshd;
  bool with_lse = true;
  float dropout = 0.f;  // > 0: dropout with this probability, its seed and offset derived from `seed`
  bool finite_difference_oracle = false;  // backward: compare against central differences instead
  uint64_t seed = 1;

  std::string describe(int head_dim, const char* dtype) const {
    std::ostringstream s;
    s << dtype << " d=" << head_dim << " b=" << batch << " hq=" << heads_q << " hkv=" << heads_kv
      << " sq=" << seqlen_q << " sk=" << seqlen_k << " band=(" << band.left << "," << band.right << ","
      << (band.alignment == MaskAlignment::top_left ? "top_left" : "bottom_right") << ")"
      << (varlen_q.empty() ? "" : " varlen") << (layout == Layout::bhsd ? " bhsd" : "")
      << " stddev=" << input_stddev << (dropout > 0.f ? " dropout=" + std::to_string(dropout) : "");
    return s.str();
  }
};

// The block-sparse tests' shape: GQA (4 query heads on 2 KV heads), two batch entries.
inline ForwardCase gqa_case(int seqlen_q, int seqlen_k, uint64_t seed) {
  ForwardCase c;
  c.batch = 2;
  c.heads_q = 4;
  c.heads_kv = 2;
  c.seqlen_q = seqlen_q;
  c.seqlen_k = seqlen_k;
  c.seed = seed;
  return c;
}

// A case's tensors on the device and the AttentionProblem that describes them: Q, K, V
// uploaded in the case's layout (BSHD, or BHSD by transposing the dense data on the host;
// varlen is packed BSHD), O allocated poisoned, LSE allocated when the case asks for it, and
// cu_seqlens for varlen. The forward and backward checks share it, so both see the same strides.
template <class Element>
class CaseTensors {
  // What the layout conversions read; declared first, so it is set before the arrays are made.
  ForwardCase case_;
  int head_dim_;
  reference::Shape shape_;

 public:
  // Which rows and heads a tensor has: Q, O, dO, dQ are query-side; K, V, dK, dV key-side.
  enum class Side { query, key };

  // q, k, v in the reference's packed (rows, heads, head_dim) order.
  CaseTensors(const ForwardCase& c, int head_dim, const reference::Shape& shape, const std::vector<Element>& q,
              const std::vector<Element>& k, const std::vector<Element>& v)
      : case_(c),
        head_dim_(head_dim),
        shape_(shape),
        q_device(to_layout(q, Side::query)),
        k_device(to_layout(k, Side::key)),
        v_device(to_layout(v, Side::key)),
        o_device(q.size()),
        lse_device(static_cast<std::size_t>(c.heads_q) * shape.total_q()),
        cu_q_device(shape.cu_seqlens_q()),
        cu_k_device(shape.cu_seqlens_k()) {
    const bool varlen = !c.varlen_q.empty();
    problem.dtype = ElementTraits<Element>::dtype;
    problem.batch = shape.batch;
    problem.heads_q = c.heads_q;
    problem.heads_kv = c.heads_kv;
    problem.head_dim = head_dim;
    problem.band = c.band;
    if (c.dropout > 0.f) problem.dropout = {c.dropout, c.seed * 0x9E3779B97F4A7C15ull, static_cast<uint32_t>(c.seed)};
    if (varlen) {
      problem.seqlen_q = *std::max_element(c.varlen_q.begin(), c.varlen_q.end());
      problem.seqlen_k = *std::max_element(c.varlen_k.begin(), c.varlen_k.end());
      problem.cu_seqlens_q = cu_q_device.get();
      problem.cu_seqlens_k = cu_k_device.get();
      problem.total_q = static_cast<int>(shape.total_q());
      problem.total_k = static_cast<int>(shape.total_k());
    } else {
      problem.seqlen_q = c.seqlen_q;
      problem.seqlen_k = c.seqlen_k;
    }
    problem.q = tensor(q_device.get(), Side::query);
    problem.k = tensor(k_device.get(), Side::key);
    problem.v = tensor(v_device.get(), Side::key);
    problem.o = tensor(o_device.get(), Side::query);
    if (c.with_lse) {
      problem.lse = lse_device.get();
      // (heads_q, total_q) for varlen; for dense the same memory read as (batch, heads, seqlen)
      problem.lse_head_stride = varlen ? shape.total_q() : c.seqlen_q;
      problem.lse_batch_stride = int64_t(c.heads_q) * c.seqlen_q;
    }
  }

  DeviceArray<Element> q_device, k_device, v_device, o_device;
  DeviceArray<float> lse_device;
  DeviceArray<int> cu_q_device, cu_k_device;
  AttentionProblem problem;

  // `data` seen with the strides of the case's layout.
  TensorRef tensor(void* data, Side side) const {
    const int seqlen = side == Side::query ? case_.seqlen_q : case_.seqlen_k;
    const int heads = side == Side::query ? case_.heads_q : case_.heads_kv;
    TensorRef t;
    t.data = data;
    if (case_.layout == Layout::bshd) {
      t.head_stride = head_dim_;
      t.row_stride = int64_t(heads) * head_dim_;
      t.batch_stride = int64_t(seqlen) * t.row_stride;
    } else {
      t.row_stride = head_dim_;
      t.head_stride = int64_t(seqlen) * head_dim_;
      t.batch_stride = int64_t(heads) * t.head_stride;
    }
    return t;
  }

  // Packed (rows, heads, head_dim) order to the case's layout.
  std::vector<Element> to_layout(const std::vector<Element>& packed, Side side) const {
    if (case_.layout == Layout::bshd) return packed;
    const int seqlen = side == Side::query ? case_.seqlen_q : case_.seqlen_k;
    const int heads = side == Side::query ? case_.heads_q : case_.heads_kv;
    std::vector<Element> bhsd(packed.size());
    for (int b = 0; b < shape_.batch; ++b)
      for (int s = 0; s < seqlen; ++s)
        for (int h = 0; h < heads; ++h)
          for (int d = 0; d < head_dim_; ++d)
            bhsd[((int64_t(b) * heads + h) * seqlen + s) * head_dim_ + d] =
                packed[((int64_t(b) * seqlen + s) * heads + h) * head_dim_ + d];
    return bhsd;
  }

  // The case's layout back to the reference's packed order, in float64.
  std::vector<double> to_packed(const std::vector<Element>& stored, Side side) const {
    const bool query = side == Side::query;
    const int heads = query ? case_.heads_q : case_.heads_kv;
    const int dense_seqlen = query ? case_.seqlen_q : case_.seqlen_k;
    std::vector<double> packed(stored.size());
    for (int b = 0; b < shape_.batch; ++b) {
      const int64_t row0 = query ? shape_.offset_q(b) : shape_.offset_k(b);
      const int seqlen = query ? shape_.seqlen_q(b) : shape_.seqlen_k(b);
      for (int s = 0; s < seqlen; ++s)
        for (int h = 0; h < heads; ++h)
          for (int d = 0; d < head_dim_; ++d) {
            const int64_t index = ((row0 + s) * heads + h) * head_dim_ + d;
            const int64_t at = case_.layout == Layout::bshd
                                   ? index
                                   : ((int64_t(b) * heads + h) * dense_seqlen + s) * head_dim_ + d;
            packed[index] = to_double(stored[at]);
          }
    }
    return packed;
  }
};

// Launches the kernel under test.
using ForwardLauncher = std::function<void(const AttentionProblem&)>;

template <class Element, class HostVariant = NoVariant>
void check_forward(int head_dim, const ForwardCase& c, const ForwardLauncher& launch,
                   const HostVariant& host_variant = {}) {
  const bool varlen = !c.varlen_q.empty();
  reference::Shape shape =
      varlen ? reference::Shape::varlen(c.heads_q, c.heads_kv, head_dim, c.varlen_q, c.varlen_k, c.band)
             : reference::Shape::dense(c.batch, c.heads_q, c.heads_kv, c.seqlen_q, c.seqlen_k, head_dim, c.band);
  const int batch = shape.batch;
  const int64_t total_q = shape.total_q(), total_k = shape.total_k();
  INFO(c.describe(head_dim, ElementTraits<Element>::name));

  // Inputs in the reference's packed (rows, heads, dim) order, rounded to Element.
  std::vector<double> q = reference::random_normal(total_q * c.heads_q * head_dim, c.seed, c.input_stddev);
  std::vector<double> k = reference::random_normal(total_k * c.heads_kv * head_dim, c.seed + 1, c.input_stddev);
  std::vector<double> v = reference::random_normal(total_k * c.heads_kv * head_dim, c.seed + 2, 1.0);
  const std::vector<Element> q_elements = round_to_elements<Element>(q);
  const std::vector<Element> k_elements = round_to_elements<Element>(k);
  const std::vector<Element> v_elements = round_to_elements<Element>(v);

  using Tensors = CaseTensors<Element>;
  Tensors tensors(c, head_dim, shape, q_elements, k_elements, v_elements);
  DropoutFactors::attach(tensors.problem, shape);
  launch(tensors.problem);
  ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());
  const std::vector<double> o = tensors.to_packed(tensors.o_device.download(), Tensors::Side::query);

  const reference::ForwardResult exact = reference::forward(shape, q, k, v, host_variant);
  const reference::ForwardResult rounded =
      reference::forward(shape, q, k, v, host_variant, reference::RoundedLike<Element>{});

  check_tolerance_rule("O", o, rounded.o, exact.o);

  if (c.with_lse) {
    const std::vector<float> lse_raw = tensors.lse_device.download();
    double lse_error = 0.0;
    int64_t mismatched_infinities = 0;
    for (int b = 0; b < batch; ++b)
      for (int h = 0; h < c.heads_q; ++h)
        for (int s = 0; s < shape.seqlen_q(b); ++s) {
          const double expected = exact.lse[h * total_q + shape.offset_q(b) + s];
          const int64_t stored = varlen ? h * total_q + shape.offset_q(b) + s
                                        : (int64_t(b) * c.heads_q + h) * c.seqlen_q + s;
          const double actual = lse_raw[stored];
          if (std::isinf(expected) || std::isinf(actual) || std::isnan(actual)) {
            if (!(std::isinf(expected) && std::isinf(actual) && (expected < 0) == (actual < 0)))
              ++mismatched_infinities;
          } else {
            lse_error = std::max(lse_error, std::abs(actual - expected) / std::max(1.0, std::abs(expected)));
          }
        }
    INFO("max relative LSE error = " << lse_error << ", rows with -inf/NaN mismatch = " << mismatched_infinities);
    CHECK(mismatched_infinities == 0);
    CHECK(lse_error <= 1e-4);
  }
}

}  // namespace attnkit::testing
