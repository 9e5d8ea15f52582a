#pragma once
// The problem description every attention kernel and reference takes: where Q, K, V, O and
// LSE live, their shapes and strides, and the mask. A plain struct: it is copied to the
// device as a kernel argument.
//
// Shapes (logical):  Q, O: (batch, seqlen_q, heads_q, head_dim)
//                    K, V: (batch, seqlen_k, heads_kv, head_dim)
//                    LSE:  (batch, heads_q, seqlen_q), float, natural log
// Any strides work as long as head_dim has unit stride and every other stride keeps rows
// 16-byte aligned, so BSHD and BHSD layouts (and slices of packed QKV) are all accepted.
//
// Varlen: with cu_seqlens_q / cu_seqlens_k set (device arrays of batch + 1 prefix offsets),
// entry b holds rows [cu_seqlens[b], cu_seqlens[b+1]) of a packed (total, heads, head_dim)
// tensor; batch strides are then unused, seqlen_q / seqlen_k are the maximum lengths, and LSE
// is laid out (heads_q, total_q) by offsetting rows by cu_seqlens_q[b] (lse_batch_stride
// unused, lse_head_stride at least total_q). make_varlen_bshd_problem sets all of this.
//
// GQA / MQA: heads_kv may divide heads_q; query head h reads K/V head h / (heads_q / heads_kv).
//
// Dropout (softmax/dropout.cuh): with dropout.probability = p > 0, O = (P ∘ Z / (1 − p)) V
// for the mask Z that (seed, offset) determine; LSE stays that of the undropped P. The
// backward must be given the same problem (same seed and offset) to differentiate that.

#include <cmath>
#include <cstdint>

#include "../core/element.cuh"
#include "../core/tensor_ref.cuh"
#include "../mask/band.cuh"
#include "../softmax/dropout.cuh"

namespace attnkit {

struct AttentionProblem {
  DType dtype = DType::bf16;
  int batch = 0;
  int heads_q = 0;
  int heads_kv = 0;
  int seqlen_q = 0;  // with varlen: the longest sequence
  int seqlen_k = 0;
  int head_dim = 0;

  TensorRef q, k, v;  // read
  TensorRef o;        // written

  float* lse = nullptr;  // optional output
  int64_t lse_batch_stride = 0;
  int64_t lse_head_stride = 0;

  const int* cu_seqlens_q = nullptr;  // optional, batch + 1 entries each
  const int* cu_seqlens_k = nullptr;
  // Varlen: the rows of the packed Q and K tensors (cu_seqlens[batch]), where known. The Hopper
  // kernels need them to bound their TMA copies; the sm_80 kernels ignore them.
  int total_q = 0;
  int total_k = 0;

  float softmax_scale = 0.f;  // 0 means 1/sqrt(head_dim)
  BandMask band = BandMask::none();
  DropoutParams dropout;  // probability 0: none

