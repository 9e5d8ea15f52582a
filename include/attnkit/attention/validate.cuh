#pragma once
// Host-side validation of an AttentionProblem before any launch: every check throws
// attnkit::error with the offending value in the message, never lets a kernel read out of
// bounds or return a silently wrong answer.

#include <cmath>
#include <cstdint>
#include <string>

#include "../core/error.cuh"
#include "problem.cuh"

namespace attnkit {

namespace detail {
// A (batch, row, head, head_dim) tensor the kernels read or write with 16-byte accesses.
inline void require_tensor(const TensorRef& t, const char* name, bool varlen) {
  require(t.data != nullptr, name, " is a null pointer");
  require(reinterpret_cast<uintptr_t>(t.data) % 16 == 0, name, " = ", t.data,
          " is not 16-byte aligned (tiles are copied 16 bytes at a time)");
  // Strides are in 2-byte elements: a multiple of 8 keeps every row 16-byte aligned.
  require(t.row_stride % 8 == 0, name, ".row_stride = ", t.row_stride, " is not a multiple of 8 elements (16 bytes)");
  require(t.head_stride % 8 == 0, name, ".head_stride = ", t.head_stride,
          " is not a multiple of 8 elements (16 bytes)");
  require(varlen || t.batch_stride % 8 == 0, name, ".batch_stride = ", t.batch_stride,
          " is not a multiple of 8 elements (16 bytes)");
  require(t.row_stride > 0, name, ".row_stride = ", t.row_stride, " must be positive");
}
}  // namespace detail

// Head dims the FA2 kernels are built for (fa2_forward_config.cuh's DefaultForwardConfig).
inline constexpr int kSupportedHeadDims[] = {32, 64, 96, 128, 192, 256};

inline bool is_supported_head_dim(int head_dim) {
  for (int supported : kSupportedHeadDims)
    if (head_dim == supported) return true;
  return false;
}

inline void require_supported_head_dim(int head_dim) {
  require(is_supported_head_dim(head_dim), "head_dim = ", head_dim,
          " is not supported (supported: 32, 64, 96, 128, 192, 256)");
}

// Checks shapes, pointers, strides and mask parameters common to every attention kernel.
// `dtype` is the element type the chosen kernel was built for, `head_dim` its head dimension.
inline void validate_problem(const AttentionProblem& p, DType dtype, int head_dim) {
  require(p.dtype == dtype, "dtype ", dtype_name(p.dtype), " does not match the kernel's ", dtype_name(dtype));
  require(p.head_dim == head_dim, "head_dim = ", p.head_dim, " does not match the kernel's ", head_dim);
  require(p.batch > 0, "batch = ", p.batch, " must be positive");
  require(p.batch <= 65535, "batch = ", p.batch, " exceeds the grid limit of 65535");
  require(p.heads_q > 0, "heads_q = ", p.heads_q, " must be positive");
  require(p.heads_q <= 65535, "heads_q = ", p.heads_q, " exceeds the grid limit of 65535");
  require(p.heads_kv > 0, "heads_kv = ", p.heads_kv, " must be positive");
  require(p.heads_q % p.heads_kv == 0, "heads_q = ", p.heads_q, " is not a multiple of heads_kv = ", p.heads_kv,
          " (GQA needs an integral group size)");
  require(p.seqlen_q > 0, "seqlen_q = ", p.seqlen_q, " must be positive");
  require(p.seqlen_k > 0, "seqlen_k = ", p.seqlen_k, " must be positive");
  require((p.cu_seqlens_q == nullptr) == (p.cu_seqlens_k == nullptr),
          "varlen needs both cu_seqlens_q and cu_seqlens_k (got ", p.cu_seqlens_q, " and ", p.cu_seqlens_k, ")");
  require(std::isfinite(p.softmax_scale) && p.softmax_scale >= 0.f, "softmax_scale = ", p.softmax_scale,
          " must be positive and finite (0 selects 1/sqrt(head_dim))");
  require(p.band.left >= -1, "window left = ", p.band.left, " must be >= 0, or -1 for unbounded");
  require(p.band.right >= -1, "window right = ", p.band.right, " must be >= 0, or -1 for unbounded");
  validate_dropout(p.dropout);
  const bool varlen = p.varlen();
  detail::require_tensor(p.q, "q", varlen);
  detail::require_tensor(p.k, "k", varlen);
  detail::require_tensor(p.v, "v", varlen);
  detail::require_tensor(p.o, "o", varlen);
  if (p.lse != nullptr) {
    require(reinterpret_cast<uintptr_t>(p.lse) % 4 == 0, "lse = ", static_cast<void*>(p.lse), " is not 4-byte aligned");
    require(p.lse_head_stride >= 0 && p.lse_batch_stride >= 0, "lse strides (", p.lse_batch_stride, ", ",
            p.lse_head_stride, ") must be non-negative");
  }
}

}  // namespace attnkit
