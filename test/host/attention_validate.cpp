// Tests of attention/validate.cuh: a well-formed problem passes, and each malformed one is
// refused with an attnkit::error whose message names the offending value. No memory is touched,
// so fake (but suitably aligned) pointers into a static buffer stand for the tensors.

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>

#include "attnkit/attention/problem.cuh"
#include "attnkit/attention/validate.cuh"

using namespace attnkit;
using Catch::Matchers::ContainsSubstring;

namespace {

alignas(16) unsigned char fake_memory[6][256];
void* const q_data = fake_memory[0];
void* const k_data = fake_memory[1];
void* const v_data = fake_memory[2];
void* const o_data = fake_memory[3];
float* const lse_data = reinterpret_cast<float*>(fake_memory[4]);
const int* const cu_seqlens_q = reinterpret_cast<const int*>(fake_memory[5]);
const int* const cu_seqlens_k = reinterpret_cast<const int*>(fake_memory[5] + 64);

constexpr int kHeadDim = 128;

AttentionProblem valid_problem() {
  return make_bshd_problem(DType::bf16, 2, 8, 2, 100, 77, kHeadDim, q_data, k_data, v_data, o_data, lse_data);
}

// How the message prints a pointer: the ostream form of a void*.
std::string printed(const void* pointer) {
  std::ostringstream out;
  out << pointer;
  return out.str();
}

}  // namespace

// The error must be attnkit::error, and its message must contain every expected piece.
#define REQUIRE_REFUSED(problem, dtype, head_dim, matcher)                  \
  do {                                                                       \
    REQUIRE_THROWS_AS(validate_problem(problem, dtype, head_dim), error);    \
    REQUIRE_THROWS_WITH(validate_problem(problem, dtype, head_dim), matcher); \
  } while (false)

TEST_CASE("make_bshd_problem fills contiguous BSHD strides", "[attention][validate]") {
  const AttentionProblem p = valid_problem();
  REQUIRE(p.dtype == DType::bf16);
  REQUIRE(p.batch == 2);
  REQUIRE(p.heads_q == 8);
  REQUIRE(p.heads_kv == 2);
  REQUIRE(p.seqlen_q == 100);
  REQUIRE(p.seqlen_k == 77);
  REQUIRE(p.head_dim == kHeadDim);
  REQUIRE(p.q.data == q_data);
  REQUIRE(p.k.data == k_data);
  REQUIRE(p.v.data == v_data);
  REQUIRE(p.o.data == o_data);
  REQUIRE(p.q.head_stride == kHeadDim);
  REQUIRE(p.q.row_stride == 8 * kHeadDim);
  REQUIRE(p.q.batch_stride == 100 * 8 * kHeadDim);
  REQUIRE(p.k.row_stride == 2 * kHeadDim);
  REQUIRE(p.k.batch_stride == 77 * 2 * kHeadDim);
  REQUIRE(p.v.batch_stride == p.k.batch_stride);
  REQUIRE(p.o.batch_stride == p.q.batch_stride);
  REQUIRE(p.lse == lse_data);
  REQUIRE(p.lse_head_stride == 100);
  REQUIRE(p.lse_batch_stride == 8 * 100);
  REQUIRE(!p.varlen());
  REQUIRE(p.softmax_scale == 0.f);
  REQUIRE(p.effective_scale() == 1.f / std::sqrt(static_cast<float>(kHeadDim)));
}

