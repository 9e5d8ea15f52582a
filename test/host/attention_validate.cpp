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
    p = make_bshd_problem(DType::bf16, 65535, 65535, 5, 100, 77, kHeadDim, q_data, k_data, v_data, o_data, lse_data);
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
  SECTION("any negative window bound is unbounded, not only -1") {
    for (const BandMask& band : {BandMask::window(-7, 0), BandMask::window(4, -100),
                                 BandMask::window(std::numeric_limits<int>::min(), -2, MaskAlignment::top_left)}) {
      p.band = band;
      INFO("window (" << band.left << ", " << band.right << ")");
      REQUIRE_NOTHROW(validate_problem(p, DType::bf16, kHeadDim));
    }
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
  SECTION("O as a slice of a wider buffer: strides larger than the shapes need") {
    p.o.row_stride = 3 * 8 * kHeadDim;
    p.o.head_stride = 2 * kHeadDim;
    REQUIRE_NOTHROW(validate_problem(p, DType::bf16, kHeadDim));
  }
  SECTION("LSE laid out (heads_q, batch, seqlen_q)") {
    p.lse_batch_stride = 100;
    p.lse_head_stride = 2 * 100;
    REQUIRE_NOTHROW(validate_problem(p, DType::bf16, kHeadDim));
  }
  SECTION("a dimension of extent 1 may have any stride") {
    p = make_bshd_problem(DType::bf16, 1, 1, 1, 1, 77, kHeadDim, q_data, k_data, v_data, o_data, lse_data);
    p.o.row_stride = 8;
    p.o.head_stride = 0;
    p.lse_head_stride = 0;
    p.lse_batch_stride = 0;
    REQUIRE_NOTHROW(validate_problem(p, DType::bf16, kHeadDim));
  }
  SECTION("varlen from make_varlen_bshd_problem") {
    const AttentionProblem v = make_varlen_bshd_problem(DType::bf16, 3, 8, 2, 100, 77, 250, 160, kHeadDim, cu_seqlens_q,
                                                        cu_seqlens_k, q_data, k_data, v_data, o_data, lse_data);
    REQUIRE_NOTHROW(validate_problem(v, DType::bf16, kHeadDim));
  }
  SECTION("varlen LSE set by hand, (heads_q, total_q)") {
    p.cu_seqlens_q = cu_seqlens_q;
    p.cu_seqlens_k = cu_seqlens_k;
    p.total_q = 250;
    p.total_k = 160;
    p.lse_head_stride = 250;
    p.lse_batch_stride = 0;
    REQUIRE_NOTHROW(validate_problem(p, DType::bf16, kHeadDim));
  }
}

TEST_CASE("make_varlen_bshd_problem fills packed strides and LSE (heads_q, total_q)", "[attention][validate]") {
  const AttentionProblem p = make_varlen_bshd_problem(DType::f16, 3, 8, 2, 100, 77, 250, 160, kHeadDim, cu_seqlens_q,
                                                      cu_seqlens_k, q_data, k_data, v_data, o_data, lse_data);
  REQUIRE(p.dtype == DType::f16);
  REQUIRE(p.batch == 3);
  REQUIRE(p.heads_q == 8);
  REQUIRE(p.heads_kv == 2);
  REQUIRE(p.seqlen_q == 100);
  REQUIRE(p.seqlen_k == 77);
  REQUIRE(p.total_q == 250);
  REQUIRE(p.total_k == 160);
  REQUIRE(p.head_dim == kHeadDim);
  REQUIRE(p.varlen());
  REQUIRE(p.cu_seqlens_q == cu_seqlens_q);
  REQUIRE(p.cu_seqlens_k == cu_seqlens_k);
  REQUIRE(p.q.data == q_data);
  REQUIRE(p.k.data == k_data);
  REQUIRE(p.v.data == v_data);
  REQUIRE(p.o.data == o_data);
  for (const TensorRef* t : {&p.q, &p.o}) {
    REQUIRE(t->head_stride == kHeadDim);
    REQUIRE(t->row_stride == 8 * kHeadDim);
  }
  for (const TensorRef* t : {&p.k, &p.v}) {
    REQUIRE(t->head_stride == kHeadDim);
    REQUIRE(t->row_stride == 2 * kHeadDim);
  }
  REQUIRE(p.lse == lse_data);
  REQUIRE(p.lse_head_stride == 250);
  REQUIRE(p.softmax_scale == 0.f);
  REQUIRE(p.band.left < 0);
  REQUIRE(p.band.right < 0);
}

