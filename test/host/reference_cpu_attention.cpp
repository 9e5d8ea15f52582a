// Tests of reference/cpu_attention.cuh: the float64 oracle itself must be right before any
// kernel is judged against it. Hand-computed cases pin the definitions (softmax weights,
// mask alignment, empty rows); identities pin GQA and varlen; central finite differences of
// L = Σ O ∘ dO pin every gradient, with and without variants; a plain whole-matrix rendering
// of the definitions checks the blocked, threaded code on sizes spanning many blocks.

#include <catch2/catch_approx.hpp>
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "attnkit/mask/alibi.cuh"
#include "attnkit/mask/softcap.cuh"
#include "attnkit/reference/finite_difference.cuh"
#include "attnkit/reference/cpu_attention.cuh"
#include "attnkit/reference/host_tensor.cuh"

using namespace attnkit;
using namespace attnkit::reference;
using Catch::Approx;
using Catch::Matchers::ContainsSubstring;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Drops every odd key, once through mask_mod and once by a score_mod returning -inf: the
// reference must treat both as "not kept".
struct EvenKeysByMask : VariantBase {
  static constexpr bool has_mask_mod = true;
  bool mask_mod(int, int, int, int k) const { return k % 2 == 0; }
};
struct EvenKeysByScore : VariantBase {
  static constexpr bool has_score_mod = true;
  template <class T>
  T score_mod(T score, int, int, int, int k) const {
    return k % 2 == 0 ? score : -std::numeric_limits<T>::infinity();
  }
};

struct Inputs {
  std::vector<double> q, k, v, d_out;
};

Inputs random_inputs(const Shape& shape, uint64_t seed, double q_stddev = 1.0) {
  return {random_normal(shape.q_size(), seed, q_stddev), random_normal(shape.kv_size(), seed + 1),
          random_normal(shape.kv_size(), seed + 2), random_normal(shape.q_size(), seed + 3)};
}

// Rows [offset, offset + length) of a packed tensor with `row_size` elements per row.
std::vector<double> rows_of(const std::vector<double>& tensor, int64_t offset, int length, int row_size) {
  return {tensor.begin() + offset * row_size, tensor.begin() + (offset + length) * row_size};
}

// Central differences of L = Σ O ∘ dO against backward(), for dQ, dK and dV.
template <class Variant>
void check_gradients_against_finite_differences(const Shape& shape, const Variant& variant, uint64_t seed,
                                                double q_stddev = 1.0) {
  Inputs in = random_inputs(shape, seed, q_stddev);
  const BackwardResult analytic = backward(shape, in.q, in.k, in.v, in.d_out, variant);

  const BackwardResult numeric = finite_difference_backward(shape, in.q, in.k, in.v, in.d_out, variant);
  const std::vector<double>& dq = numeric.dq;
  const std::vector<double>& dk = numeric.dk;
  const std::vector<double>& dv = numeric.dv;
  REQUIRE(max_abs(dq) > 0.0);
  REQUIRE(max_abs(dk) > 0.0);
  REQUIRE(max_abs(dv) > 0.0);
  CHECK(relative_error(analytic.dq, dq) < 1e-8);
  CHECK(relative_error(analytic.dk, dk) < 1e-8);
  CHECK(relative_error(analytic.dv, dv) < 1e-8);
}

