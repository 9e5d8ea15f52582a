// Tests reference/standard_attention.cuh: the fp32 standard attention against the float64 CPU
// reference (forward O and LSE, backward dQ, dK, dV), and the bf16 / fp16 ones within their
// precision.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include <catch2/catch_test_macros.hpp>

#include "attnkit/mask/softcap.cuh"
#include "attnkit/reference/cpu_attention.cuh"
#include "attnkit/reference/host_tensor.cuh"
#include "attnkit/reference/standard_attention.cuh"
#include "support/device_array.cuh"

namespace {

using attnkit::AttentionProblem;
using attnkit::BandMask;
using attnkit::bfloat16_t;
using attnkit::MaskAlignment;
using attnkit::TensorRef;
namespace ref = attnkit::reference;
using attnkit::testing::DeviceArray;
using attnkit::testing::round_to_elements;
using attnkit::testing::to_doubles;

// Drops a scattered third of the scores, so rows see holes that no band produces.
struct DropEveryThird : attnkit::VariantBase {
  static constexpr bool has_mask_mod = true;
  ATTNKIT_HOST_DEVICE bool mask_mod(int batch, int head, int q, int k) const {
    return (q + 2 * k + batch + head) % 3 != 0;
  }
};

// max |actual - expected| / max |expected| over the finite entries of expected; infinite
// entries (rows the mask empties) must match exactly, or the error is +inf.
double lse_relative_error(const std::vector<double>& actual, const std::vector<double>& expected) {
  double largest = 0.0, diff = 0.0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    if (std::isinf(expected[i])) {
      if (actual[i] != expected[i]) return std::numeric_limits<double>::infinity();
      continue;
    }
    largest = std::fmax(largest, std::fabs(expected[i]));
    const double d = std::fabs(actual[i] - expected[i]);
    if (std::isnan(d)) return std::numeric_limits<double>::quiet_NaN();
    diff = std::fmax(diff, d);
  }
  return largest > 0.0 ? diff / largest : diff;
}

uint64_t case_seed(const std::string& name) {
  uint64_t hash = 1469598103934665603ull;  // FNV-1a: a fixed, distinct seed per case
  for (const char c : name) hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return hash;
}

struct Case {
  std::string name;
  ref::Shape shape;
  bool varlen = false;
  std::size_t workspace_budget = ref::StandardAttention<float>::kDefaultWorkspaceBudget;
};

Case dense_case(std::string name, int batch, int heads_q, int heads_kv, int seqlen_q, int seqlen_k, int head_dim,
                BandMask band = BandMask::none()) {
  return {std::move(name), ref::Shape::dense(batch, heads_q, heads_kv, seqlen_q, seqlen_k, head_dim, band)};
}