TEST_CASE("validate_problem refuses outputs whose strides overlap, naming the values", "[attention][validate]") {
  AttentionProblem p = valid_problem();

  SECTION("o heads closer than head_dim") {
    p.o.head_stride = 64;
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim,
                    ContainsSubstring("o.head_stride = 64 is less than head_dim = 128") &&
                        ContainsSubstring("(row, head) pairs of o"));
  }
  SECTION("o rows closer than a row of heads (BSHD)") {
    p.o.row_stride = 4 * kHeadDim;
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim,
                    ContainsSubstring("o.row_stride = 512 is less than o.head_stride x heads_q = 128 x 8 = 1024"));
  }
  SECTION("o heads closer than a head of rows (BHSD)") {
    p.o.row_stride = kHeadDim;
    p.o.head_stride = 64 * kHeadDim;
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim,
                    ContainsSubstring("o.head_stride = 8192 is less than o.row_stride x seqlen_q = 128 x 100 = 12800"));
  }
  SECTION("o heads sharing one address") {
    p.o.head_stride = 0;
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim, ContainsSubstring("o.head_stride = 0"));
  }
  SECTION("read-only inputs may overlap (K/V heads broadcast)") {
    p.k.head_stride = 0;
    p.v.head_stride = 0;
    REQUIRE_NOTHROW(validate_problem(p, DType::bf16, kHeadDim));
  }
  SECTION("lse heads closer than seqlen_q") {
    p.lse_head_stride = 96;
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim,
                    ContainsSubstring("lse_head_stride = 96 is less than seqlen_q = 100") &&
                        ContainsSubstring("(batch, head) rows of lse"));
  }
  SECTION("lse batches closer than heads_q rows") {
    p.lse_batch_stride = 700;
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim,
                    ContainsSubstring("lse_batch_stride = 700 is less than lse_head_stride x heads_q = 100 x 8 = 800"));
  }
  SECTION("lse (heads, batch, seqlen) with heads closer than batch rows") {
    p.lse_batch_stride = 100;
    p.lse_head_stride = 150;
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim,
                    ContainsSubstring("lse_head_stride = 150 is less than lse_batch_stride x batch = 100 x 2 = 200"));
  }
  SECTION("lse batch stride 0 over two batch entries") {
    p.lse_batch_stride = 0;
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim, ContainsSubstring("lse_batch_stride = 0 is less than seqlen_q = 100"));
  }
}

TEST_CASE("validate_problem checks varlen strides against total_q", "[attention][validate]") {
  AttentionProblem p = make_varlen_bshd_problem(DType::bf16, 3, 8, 2, 100, 77, 250, 160, kHeadDim, cu_seqlens_q,
                                                cu_seqlens_k, q_data, k_data, v_data, o_data, lse_data);

  SECTION("the dense LSE head stride, seqlen_q, is refused once total_q is known") {
    p.lse_head_stride = p.seqlen_q;
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim,
                    ContainsSubstring("lse_head_stride = 100 is less than total_q = 250") &&
                        ContainsSubstring("(heads_q, total_q)"));
  }
  SECTION("without total_q the longest sequence bounds the LSE head stride, and the message asks for total_q") {
    p.total_q = 0;
    p.total_k = 0;
    p.lse_head_stride = 100;
    REQUIRE_NOTHROW(validate_problem(p, DType::bf16, kHeadDim));
    p.lse_head_stride = 64;
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim,
                    ContainsSubstring("lse_head_stride = 64 is less than seqlen_q = 100") &&
                        ContainsSubstring("set total_q"));
  }
  SECTION("the LSE batch stride is unused") {
    p.lse_batch_stride = 0;
    REQUIRE_NOTHROW(validate_problem(p, DType::bf16, kHeadDim));
  }
  SECTION("BHSD-like packed O: heads must clear total_q rows") {
    p.o.row_stride = kHeadDim;
    p.o.head_stride = 200 * kHeadDim;
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim,
                    ContainsSubstring("o.head_stride = 25600 is less than o.row_stride x total_q = 128 x 250 = 32000"));
    p.o.head_stride = 250 * kHeadDim;
    REQUIRE_NOTHROW(validate_problem(p, DType::bf16, kHeadDim));
  }
  SECTION("total_q shorter than the longest sequence") {
    p.total_q = 99;
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim, ContainsSubstring("total_q = 99 is less than seqlen_q = 100"));
  }
  SECTION("total_k shorter than the longest sequence") {
    p.total_k = 76;
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim, ContainsSubstring("total_k = 76 is less than seqlen_k = 77"));
  }
  SECTION("negative total_k") {
    p.total_k = -5;
    REQUIRE_REFUSED(p, DType::bf16, kHeadDim, ContainsSubstring("total_k = -5 must be non-negative"));
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
