#pragma once
// Host-side validation of an AttentionProblem before any launch: every check throws
// attnkit::error with the offending value in the message, never lets a kernel read out of
// bounds or return a silently wrong answer.

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>

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

// One strided dimension of an output, with the names its messages give the stride and extent.
struct StridedDim {
  const char* stride_name;
  int64_t stride;
  int64_t extent;
  const char* extent_name;
};

// An output whose innermost `span` elements are contiguous must not let two index pairs reach
// one element: CTAs writing them would race, and which value lands is unspecified. Accepted are
// the nested layouts strides describe in practice (BSHD, BHSD, slices of a larger buffer): by
// stride, the inner dimension steps past the span and the outer past all the inner covers.
// Interleaved layouts that happen not to collide are refused too; a dimension of extent 1 never
// steps, so its stride is free (torch leaves such strides arbitrary).
inline void require_disjoint(StridedDim inner, StridedDim outer, int64_t span, const char* span_name,
                             const char* what, const char* note = "") {
  auto magnitude = [](int64_t stride) { return stride < 0 ? -stride : stride; };
  if (inner.extent <= 1 || (outer.extent > 1 && magnitude(outer.stride) < magnitude(inner.stride)))
    std::swap(inner, outer);
  if (inner.extent <= 1) return;
  require(magnitude(inner.stride) >= span, inner.stride_name, " = ", inner.stride, " is less than ", span_name,
          " = ", span, ", so distinct ", what, " overlap", note);
  if (outer.extent <= 1) return;
  const int64_t covered = magnitude(inner.stride) > std::numeric_limits<int64_t>::max() / inner.extent
                              ? std::numeric_limits<int64_t>::max()
                              : magnitude(inner.stride) * inner.extent;
  require(magnitude(outer.stride) >= covered, outer.stride_name, " = ", outer.stride, " is less than ",
          inner.stride_name, " x ", inner.extent_name, " = ", magnitude(inner.stride), " x ", inner.extent, " = ",
          covered, ", so distinct ", what, " may overlap", note);
}
}  // namespace detail

// Head dims the FA2 kernels are built for (fa2/forward_config.cuh's DefaultForwardConfig).
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

// Checks shapes, pointers, strides and mask parameters common to every attention kernel, and
// that the outputs O and LSE, laid out as their strides say over the shapes given, give every
// (row, head) its own elements. `dtype` is the element type the chosen kernel was built for,
// `head_dim` its head dimension.
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
  // No check on the band's bounds: any negative bound is unbounded (flash-attn's window_size
  // (-1, -1)), which is how BandMask and every kernel read it.
  validate_dropout(p.dropout);
  const bool varlen = p.varlen();
  if (varlen) {
    require(p.total_q >= 0, "total_q = ", p.total_q, " must be non-negative (0: not known)");
    require(p.total_k >= 0, "total_k = ", p.total_k, " must be non-negative (0: not known)");
    require(p.total_q == 0 || p.total_q >= p.seqlen_q, "total_q = ", p.total_q, " is less than seqlen_q = ",
            p.seqlen_q, " (the packed rows hold every sequence, the longest included)");
    require(p.total_k == 0 || p.total_k >= p.seqlen_k, "total_k = ", p.total_k, " is less than seqlen_k = ",
            p.seqlen_k, " (the packed rows hold every sequence, the longest included)");
  }
  detail::require_tensor(p.q, "q", varlen);
  detail::require_tensor(p.k, "k", varlen);
  detail::require_tensor(p.v, "v", varlen);
  detail::require_tensor(p.o, "o", varlen);
  // Varlen O is one packed tensor; without total_q the longest sequence bounds its rows.
  const bool rows_known = varlen && p.total_q > 0;
  detail::require_disjoint({"o.head_stride", p.o.head_stride, p.heads_q, "heads_q"},
                           {"o.row_stride", p.o.row_stride, rows_known ? p.total_q : p.seqlen_q,
                            rows_known ? "total_q" : "seqlen_q"},
                           p.head_dim, "head_dim", "(row, head) pairs of o");
  if (p.lse != nullptr) {
    require(reinterpret_cast<uintptr_t>(p.lse) % 4 == 0, "lse = ", static_cast<void*>(p.lse), " is not 4-byte aligned");
    require(p.lse_head_stride >= 0 && p.lse_batch_stride >= 0, "lse strides (", p.lse_batch_stride, ", ",
            p.lse_head_stride, ") must be non-negative");
    if (!varlen) {
      detail::require_disjoint({"lse_head_stride", p.lse_head_stride, p.heads_q, "heads_q"},
                               {"lse_batch_stride", p.lse_batch_stride, p.batch, "batch"}, p.seqlen_q, "seqlen_q",
                               "(batch, head) rows of lse");
    } else if (rows_known) {
      // (heads_q, total_q): an entry's rows start at cu_seqlens_q[b], lse_batch_stride unused.
      detail::require_disjoint({"lse_head_stride", p.lse_head_stride, p.heads_q, "heads_q"},
                               {"lse_batch_stride", 0, 1, "batch"}, p.total_q, "total_q", "heads of lse",
                               " (varlen LSE is (heads_q, total_q))");
    } else {
      detail::require_disjoint({"lse_head_stride", p.lse_head_stride, p.heads_q, "heads_q"},
                               {"lse_batch_stride", 0, 1, "batch"}, p.seqlen_q, "seqlen_q", "heads of lse",
                               " (varlen LSE is (heads_q, total_q); total_q is 0, not set, so only the longest "
                               "sequence could be checked: set total_q to check lse_head_stride >= total_q)");
    }
  }
}

}  // namespace attnkit