// Runs forward and backward of StandardAttention<Element> and of the CPU reference on the same
// random inputs, and checks every output was written and lies within `tolerance` (relative).
template <class Element, class Variant = attnkit::NoVariant>
void check_against_cpu(const Case& test, double tolerance, const Variant& variant = {}) {
  const ref::Shape& shape = test.shape;
  const char* element_name = "fp32";
  if constexpr (!std::is_same_v<Element, float>) element_name = attnkit::ElementTraits<Element>::name;
  INFO("case: " << test.name << " (" << element_name << ")");
  const uint64_t seed = case_seed(test.name);
  std::vector<double> q = ref::random_normal(shape.q_size(), seed);
  std::vector<double> k = ref::random_normal(shape.kv_size(), seed + 1);
  std::vector<double> v = ref::random_normal(shape.kv_size(), seed + 2);
  std::vector<double> d_out = ref::random_normal(shape.q_size(), seed + 3);

  DeviceArray<Element> q_dev(shape.q_size()), k_dev(shape.kv_size()), v_dev(shape.kv_size());
  DeviceArray<Element> o_dev(shape.q_size()), d_out_dev(shape.q_size());
  DeviceArray<Element> dq_dev(shape.q_size()), dk_dev(shape.kv_size()), dv_dev(shape.kv_size());
  DeviceArray<float> lse_dev(shape.lse_size());
  q_dev.upload(round_to_elements<Element>(q));
  k_dev.upload(round_to_elements<Element>(k));
  v_dev.upload(round_to_elements<Element>(v));
  d_out_dev.upload(round_to_elements<Element>(d_out));

  int max_seqlen_q = 0, max_seqlen_k = 0;
  for (int b = 0; b < shape.batch; ++b) {
    max_seqlen_q = std::max(max_seqlen_q, shape.seqlen_q(b));
    max_seqlen_k = std::max(max_seqlen_k, shape.seqlen_k(b));
  }
  attnkit::DType dtype = attnkit::DType::bf16;  // ignored by StandardAttention<float>
  if constexpr (!std::is_same_v<Element, float>) dtype = attnkit::ElementTraits<Element>::dtype;
  AttentionProblem problem = attnkit::make_bshd_problem(
      dtype, shape.batch, shape.heads_q, shape.heads_kv, max_seqlen_q, max_seqlen_k, shape.head_dim,
      q_dev.get(), k_dev.get(), v_dev.get(), o_dev.get(), lse_dev.get());
  problem.band = shape.band;
  // The CPU reference lays LSE out (heads_q, total_q); a dense batch is then rows b·s_q + i.
  problem.lse_head_stride = shape.total_q();
  problem.lse_batch_stride = max_seqlen_q;
  DeviceArray<int> cu_q(shape.batch + 1), cu_k(shape.batch + 1);
  if (test.varlen) {
    cu_q.upload(shape.cu_seqlens_q());
    cu_k.upload(shape.cu_seqlens_k());
    problem.cu_seqlens_q = cu_q.get();
    problem.cu_seqlens_k = cu_k.get();
  }
  // Gradients share the layouts of their tensors.
  TensorRef d_out_ref = problem.o, d_q = problem.q, d_k = problem.k, d_v = problem.v;
  d_out_ref.data = d_out_dev.get();
  d_q.data = dq_dev.get();
  d_k.data = dk_dev.get();
  d_v.data = dv_dev.get();

  ref::StandardAttention<Element> attention(test.workspace_budget);
  attention.forward(problem, nullptr, variant);
  attention.backward(problem, d_out_ref, d_q, d_k, d_v, nullptr, variant);
  ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());

  const ref::ForwardResult expected = ref::forward(shape, q, k, v, variant);
  const ref::BackwardResult expected_grads = ref::backward(shape, q, k, v, d_out, variant);

  const std::vector<double> o = to_doubles(o_dev.download());
  const std::vector<double> lse = to_doubles(lse_dev.download());
  const std::vector<double> dq = to_doubles(dq_dev.download());
  const std::vector<double> dk = to_doubles(dk_dev.download());
  const std::vector<double> dv = to_doubles(dv_dev.download());
  CHECK_FALSE(ref::any_nan(o));
  CHECK_FALSE(ref::any_nan(lse));
  CHECK_FALSE(ref::any_nan(dq));
  CHECK_FALSE(ref::any_nan(dk));
  CHECK_FALSE(ref::any_nan(dv));

  const double o_error = ref::relative_error(o, expected.o);
  const double lse_error = lse_relative_error(lse, expected.lse);
  const double dq_error = ref::relative_error(dq, expected_grads.dq);
  const double dk_error = ref::relative_error(dk, expected_grads.dk);
  const double dv_error = ref::relative_error(dv, expected_grads.dv);
  CAPTURE(o_error, lse_error, dq_error, dk_error, dv_error, tolerance);
  CHECK(o_error < tolerance);
  CHECK(lse_error < tolerance);
  CHECK(dq_error < tolerance);
  CHECK(dk_error < tolerance);
  CHECK(dv_error < tolerance);
}