// The definitions written out plainly, one (entry, head) at a time with whole S and P matrices:
// an independent check of the blocked, threaded code on sizes spanning several row blocks.
template <class Variant>
void naive_attention(const Shape& shape, const Inputs& in, const Variant& unbound_variant, ForwardResult& fwd,
                     BackwardResult& bwd) {
  const int d_head = shape.head_dim;
  fwd.o.assign(shape.q_size(), 0.0);
  fwd.lse.assign(shape.lse_size(), 0.0);
  bwd.dq.assign(shape.q_size(), 0.0);
  bwd.dk.assign(shape.kv_size(), 0.0);
  bwd.dv.assign(shape.kv_size(), 0.0);
  for (int b = 0; b < shape.batch; ++b)
    for (int h = 0; h < shape.heads_q; ++h) {
      const int sq = shape.seqlen_q(b), sk = shape.seqlen_k(b), hk = shape.kv_head(h);
      const Variant variant = variant_for_sequence(unbound_variant, sq, sk);
      auto q = [&](int i, int d) { return in.q[shape.q_index(b, i, h, d)]; };
      auto k = [&](int j, int d) { return in.k[shape.kv_index(b, j, hk, d)]; };
      auto v = [&](int j, int d) { return in.v[shape.kv_index(b, j, hk, d)]; };
      auto d_out = [&](int i, int d) { return in.d_out[shape.q_index(b, i, h, d)]; };
      std::vector<std::vector<double>> scaled(sq, std::vector<double>(sk)), S = scaled, P = scaled;
      for (int i = 0; i < sq; ++i) {
        for (int j = 0; j < sk; ++j) {
          double dot = 0.0;
          for (int d = 0; d < d_head; ++d) dot += q(i, d) * k(j, d);
          scaled[i][j] = dot * shape.scale();
          const bool kept = shape.band.keep(i, j, sq, sk) && (!Variant::has_mask_mod || variant.mask_mod(b, h, i, j));
          S[i][j] = !kept ? -kInf : Variant::has_score_mod ? variant.score_mod(scaled[i][j], b, h, i, j) : scaled[i][j];
        }
        double row_max = -kInf, row_sum = 0.0;
        for (int j = 0; j < sk; ++j) row_max = std::max(row_max, S[i][j]);
        if (row_max == -kInf) {
          fwd.lse[shape.lse_index(b, h, i)] = -kInf;
          continue;  // P row stays 0
        }
        for (int j = 0; j < sk; ++j) row_sum += std::exp(S[i][j] - row_max);
        fwd.lse[shape.lse_index(b, h, i)] = row_max + std::log(row_sum);
        for (int j = 0; j < sk; ++j) P[i][j] = std::exp(S[i][j] - row_max) / row_sum;
        for (int d = 0; d < d_head; ++d)
          for (int j = 0; j < sk; ++j) fwd.o[shape.q_index(b, i, h, d)] += P[i][j] * v(j, d);
      }
      for (int i = 0; i < sq; ++i) {
        double delta = 0.0;
        for (int d = 0; d < d_head; ++d) delta += d_out(i, d) * fwd.o[shape.q_index(b, i, h, d)];
        for (int j = 0; j < sk; ++j) {
          if (P[i][j] == 0.0) continue;
          double dp = 0.0;
          for (int d = 0; d < d_head; ++d) dp += d_out(i, d) * v(j, d);
          double ds = P[i][j] * (dp - delta) * shape.scale();
          if (Variant::has_score_mod) ds *= variant.score_mod_grad(scaled[i][j], b, h, i, j);
          for (int d = 0; d < d_head; ++d) {
            bwd.dq[shape.q_index(b, i, h, d)] += ds * k(j, d);
            bwd.dk[shape.kv_index(b, j, hk, d)] += ds * q(i, d);
            bwd.dv[shape.kv_index(b, j, hk, d)] += P[i][j] * d_out(i, d);
          }
        }
      }
    }
}

template <class Variant>
void check_against_naive(const Shape& shape, const Variant& variant, uint64_t seed) {
  const Inputs in = random_inputs(shape, seed);
  ForwardResult expected_fwd;
  BackwardResult expected_bwd;
  naive_attention(shape, in, variant, expected_fwd, expected_bwd);
  const ForwardResult fwd = forward(shape, in.q, in.k, in.v, variant);
  const BackwardResult bwd = backward(shape, in.q, in.k, in.v, in.d_out, variant);
  CHECK(relative_error(fwd.o, expected_fwd.o) < 1e-13);
  CHECK(max_abs_diff(fwd.lse, expected_fwd.lse) < 1e-12);
  CHECK(relative_error(bwd.dq, expected_bwd.dq) < 1e-13);
  CHECK(relative_error(bwd.dk, expected_bwd.dk) < 1e-13);
  CHECK(relative_error(bwd.dv, expected_bwd.dv) < 1e-13);
}

}  // namespace