TEST_CASE("validate_problem accepts well-formed problems", "[attention][validate]") {
  REQUIRE_NOTHROW(validate_problem(valid_problem(), DType::bf16, kHeadDim));

  AttentionProblem p = valid_problem();
  SECTION("f16") {
    p.dtype = DType::f16;
    REQUIRE_NOTHROW(validate_problem(p, DType::f16, kHeadDim));
  }
  SECTION("every head dim") {
    for (int head_dim : {32, 64, 96, 128, 192, 256}) {
      const AttentionProblem d =
          make_bshd_problem(DType::f16, 1, 4, 4, 1, 1, head_dim, q_data, k_data, v_data, o_data);
      REQUIRE_NOTHROW(validate_problem(d, DType::f16, head_dim));
    }
  }
  SECTION("MQA, no LSE, seqlen 1") {
    const AttentionProblem m = make_bshd_problem(DType::bf16, 3, 16, 1, 1, 1, kHeadDim, q_data, k_data, v_data, o_data);
    REQUIRE_NOTHROW(validate_problem(m, DType::bf16, kHeadDim));
  }
  SECTION("grid limits reached, not passed") {
    p.batch = 65535;
    p.heads_q = 65535;
    p.heads_kv = 5;
    REQUIRE_NOTHROW(validate_problem(p, DType::bf16, kHeadDim));
  }
  SECTION("explicit scale, causal and windows") {
    p.softmax_scale = 0.3f;
    p.band = BandMask::causal();
    REQUIRE_NOTHROW(validate_problem(p, DType::bf16, kHeadDim));
    p.band = BandMask::window(0, 0, MaskAlignment::top_left);
    REQUIRE_NOTHROW(validate_problem(p, DType::bf16, kHeadDim));
    p.band = BandMask::window(-1, 17);
    REQUIRE_NOTHROW(validate_problem(p, DType::bf16, kHeadDim));
  }
  SECTION("varlen: batch strides unused") {
    p.cu_seqlens_q = cu_seqlens_q;
    p.cu_seqlens_k = cu_seqlens_k;
    p.q.batch_stride = p.k.batch_stride = p.v.batch_stride = p.o.batch_stride = 3;
    REQUIRE_NOTHROW(validate_problem(p, DType::bf16, kHeadDim));
  }
  SECTION("BHSD strides") {
    for (TensorRef* t : {&p.q, &p.k, &p.v, &p.o}) {
      t->row_stride = kHeadDim;
      t->head_stride = 1000 * kHeadDim;
    }
    REQUIRE_NOTHROW(validate_problem(p, DType::bf16, kHeadDim));
  }
}