constexpr double kFp32Tolerance = 1e-4;
constexpr double kBf16Tolerance = 2e-2;
constexpr double kFp16Tolerance = 5e-3;  // 3 more mantissa bits than bf16
constexpr BandMask kCausalTopLeft = BandMask::causal(MaskAlignment::top_left);
constexpr BandMask kCausalBottomRight = BandMask::causal(MaskAlignment::bottom_right);

}  // namespace

TEST_CASE("fp32 standard attention matches the float64 reference without a mask", "[reference][standard]") {
  for (const int head_dim : {32, 64, 128})
    check_against_cpu<float>(dense_case("full d" + std::to_string(head_dim), 2, 3, 3, 129, 129, head_dim),
                             kFp32Tolerance);
  check_against_cpu<float>(dense_case("full sq != sk", 2, 2, 2, 17, 129, 64), kFp32Tolerance);
  check_against_cpu<float>(dense_case("full seqlen 1", 3, 2, 2, 1, 1, 32), kFp32Tolerance);
}

TEST_CASE("fp32 standard attention matches the float64 reference with causal masks", "[reference][standard]") {
  check_against_cpu<float>(dense_case("causal square", 2, 2, 2, 129, 129, 64, kCausalBottomRight), kFp32Tolerance);
  check_against_cpu<float>(dense_case("causal top-left sq < sk", 2, 2, 2, 17, 129, 64, kCausalTopLeft),
                           kFp32Tolerance);
  check_against_cpu<float>(dense_case("causal top-left sq > sk", 2, 2, 2, 129, 17, 32, kCausalTopLeft),
                           kFp32Tolerance);
  check_against_cpu<float>(dense_case("causal bottom-right sq < sk", 2, 2, 2, 17, 129, 128, kCausalBottomRight),
                           kFp32Tolerance);
  // s_q > s_k bottom-right: the first s_q - s_k rows keep no key (O = 0, LSE = -inf).
  check_against_cpu<float>(dense_case("causal bottom-right sq > sk", 2, 2, 2, 129, 17, 64, kCausalBottomRight),
                           kFp32Tolerance);
  check_against_cpu<float>(dense_case("causal seqlen 1 query", 2, 2, 2, 1, 129, 64, kCausalBottomRight),
                           kFp32Tolerance);
}

TEST_CASE("fp32 standard attention matches the float64 reference with sliding windows", "[reference][standard]") {
  check_against_cpu<float>(dense_case("window (8, 4)", 2, 2, 2, 129, 129, 64, BandMask::window(8, 4)),
                           kFp32Tolerance);
  check_against_cpu<float>(
      dense_case("window (16, 0) top-left sq > sk", 1, 2, 2, 129, 17, 32,
                 BandMask::window(16, 0, MaskAlignment::top_left)),
      kFp32Tolerance);
  check_against_cpu<float>(dense_case("window (3, 5) bottom-right sq < sk", 1, 2, 2, 17, 129, 128,
                                      BandMask::window(3, 5, MaskAlignment::bottom_right)),
                           kFp32Tolerance);
}

TEST_CASE("fp32 standard attention matches the float64 reference with GQA", "[reference][standard]") {
  check_against_cpu<float>(dense_case("gqa 4/2", 2, 4, 2, 129, 129, 64), kFp32Tolerance);
  check_against_cpu<float>(dense_case("gqa 4/2 causal", 2, 4, 2, 17, 129, 128, kCausalBottomRight),
                           kFp32Tolerance);
  check_against_cpu<float>(dense_case("mqa 4/1", 1, 4, 1, 129, 17, 32), kFp32Tolerance);
}