TEST_CASE("a single key gives O = V and LSE = its score", "[reference]") {
  const Shape shape = Shape::dense(2, 2, 2, 3, 1, 4);
  const Inputs in = random_inputs(shape, 11);
  const ForwardResult result = forward(shape, in.q, in.k, in.v);
  for (int b = 0; b < 2; ++b)
    for (int h = 0; h < 2; ++h)
      for (int i = 0; i < 3; ++i) {
        double score = 0.0;
        for (int d = 0; d < 4; ++d) {
          CHECK(result.o[shape.q_index(b, i, h, d)] == Approx(in.v[shape.kv_index(b, 0, h, d)]).margin(1e-15));
          score += in.q[shape.q_index(b, i, h, d)] * in.k[shape.kv_index(b, 0, h, d)];
        }
        CHECK(result.lse[shape.lse_index(b, h, i)] == Approx(score * 0.5).margin(1e-14));  // scale 1/sqrt(4)
      }
}

TEST_CASE("two keys with scores 0 and ln 3 weigh 1/4 and 3/4", "[reference]") {
  const Shape shape = Shape::dense(1, 1, 1, 1, 2, 1, BandMask::none(), 1.0);
  const ForwardResult result = forward(shape, {1.0}, {0.0, std::log(3.0)}, {1.0, 5.0});
  CHECK(result.o[0] == Approx(0.25 * 1.0 + 0.75 * 5.0).epsilon(1e-14));
  CHECK(result.lse[0] == Approx(std::log(4.0)).epsilon(1e-14));
}

TEST_CASE("the softmax scale defaults to 1/sqrt(head_dim) and an explicit one is used as given", "[reference]") {
  CHECK(Shape::dense(1, 1, 1, 1, 1, 16).scale() == 0.25);
  CHECK(Shape::dense(1, 1, 1, 1, 1, 16, BandMask::none(), 0.7).scale() == 0.7);
  // d = 1, q = 2, keys 0 and 1, scale 0.5: scores 0 and 1.
  const Shape shape = Shape::dense(1, 1, 1, 1, 2, 1, BandMask::none(), 0.5);
  const ForwardResult result = forward(shape, {2.0}, {0.0, 1.0}, {0.0, 1.0});
  CHECK(result.o[0] == Approx(std::exp(1.0) / (1.0 + std::exp(1.0))).epsilon(1e-14));
}

TEST_CASE("causal masking aligns top-left or bottom-right when s_q != s_k", "[reference]") {
  // s_q = 2, s_k = 3, all scores 0, so each row averages the values it keeps.
  //   top-left:     row 0 keeps key 0,        row 1 keeps keys 0, 1
  //   bottom-right: row 0 keeps keys 0, 1,    row 1 keeps keys 0, 1, 2
  const std::vector<double> q = {0.0, 0.0}, k = {1.0, 2.0, 3.0}, v = {1.0, 10.0, 100.0};

  const ForwardResult top_left =
      forward(Shape::dense(1, 1, 1, 2, 3, 1, BandMask::causal(MaskAlignment::top_left)), q, k, v);
  CHECK(top_left.o[0] == Approx(1.0).epsilon(1e-15));
  CHECK(top_left.o[1] == Approx(5.5).epsilon(1e-15));
  CHECK(top_left.lse[0] == Approx(0.0).margin(1e-15));
  CHECK(top_left.lse[1] == Approx(std::log(2.0)).epsilon(1e-15));

  const ForwardResult bottom_right =
      forward(Shape::dense(1, 1, 1, 2, 3, 1, BandMask::causal(MaskAlignment::bottom_right)), q, k, v);
  CHECK(bottom_right.o[0] == Approx(5.5).epsilon(1e-15));
  CHECK(bottom_right.o[1] == Approx(37.0).epsilon(1e-15));
  CHECK(bottom_right.lse[0] == Approx(std::log(2.0)).epsilon(1e-15));
  CHECK(bottom_right.lse[1] == Approx(std::log(3.0)).epsilon(1e-15));
}