  bool varlen() const { return cu_seqlens_q != nullptr; }
  float effective_scale() const;
};

// A dense batch: fills strides for contiguous BSHD tensors (the flash-attn layout), with LSE as
// (batch, heads_q, seqlen_q). For packed sequences use make_varlen_bshd_problem: setting
// cu_seqlens on this problem afterwards leaves an LSE head stride of seqlen_q, which lets the
// heads of a varlen LSE overlap.
AttentionProblem make_bshd_problem(DType dtype, int batch, int heads_q, int heads_kv, int seqlen_q, int seqlen_k,
                                   int head_dim, const void* q, const void* k, const void* v, void* o,
                                   float* lse = nullptr);

// Packed sequences (flash_attn_varlen_func's layout): Q, O contiguous (total_q, heads_q,
// head_dim), K, V (total_k, heads_kv, head_dim), cu_seqlens device arrays of batch + 1 offsets,
// LSE (heads_q, total_q). max_seqlen_* are the longest sequences; total_* the packed row counts
// (cu_seqlens[batch]), which the Hopper kernels need and validate_problem checks strides against.
AttentionProblem make_varlen_bshd_problem(DType dtype, int batch, int heads_q, int heads_kv, int max_seqlen_q,
                                          int max_seqlen_k, int total_q, int total_k, int head_dim,
                                          const int* cu_seqlens_q, const int* cu_seqlens_k, const void* q,
                                          const void* k, const void* v, void* o, float* lse = nullptr);

// ---------------------------------------------------------------------------------------------

inline float AttentionProblem::effective_scale() const {
  return softmax_scale != 0.f ? softmax_scale : 1.f / std::sqrt(static_cast<float>(head_dim));
}

namespace detail {

// The shape fields every constructor sets.
inline AttentionProblem problem_of_shape(DType dtype, int batch, int heads_q, int heads_kv, int seqlen_q, int seqlen_k,
                                         int head_dim) {
  AttentionProblem p;
  p.dtype = dtype;
  p.batch = batch;
  p.heads_q = heads_q;
  p.heads_kv = heads_kv;
  p.seqlen_q = seqlen_q;
  p.seqlen_k = seqlen_k;
  p.head_dim = head_dim;
  return p;
}

// Rows of `heads` contiguous heads of `head_dim`; batch entries `entry_rows` rows apart (0 for
// packed varlen rows, whose entries are found through cu_seqlens, never by stride).
inline TensorRef bshd_tensor(const void* data, int heads, int head_dim, int64_t entry_rows) {
  TensorRef t;
  t.data = const_cast<void*>(data);
  t.head_stride = head_dim;
  t.row_stride = static_cast<int64_t>(heads) * head_dim;
  t.batch_stride = entry_rows * t.row_stride;
  return t;
}

}  // namespace detail

inline AttentionProblem make_bshd_problem(DType dtype, int batch, int heads_q, int heads_kv, int seqlen_q,
                                          int seqlen_k, int head_dim, const void* q, const void* k, const void* v,
                                          void* o, float* lse) {
  AttentionProblem p = detail::problem_of_shape(dtype, batch, heads_q, heads_kv, seqlen_q, seqlen_k, head_dim);
  p.q = detail::bshd_tensor(q, heads_q, head_dim, seqlen_q);
  p.k = detail::bshd_tensor(k, heads_kv, head_dim, seqlen_k);
  p.v = detail::bshd_tensor(v, heads_kv, head_dim, seqlen_k);
  p.o = detail::bshd_tensor(o, heads_q, head_dim, seqlen_q);
  p.lse = lse;
  p.lse_head_stride = seqlen_q;
  p.lse_batch_stride = static_cast<int64_t>(heads_q) * seqlen_q;
  return p;
}

inline AttentionProblem make_varlen_bshd_problem(DType dtype, int batch, int heads_q, int heads_kv,
                                                 int max_seqlen_q, int max_seqlen_k, int total_q, int total_k,
                                                 int head_dim, const int* cu_seqlens_q, const int* cu_seqlens_k,
                                                 const void* q, const void* k, const void* v, void* o, float* lse) {
  AttentionProblem p =
      detail::problem_of_shape(dtype, batch, heads_q, heads_kv, max_seqlen_q, max_seqlen_k, head_dim);
  p.q = detail::bshd_tensor(q, heads_q, head_dim, 0);
  p.k = detail::bshd_tensor(k, heads_kv, head_dim, 0);
  p.v = detail::bshd_tensor(v, heads_kv, head_dim, 0);
  p.o = detail::bshd_tensor(o, heads_q, head_dim, 0);
  p.cu_seqlens_q = cu_seqlens_q;
  p.cu_seqlens_k = cu_seqlens_k;
  p.total_q = total_q;
  p.total_k = total_k;
  p.lse = lse;
  p.lse_head_stride = total_q;
  return p;
}

}  // namespace attnkit