TEST_CASE("fp32 standard attention gives the same result when split into head chunks", "[reference][standard]") {
  // A 1-byte budget runs one head per chunk, splitting every GQA group across chunks.
  Case one_head = dense_case("gqa 4/2, one head per chunk", 2, 4, 2, 129, 129, 64, kCausalBottomRight);
  one_head.workspace_budget = 1;
  check_against_cpu<float>(one_head, kFp32Tolerance);
  // Two heads per backward chunk against groups of three: chunks start mid-group.
  Case two_heads = dense_case("gqa 6/2, two heads per chunk", 1, 6, 2, 65, 33, 32);
  const auto aligned = [](std::size_t bytes) { return (bytes + 255) / 256 * 256; };
  two_heads.workspace_budget = 2 * (2 * aligned(65 * 33 * sizeof(float)) + aligned(65 * sizeof(float)));
  check_against_cpu<float>(two_heads, kFp32Tolerance);
}

TEST_CASE("fp32 standard attention matches the float64 reference on varlen batches", "[reference][standard]") {
  Case varlen{"varlen causal", ref::Shape::varlen(4, 2, 64, {17, 1, 129}, {129, 17, 1}, kCausalBottomRight), true};
  check_against_cpu<float>(varlen, kFp32Tolerance);
  Case varlen_full{"varlen full", ref::Shape::varlen(2, 2, 32, {5, 129}, {33, 64}), true};
  check_against_cpu<float>(varlen_full, kFp32Tolerance);
}

TEST_CASE("fp32 standard attention applies the variant's score_mod and mask_mod", "[reference][standard]") {
  attnkit::SoftCap soft_cap;
  soft_cap.cap = 2.f;  // low enough that tanh bends the N(0, 1) scores of this test
  check_against_cpu<float>(dense_case("softcap", 2, 2, 2, 129, 129, 64, kCausalBottomRight), kFp32Tolerance,
                           soft_cap);
  check_against_cpu<float>(dense_case("mask_mod", 2, 4, 2, 17, 129, 32, kCausalTopLeft), kFp32Tolerance,
                           DropEveryThird{});
}

TEST_CASE("bf16 standard attention is within bf16 accuracy of the float64 reference", "[reference][standard]") {
  check_against_cpu<bfloat16_t>(dense_case("bf16 full", 2, 2, 2, 129, 129, 64), kBf16Tolerance);
  check_against_cpu<bfloat16_t>(dense_case("bf16 gqa causal", 2, 4, 2, 129, 17, 128, kCausalBottomRight),
                                kBf16Tolerance);
  check_against_cpu<bfloat16_t>(dense_case("bf16 window d32", 1, 2, 2, 17, 129, 32, BandMask::window(8, 8)),
                                kBf16Tolerance);
}

TEST_CASE("fp16 standard attention is within fp16 accuracy of the float64 reference", "[reference][standard]") {
  check_against_cpu<attnkit::half_t>(dense_case("fp16 causal", 2, 2, 2, 129, 129, 64, kCausalBottomRight),
                                     kFp16Tolerance);
  check_against_cpu<attnkit::half_t>(dense_case("fp16 gqa", 1, 4, 2, 17, 129, 128), kFp16Tolerance);
}

TEST_CASE("standard attention rejects bad problems with a message naming the value", "[reference][standard]") {
  ref::StandardAttention<bfloat16_t> attention;
  AttentionProblem problem = attnkit::make_bshd_problem(attnkit::DType::bf16, 1, 3, 2, 16, 16, 64,
                                                        reinterpret_cast<void*>(256), reinterpret_cast<void*>(256),
                                                        reinterpret_cast<void*>(256), reinterpret_cast<void*>(256));
  try {
    attention.forward(problem);
    FAIL("heads_q = 3 with heads_kv = 2 was accepted");
  } catch (const attnkit::error& e) {
    CHECK(std::string(e.what()).find("heads_q = 3") != std::string::npos);
  }
  problem.heads_q = 2;
  problem.dtype = attnkit::DType::f16;
  try {
    attention.forward(problem);
    FAIL("an f16 problem was accepted by StandardAttention<bf16>");
  } catch (const attnkit::error& e) {
    CHECK(std::string(e.what()).find("problem.dtype = f16") != std::string::npos);
  }
}