TEST_CASE("a sliding window keeps keys within [diag - left, diag + right]", "[reference]") {
  // s_q = s_k = 4, window (1, 0): row i averages keys i-1 and i; values are 1, 10, 100, 1000.
  const Shape shape = Shape::dense(1, 1, 1, 4, 4, 1, BandMask::window(1, 0));
  const ForwardResult result = forward(shape, std::vector<double>(4, 0.0), std::vector<double>(4, 0.0),
                                       {1.0, 10.0, 100.0, 1000.0});
  CHECK(result.o[0] == Approx(1.0).epsilon(1e-15));
  CHECK(result.o[1] == Approx(5.5).epsilon(1e-15));
  CHECK(result.o[2] == Approx(55.0).epsilon(1e-15));
  CHECK(result.o[3] == Approx(550.0).epsilon(1e-15));
}

TEST_CASE("a row that keeps no key has O = 0, LSE = -inf and no gradient", "[reference]") {
  // Bottom-right causal with s_q = 5 > s_k = 3: rows 0 and 1 lie before every key.
  // Top-left diagonal window (0, 0) with s_q = 5 > s_k = 3: rows 3 and 4 lie past every key.
  const BandMask masks[] = {BandMask::causal(MaskAlignment::bottom_right),
                            BandMask::window(0, 0, MaskAlignment::top_left)};
  const std::vector<int> empty_rows[] = {{0, 1}, {3, 4}};
  for (int m = 0; m < 2; ++m) {
    const Shape shape = Shape::dense(2, 2, 1, 5, 3, 8, masks[m]);
    const Inputs in = random_inputs(shape, 20 + m);
    const ForwardResult fwd = forward(shape, in.q, in.k, in.v);
    const BackwardResult bwd = backward(shape, in.q, in.k, in.v, in.d_out);
    CHECK_FALSE(any_nan(fwd.o));
    CHECK_FALSE(any_nan(fwd.lse));
    CHECK_FALSE(any_nan(bwd.dq));
    CHECK_FALSE(any_nan(bwd.dk));
    CHECK_FALSE(any_nan(bwd.dv));
    for (int b = 0; b < 2; ++b)
      for (int h = 0; h < 2; ++h)
        for (int i = 0; i < 5; ++i) {
          const bool empty = i == empty_rows[m][0] || i == empty_rows[m][1];
          const double lse = fwd.lse[shape.lse_index(b, h, i)];
          CHECK((empty ? lse == -kInf : std::isfinite(lse)));
          if (!empty) continue;
          for (int d = 0; d < 8; ++d) {
            CHECK(fwd.o[shape.q_index(b, i, h, d)] == 0.0);
            CHECK(bwd.dq[shape.q_index(b, i, h, d)] == 0.0);
          }
        }
  }
}

TEST_CASE("mask_mod and a score_mod returning -inf drop the same elements", "[reference]") {
  const Shape shape = Shape::dense(2, 2, 2, 4, 7, 8);
  const Inputs in = random_inputs(shape, 30);
  const ForwardResult by_mask = forward(shape, in.q, in.k, in.v, EvenKeysByMask{});
  const ForwardResult by_score = forward(shape, in.q, in.k, in.v, EvenKeysByScore{});
  CHECK(max_abs_diff(by_mask.o, by_score.o) == 0.0);
  CHECK(max_abs_diff(by_mask.lse, by_score.lse) == 0.0);

  // Same as attending to the even keys alone.
  const Shape even_shape = Shape::dense(2, 2, 2, 4, 4, 8);
  std::vector<double> even_k, even_v;
  for (int b = 0; b < 2; ++b)
    for (int j = 0; j < 7; j += 2)
      for (int h = 0; h < 2; ++h)
        for (int d = 0; d < 8; ++d) {
          even_k.push_back(in.k[shape.kv_index(b, j, h, d)]);
          even_v.push_back(in.v[shape.kv_index(b, j, h, d)]);
        }
  const ForwardResult compacted = forward(even_shape, in.q, even_k, even_v);
  CHECK(max_abs_diff(by_mask.o, compacted.o) < 1e-14);
  CHECK(max_abs_diff(by_mask.lse, compacted.lse) < 1e-14);

  const BackwardResult grad_mask = backward(shape, in.q, in.k, in.v, in.d_out, EvenKeysByMask{});
  const BackwardResult grad_score = backward(shape, in.q, in.k, in.v, in.d_out, EvenKeysByScore{});
  CHECK(max_abs_diff(grad_mask.dq, grad_score.dq) == 0.0);
  CHECK(max_abs_diff(grad_mask.dk, grad_score.dk) == 0.0);
  CHECK(max_abs_diff(grad_mask.dv, grad_score.dv) == 0.0);
}