TEST_CASE("validate_problem refuses malformed problems, naming the value", "[attention][validate]") {
  AttentionProblem p = valid_problem();

  SECTION("wrong dtype") {
    REQUIRE_REFUSED(p, DType::f16, kHeadDim, ContainsSubstring("dtype bf16") && ContainsSubstring("f16"));
  }
  SECTION("head_dim mismatch") {
    REQUIRE_REFUSED(p, DType::bf16, 64, ContainsSubstring("head_dim = 128") && ContainsSubstring("64"));
  }
  SECTION("batch 0") {
    p.batch = 0;
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim, ContainsSubstring("batch = 0"));
  }
  SECTION("batch past the grid limit") {
    p = make_bshd_problem(DType::bf16, 70000, 8, 2, 100, 77, kHeadDim, q_data, k_data, v_data, o_data);
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim, ContainsSubstring("batch = 70000"));
  }
  SECTION("heads_q 0") {
    p.heads_q = 0;
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim, ContainsSubstring("heads_q = 0"));
  }
  SECTION("heads_q past the grid limit") {
    p.heads_q = 70002;
    p.heads_kv = 1;
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim, ContainsSubstring("heads_q = 70002"));
  }
  SECTION("heads_kv 0") {
    p.heads_kv = 0;
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim, ContainsSubstring("heads_kv = 0"));
  }
  SECTION("heads_kv does not divide heads_q") {
    p = make_bshd_problem(DType::bf16, 2, 6, 4, 100, 77, kHeadDim, q_data, k_data, v_data, o_data);
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim, ContainsSubstring("heads_q = 6") && ContainsSubstring("heads_kv = 4"));
  }
  SECTION("seqlen_q 0") {
    p = make_bshd_problem(DType::bf16, 2, 8, 2, 0, 77, kHeadDim, q_data, k_data, v_data, o_data);
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim, ContainsSubstring("seqlen_q = 0"));
  }
  SECTION("seqlen_k negative") {
    p = make_bshd_problem(DType::bf16, 2, 8, 2, 100, -3, kHeadDim, q_data, k_data, v_data, o_data);
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim, ContainsSubstring("seqlen_k = -3"));
  }
  SECTION("null q") {
    p = make_bshd_problem(DType::bf16, 2, 8, 2, 100, 77, kHeadDim, nullptr, k_data, v_data, o_data);
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim, ContainsSubstring("q is a null pointer"));
  }
  SECTION("null o") {
    p.o.data = nullptr;
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim, ContainsSubstring("o is a null pointer"));
  }
  SECTION("misaligned k") {
    unsigned char* const misaligned = static_cast<unsigned char*>(k_data) + 2;
    p = make_bshd_problem(DType::bf16, 2, 8, 2, 100, 77, kHeadDim, q_data, misaligned, v_data, o_data);
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim,
                    ContainsSubstring("k = " + printed(misaligned)) && ContainsSubstring("16-byte aligned"));
  }
  SECTION("misaligned v by 8 bytes") {
    void* const misaligned = static_cast<unsigned char*>(v_data) + 8;
    p.v.data = misaligned;
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim, ContainsSubstring("v = " + printed(misaligned)));
  }
  SECTION("row_stride not a multiple of 8") {
    p.q.row_stride = 8 * kHeadDim + 4;
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim, ContainsSubstring("q.row_stride = 1028"));
  }
  SECTION("head_stride not a multiple of 8") {
    p.v.head_stride = 130;
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim, ContainsSubstring("v.head_stride = 130"));
  }
  SECTION("batch_stride not a multiple of 8 (not varlen)") {
    p.k.batch_stride = 77 * 2 * kHeadDim + 2;
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim, ContainsSubstring("k.batch_stride = 19714"));
  }
  SECTION("negative row_stride") {
    p.o.row_stride = -8;
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim, ContainsSubstring("o.row_stride = -8"));
  }
  SECTION("only cu_seqlens_q set") {
    p.cu_seqlens_q = cu_seqlens_q;
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim,
                    ContainsSubstring("cu_seqlens_q") && ContainsSubstring(printed(cu_seqlens_q)));
  }
  SECTION("only cu_seqlens_k set") {
    p.cu_seqlens_k = cu_seqlens_k;
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim,
                    ContainsSubstring("cu_seqlens_k") && ContainsSubstring(printed(cu_seqlens_k)));
  }
  SECTION("negative softmax_scale") {
    p.softmax_scale = -0.5f;
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim, ContainsSubstring("softmax_scale = -0.5"));
  }
  SECTION("NaN softmax_scale") {
    p.softmax_scale = std::numeric_limits<float>::quiet_NaN();
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim, ContainsSubstring("softmax_scale = nan"));
  }
  SECTION("infinite softmax_scale") {
    p.softmax_scale = std::numeric_limits<float>::infinity();
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim, ContainsSubstring("softmax_scale = inf"));
  }
  SECTION("window left -2") {
    p.band = BandMask::window(-2, 0);
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim, ContainsSubstring("window left = -2"));
  }
  SECTION("window right -7") {
    p.band = BandMask::window(4, -7);
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim, ContainsSubstring("window right = -7"));
  }
  SECTION("misaligned lse") {
    float* const misaligned = reinterpret_cast<float*>(reinterpret_cast<unsigned char*>(lse_data) + 2);
    p.lse = misaligned;
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim, ContainsSubstring("lse = " + printed(misaligned)));
  }
  SECTION("negative lse stride") {
    p.lse_head_stride = -100;
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim, ContainsSubstring("-100"));
  }
  SECTION("dropout probability 1") {
    p.dropout.probability = 1.f;
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim, ContainsSubstring("dropout probability = 1"));
  }
  SECTION("negative dropout probability") {
    p.dropout.probability = -0.25f;
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim, ContainsSubstring("dropout probability = -0.25"));
  }
  SECTION("NaN dropout probability") {
    p.dropout.probability = std::nanf("");
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim, ContainsSubstring("dropout probability = nan"));
  }
  SECTION("every message is attnkit's") {
    p.batch = -1;
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim, Catch::Matchers::StartsWith("attnkit: ") && ContainsSubstring("-1"));
  }
}

TEST_CASE("unsupported head dims are refused by name", "[validate]") {
  for (int head_dim : attnkit::kSupportedHeadDims) REQUIRE_NOTHROW(attnkit::require_supported_head_dim(head_dim));
  for (int head_dim : {0, -64, 16, 80, 100, 160, 512}) {
    INFO("head_dim = " << head_dim);
    REQUIRE_THROWS_WITH(attnkit::require_supported_head_dim(head_dim),
                        ContainsSubstring("head_dim = " + std::to_string(head_dim) + " is not supported"));
  }
}