TEST_CASE("GQA and MQA equal attention over explicitly repeated K/V heads", "[reference]") {
  const int heads_q = 6, seqlen_q = 5, seqlen_k = 9, head_dim = 8;
  for (const int heads_kv : {3, 2, 1}) {
    const Shape grouped = Shape::dense(2, heads_q, heads_kv, seqlen_q, seqlen_k, head_dim, BandMask::causal());
    const Shape repeated = Shape::dense(2, heads_q, heads_q, seqlen_q, seqlen_k, head_dim, BandMask::causal());
    const Inputs in = random_inputs(grouped, 40 + heads_kv);
    std::vector<double> k_repeated(repeated.kv_size()), v_repeated(repeated.kv_size());
    for (int b = 0; b < 2; ++b)
      for (int j = 0; j < seqlen_k; ++j)
        for (int h = 0; h < heads_q; ++h)
          for (int d = 0; d < head_dim; ++d) {
            k_repeated[repeated.kv_index(b, j, h, d)] = in.k[grouped.kv_index(b, j, grouped.kv_head(h), d)];
            v_repeated[repeated.kv_index(b, j, h, d)] = in.v[grouped.kv_index(b, j, grouped.kv_head(h), d)];
          }

    const ForwardResult fwd_grouped = forward(grouped, in.q, in.k, in.v);
    const ForwardResult fwd_repeated = forward(repeated, in.q, k_repeated, v_repeated);
    CHECK(max_abs_diff(fwd_grouped.o, fwd_repeated.o) == 0.0);
    CHECK(max_abs_diff(fwd_grouped.lse, fwd_repeated.lse) == 0.0);

    const BackwardResult bwd_grouped = backward(grouped, in.q, in.k, in.v, in.d_out);
    const BackwardResult bwd_repeated = backward(repeated, in.q, k_repeated, v_repeated, in.d_out);
    CHECK(max_abs_diff(bwd_grouped.dq, bwd_repeated.dq) < 1e-14);
    std::vector<double> dk_summed(grouped.kv_size(), 0.0), dv_summed(grouped.kv_size(), 0.0);
    for (int b = 0; b < 2; ++b)
      for (int j = 0; j < seqlen_k; ++j)
        for (int h = 0; h < heads_q; ++h)
          for (int d = 0; d < head_dim; ++d) {
            dk_summed[grouped.kv_index(b, j, grouped.kv_head(h), d)] += bwd_repeated.dk[repeated.kv_index(b, j, h, d)];
            dv_summed[grouped.kv_index(b, j, grouped.kv_head(h), d)] += bwd_repeated.dv[repeated.kv_index(b, j, h, d)];
          }
    CHECK(relative_error(bwd_grouped.dk, dk_summed) < 1e-13);
    CHECK(relative_error(bwd_grouped.dv, dv_summed) < 1e-13);
  }
}

// With a variant whose hooks depend on the entry's lengths (ALiBi's alignment), each entry must
// still equal itself run alone.
template <class Variant>
void check_varlen_against_single_entries(const Variant& variant) {
  const int heads_q = 4, heads_kv = 2, head_dim = 8;
  const std::vector<int> seqlens_q = {3, 1, 6, 0, 5}, seqlens_k = {4, 2, 5, 3, 1};
  for (const BandMask band : {BandMask::none(), BandMask::causal(), BandMask::window(2, 1, MaskAlignment::top_left)}) {
    const Shape packed = Shape::varlen(heads_q, heads_kv, head_dim, seqlens_q, seqlens_k, band);
    CHECK(packed.total_q() == 15);
    CHECK(packed.total_k() == 15);
    CHECK(packed.cu_seqlens_q() == std::vector<int>{0, 3, 4, 10, 10, 15});
    const Inputs in = random_inputs(packed, 50);
    const ForwardResult fwd = forward(packed, in.q, in.k, in.v, variant);
    const BackwardResult bwd = backward(packed, in.q, in.k, in.v, in.d_out, variant);

    for (int b = 0; b < packed.batch; ++b) {
      const Shape single = Shape::dense(1, heads_q, heads_kv, seqlens_q[b], seqlens_k[b], head_dim, band);
      const int q_row = heads_q * head_dim, kv_row = heads_kv * head_dim;
      const int64_t q0 = packed.offset_q(b), k0 = packed.offset_k(b);
      const std::vector<double> q = rows_of(in.q, q0, seqlens_q[b], q_row);
      const std::vector<double> k = rows_of(in.k, k0, seqlens_k[b], kv_row);
      const std::vector<double> v = rows_of(in.v, k0, seqlens_k[b], kv_row);
      const std::vector<double> d_out = rows_of(in.d_out, q0, seqlens_q[b], q_row);
      const ForwardResult fwd_single = forward(single, q, k, v, variant);
      const BackwardResult bwd_single = backward(single, q, k, v, d_out, variant);

      CHECK(max_abs_diff(rows_of(fwd.o, q0, seqlens_q[b], q_row), fwd_single.o) == 0.0);
      for (int h = 0; h < heads_q; ++h)
        for (int i = 0; i < seqlens_q[b]; ++i)
          CHECK(fwd.lse[packed.lse_index(b, h, i)] == fwd_single.lse[single.lse_index(0, h, i)]);
      CHECK(max_abs_diff(rows_of(bwd.dq, q0, seqlens_q[b], q_row), bwd_single.dq) == 0.0);
      CHECK(max_abs_diff(rows_of(bwd.dk, k0, seqlens_k[b], kv_row), bwd_single.dk) == 0.0);
      CHECK(max_abs_diff(rows_of(bwd.dv, k0, seqlens_k[b], kv_row), bwd_single.dv) == 0.0);
    }
  }
}

TEST_CASE("varlen equals each batch entry run on its own", "[reference]") {
  SECTION("no variant") { check_varlen_against_single_entries(NoVariant{}); }
  SECTION("ALiBi, aligned per entry") {
    const std::vector<float> slopes = {0.5f, 0.25f, 0.125f, 0.0625f};
    for (const MaskAlignment alignment : {MaskAlignment::bottom_right, MaskAlignment::top_left}) {
      Alibi alibi;
      alibi.slopes = slopes.data();
      alibi.alignment = alignment;
      check_varlen_against_single_entries(alibi);
    }
  }
}

TEST_CASE("large logits are handled by the max subtraction", "[reference]") {
  const Shape shape = Shape::dense(1, 2, 2, 16, 16, 16);
  const Inputs in = random_inputs(shape, 60, 100.0);  // logits in the hundreds
  const ForwardResult fwd = forward(shape, in.q, in.k, in.v);
  const BackwardResult bwd = backward(shape, in.q, in.k, in.v, in.d_out);
  CHECK_FALSE(any_nan(fwd.o));
  CHECK_FALSE(any_nan(bwd.dq));
  CHECK_FALSE(any_nan(bwd.dk));
  CHECK_FALSE(any_nan(bwd.dv));
  CHECK(max_abs(fwd.lse) < kInf);
  CHECK(max_abs(fwd.o) <= max_abs(in.v));  // each O row is a convex combination of V rows
}

TEST_CASE("backward matches central finite differences", "[reference]") {
  SECTION("plain") { check_gradients_against_finite_differences(Shape::dense(2, 2, 2, 5, 7, 8), NoVariant{}, 100); }
  SECTION("causal, bottom-right, with empty rows") {
    check_gradients_against_finite_differences(Shape::dense(2, 2, 2, 7, 5, 8, BandMask::causal()), NoVariant{}, 200);
  }
  SECTION("causal, top-left") {
    check_gradients_against_finite_differences(
        Shape::dense(2, 2, 2, 5, 7, 8, BandMask::causal(MaskAlignment::top_left)), NoVariant{}, 300);
  }
  SECTION("sliding window") {
    check_gradients_against_finite_differences(Shape::dense(2, 2, 2, 6, 8, 8, BandMask::window(2, 1)), NoVariant{},
                                               400);
  }
  SECTION("GQA") { check_gradients_against_finite_differences(Shape::dense(2, 4, 2, 5, 6, 8), NoVariant{}, 500); }
  SECTION("MQA, varlen, causal") {
    check_gradients_against_finite_differences(Shape::varlen(3, 1, 8, {4, 1, 6}, {5, 3, 2}, BandMask::causal()),
                                               NoVariant{}, 600);
  }
  SECTION("ALiBi") {
    const std::vector<float> slopes = {0.5f, 0.25f, 0.125f, 0.0625f};
    Alibi alibi;
    alibi.slopes = slopes.data();
    check_gradients_against_finite_differences(Shape::dense(2, 4, 2, 5, 7, 8, BandMask::causal()), alibi, 700);
  }
  SECTION("ALiBi, varlen entries of different lengths") {
    const std::vector<float> slopes = {0.5f, 0.25f};
    Alibi alibi;
    alibi.slopes = slopes.data();
    check_gradients_against_finite_differences(Shape::varlen(2, 1, 8, {3, 6, 1}, {7, 4, 5}), alibi, 750);
  }
  SECTION("soft-capping, logits near the cap") {
    SoftCap softcap;
    softcap.cap = 2.0f;
    check_gradients_against_finite_differences(Shape::dense(2, 2, 1, 5, 7, 8), softcap, 800, 3.0);
  }
  SECTION("mask_mod") {
    check_gradients_against_finite_differences(Shape::dense(1, 2, 2, 5, 7, 8), EvenKeysByMask{}, 900);
  }
  SECTION("dropout, causal GQA") {
    // A fixed pseudo-random mask, p = 0.3: O depends on it linearly, so the gradients must too.
    Shape shape = Shape::dense(2, 4, 2, 6, 7, 8, BandMask::causal());
    shape.dropout = [](int b, int h, int i, int j) {
      const unsigned hash = (unsigned(b) * 73856093u) ^ (unsigned(h) * 19349663u) ^ (unsigned(i) * 83492791u) ^
                            (unsigned(j) * 2654435761u);
      return (hash >> 7) % 10 < 3 ? 0.0 : 1.0 / 0.7;
    };
    check_gradients_against_finite_differences(shape, NoVariant{}, 1000);
  }
}

TEST_CASE("the blocked, threaded passes equal the plain definitions on many row blocks", "[reference]") {
  // Lengths that are not multiples of any block size, several blocks per head, a zero-length
  // entry, and enough work for the threaded path.
  const std::vector<int> seqlens_q = {70, 0, 33, 129}, seqlens_k = {45, 17, 97, 130};
  SECTION("plain, GQA") {
    check_against_naive(Shape::varlen(4, 2, 24, seqlens_q, seqlens_k), NoVariant{}, 2000);
  }
  SECTION("causal, bottom-right, MQA") {
    check_against_naive(Shape::varlen(3, 1, 16, seqlens_q, seqlens_k, BandMask::causal()), NoVariant{}, 2100);
  }
  SECTION("causal, top-left") {
    check_against_naive(
        Shape::varlen(2, 2, 16, seqlens_q, seqlens_k, BandMask::causal(MaskAlignment::top_left)), NoVariant{}, 2200);
  }
  SECTION("sliding window") {
    check_against_naive(Shape::varlen(2, 1, 16, seqlens_q, seqlens_k, BandMask::window(20, 5)), NoVariant{}, 2300);
  }
  SECTION("soft-capping, window") {
    SoftCap softcap;
    softcap.cap = 1.5f;
    check_against_naive(Shape::varlen(2, 2, 16, seqlens_q, seqlens_k, BandMask::window(7, 30)), softcap, 2400);
  }
  SECTION("mask_mod") { check_against_naive(Shape::varlen(2, 2, 8, seqlens_q, seqlens_k), EvenKeysByMask{}, 2500); }
  SECTION("ALiBi, causal") {
    const std::vector<float> slopes = {0.5f, 0.125f};
    Alibi alibi;
    alibi.slopes = slopes.data();
    check_against_naive(Shape::varlen(2, 1, 8, seqlens_q, seqlens_k, BandMask::causal()), alibi, 2600);
  }
}

TEST_CASE("ALiBi subtracts slope times distance from the logit", "[reference]") {
  // One query, two keys, zero dot products: ALiBi alone sets the logits to 0 and -slope.
  const std::vector<float> slopes = {std::log(3.0f)};
  Alibi alibi;
  alibi.slopes = slopes.data();
  // Bottom-right alignment: the one query sits at key s_k − s_q = 1.
  const Shape shape = Shape::dense(1, 1, 1, 1, 2, 1);
  const ForwardResult result = forward(shape, {0.0}, {0.0, 0.0}, {1.0, 5.0}, alibi);
  const double w = 1.0 / (1.0 + std::exp(-double(slopes[0])));  // weight of key 1
  CHECK(result.o[0] == Approx(w * 5.0 + (1 - w) * 1.0).epsilon(1e-14));
}

TEST_CASE("RoundedLike rounds where a same-precision implementation does", "[reference]") {
  const Shape shape = Shape::dense(2, 2, 2, 64, 80, 64, BandMask::causal());
  const Inputs in = random_inputs(shape, 1000);
  const ForwardResult exact = forward(shape, in.q, in.k, in.v);
  const ForwardResult bf16 = forward(shape, in.q, in.k, in.v, NoVariant{}, RoundedLike<bfloat16_t>{});
  const ForwardResult fp16 = forward(shape, in.q, in.k, in.v, NoVariant{}, RoundedLike<half_t>{});
  const double bf16_error = relative_error(bf16.o, exact.o);
  const double fp16_error = relative_error(fp16.o, exact.o);
  CHECK(bf16_error > 1e-4);
  CHECK(bf16_error < 5e-2);
  CHECK(fp16_error > 1e-5);
  CHECK(fp16_error < bf16_error);  // 3 more mantissa bits
  // The output is stored in the element type: every value is representable there.
  for (const double o : bf16.o) REQUIRE(o == double(round_to<bfloat16_t>(float(o))));
}

TEST_CASE("inconsistent shapes and tensors are rejected with the bad value named", "[reference]") {
  REQUIRE_THROWS_AS(Shape::dense(1, 3, 2, 4, 4, 8), attnkit::error);
  REQUIRE_THROWS_WITH(Shape::dense(1, 3, 2, 4, 4, 8), ContainsSubstring("heads_q = 3") && ContainsSubstring("heads_kv = 2"));
  REQUIRE_THROWS_WITH(Shape::dense(1, 2, 2, 4, 4, 0), ContainsSubstring("head_dim = 0"));
  REQUIRE_THROWS_WITH(Shape::dense(0, 2, 2, 4, 4, 8), ContainsSubstring("batch = 0"));
  REQUIRE_THROWS_WITH(Shape::dense(1, 2, 2, -1, 4, 8), ContainsSubstring("seqlens_q[0] = -1"));
  REQUIRE_THROWS_WITH(Shape::varlen(2, 2, 8, {1, 2}, {3}), ContainsSubstring("seqlens_k has 1"));

  const Shape shape = Shape::dense(1, 2, 1, 3, 4, 8);
  const Inputs in = random_inputs(shape, 1);
  REQUIRE_THROWS_WITH(forward(shape, std::vector<double>(5), in.k, in.v),
                      ContainsSubstring("q has 5 elements") && ContainsSubstring("needs 48"));
  REQUIRE_THROWS_WITH(forward(shape, in.q, in.k, std::vector<double>(7)), ContainsSubstring("v has 7 elements"));
  REQUIRE_THROWS_WITH(backward(shape, in.q, in.k, in.v, std::vector<double>(2)),
                      ContainsSubstring("d_out has 2 elements"));
}

TEST_CASE("host tensors: random data and comparisons", "[reference]") {
  CHECK(random_normal(16, 5) == random_normal(16, 5));
  CHECK(random_normal(16, 5) != random_normal(16, 6));
  CHECK(max_abs_diff({1.0, -kInf, 3.0}, {1.5, -kInf, 3.0}) == 0.5);
  CHECK(std::isnan(max_abs_diff({1.0, std::nan("")}, {1.0, 2.0})));
  CHECK(max_abs_diff({-kInf}, {0.0}) == kInf);
  CHECK(relative_error({2.0, 4.1}, {2.0, 4.0}) == Approx(0.025));
  REQUIRE_THROWS_AS(max_abs_diff({1.0}, {1.0, 2.0}), attnkit::error);
}
