#pragma once
// The problem a decode step solves: a few new query tokens per sequence attending over a KV
// cache (kv_cache.cuh), optionally appending this step's new keys and values to the cache
// first, with rotary embedding applied to them and to the queries.
//
// Shapes (logical):  Q, O:          (batch, seqlen_q, heads_q, head_dim)
//                    K_new, V_new:  (batch, seqlen_new, heads_kv, head_dim)   (optional)
//                    LSE:           (batch, heads_q, seqlen_q), float, natural log (optional)
//
// Sequence b attends over L_b = seqlens[b] − leftpad[b] + seqlen_new keys: what was cached and
// what this call appends (at logical positions seqlens[b] − leftpad[b] ..). Its query token t
// sits at position L_b − seqlen_q + t: causal masks and windows align bottom-right, as in
// training with seqlen_k = L_b. GQA: query head h reads KV head h / (heads_q / heads_kv).
//
// Rotary (RoPE): with rotary.cos set, the first rotary.dim features of Q and of K_new are
// rotated by their position p, pairwise: (x_i, x_j) → (x_i·cos − x_j·sin, x_i·sin + x_j·cos),
// angle i of row p of the (positions, dim / 2) tables. Pairs are (2i, 2i + 1) when interleaved
// (GPT-J), (i, i + dim / 2) otherwise (GPT-NeoX). K_new row t is at position
// seqlens[b] − leftpad[b] + t; query token t at the same position + t when the problem is
// causal or windowed, and at seqlens[b] − leftpad[b] for every token otherwise (the queries
// are then taken as one step; flash-attn's convention).
//
// Varlen queries (paged or chunked prefill of uneven chunks, set_varlen_queries): sequence b
// has its own count of query tokens, rows cu_seqlens_q[b] .. cu_seqlens_q[b + 1] − 1 of a
// packed Q and O (total_q, heads_q, head_dim) and LSE (heads_q, total_q); seqlen_q is then the
// longest (an upper bound will do), and token t of sequence b sits at L_b − seqlen_q(b) + t.
// cu_seqlens_q[0] must be 0 (flash-attn's convention): the split-KV partials are indexed by
// packed row.

#include <cmath>
#include <cstdint>

#include "../core/element.cuh"
#include "../mask/band.cuh"
#include "kv_cache.cuh"

namespace attnkit {

struct RotaryEmbedding {
  const void* cos = nullptr;  // (positions, dim / 2), the element type of Q; nullptr: no rotary
  const void* sin = nullptr;
  int dim = 0;                // rotated features: even, ≤ head_dim
  int positions = 0;          // rows of the tables; every position used must be below it
  bool interleaved = false;   // pairs (2i, 2i + 1); false: (i, i + dim / 2)

  ATTNKIT_HOST_DEVICE bool enabled() const { return cos != nullptr; }
};

struct DecodeProblem {
  DType dtype = DType::bf16;
  int batch = 0;
  int heads_q = 0;
  int heads_kv = 0;
  int seqlen_q = 0;  // new query tokens per sequence (1 for plain decoding)
  int head_dim = 0;

  TensorRef q;  // read
  TensorRef o;  // written
  KVCache cache;

  // This step's keys and values, appended to the cache before attending; k_new.data nullptr:
  // none. seqlen_new may differ from seqlen_q.
  TensorRef k_new, v_new;
  int seqlen_new = 0;
  RotaryEmbedding rotary;

  float* lse = nullptr;  // optional output, (batch, heads_q, seqlen_q) with these strides
  int64_t lse_batch_stride = 0;
  int64_t lse_head_stride = 0;

  float softmax_scale = 0.f;  // 0 means 1/sqrt(head_dim)
  BandMask band = BandMask::none();

  // Host copy of cache.seqlens (optional): when given, the launcher checks every sequence's
  // length plus seqlen_new against the cache's capacity and the block table's width.
  const int* host_seqlens = nullptr;

  // Varlen queries: (batch + 1) prefix offsets on the device; nullptr: seqlen_q for every
  // sequence, and Q, O, LSE reached through their batch strides.
  const int* cu_seqlens_q = nullptr;

  bool appends() const { return k_new.data != nullptr; }
  float effective_scale() const;

  // Query tokens of sequence `batch`, and where its token `token` of head `head` lives in Q or
  // O (elements from data) and in LSE.
  ATTNKIT_HOST_DEVICE int query_tokens(int batch) const {
    return cu_seqlens_q != nullptr ? cu_seqlens_q[batch + 1] - cu_seqlens_q[batch] : seqlen_q;
  }
  ATTNKIT_HOST_DEVICE int64_t query_offset(const TensorRef& t, int batch, int token, int head) const {
    const int64_t first = cu_seqlens_q != nullptr ? cu_seqlens_q[batch] * t.row_stride : batch * t.batch_stride;
    return first + token * t.row_stride + head * t.head_stride;
  }
  ATTNKIT_HOST_DEVICE int64_t lse_offset(int batch, int token, int head) const {
    const int64_t first = cu_seqlens_q != nullptr ? cu_seqlens_q[batch] : batch * lse_batch_stride;
    return first + head * lse_head_stride + token;
  }
  // The packed index of a query token among all sequences' (batch · seqlen_q of them at most).
  ATTNKIT_HOST_DEVICE int64_t query_token_index(int batch, int token) const {
    return (cu_seqlens_q != nullptr ? cu_seqlens_q[batch] : static_cast<int64_t>(batch) * seqlen_q) + token;
  }
};

// Q, O contiguous (batch, seqlen_q, heads_q, head_dim), LSE (batch, heads_q, seqlen_q); the
// cache as made by make_paged_kv_cache or make_contiguous_kv_cache.
DecodeProblem make_decode_problem(DType dtype, int batch, int heads_q, int seqlen_q, int head_dim, const void* q,
                                  void* o, const KVCache& cache, int heads_kv, float* lse = nullptr);

// Adds this step's keys and values, contiguous (batch, seqlen_new, heads_kv, head_dim).
void set_appended_kv(DecodeProblem& problem, const void* k_new, const void* v_new, int seqlen_new);

// Makes the queries varlen: Q and O packed (total_q, heads_q, head_dim), contiguous, LSE
// (heads_q, total_q); cu_seqlens_q (batch + 1) on the device, from 0 to total_q; max_seqlen_q
// the longest.
void set_varlen_queries(DecodeProblem& problem, const int* cu_seqlens_q, int total_q, int max_seqlen_q);

// ---------------------------------------------------------------------------------------------

inline float DecodeProblem::effective_scale() const {
  return softmax_scale != 0.f ? softmax_scale : 1.f / std::sqrt(static_cast<float>(head_dim));
}

inline DecodeProblem make_decode_problem(DType dtype, int batch, int heads_q, int seqlen_q, int head_dim,
                                         const void* q, void* o, const KVCache& cache, int heads_kv, float* lse) {
  DecodeProblem p;
  p.dtype = dtype;
  p.batch = batch;
  p.heads_q = heads_q;
  p.heads_kv = heads_kv;
  p.seqlen_q = seqlen_q;
  p.head_dim = head_dim;
  p.q = detail::bshd_tensor(q, heads_q, head_dim, seqlen_q);
  p.o = detail::bshd_tensor(o, heads_q, head_dim, seqlen_q);
  p.cache = cache;
  p.lse = lse;
  p.lse_head_stride = seqlen_q;
  p.lse_batch_stride = static_cast<int64_t>(heads_q) * seqlen_q;
  return p;
}

inline void set_appended_kv(DecodeProblem& problem, const void* k_new, const void* v_new, int seqlen_new) {
  problem.k_new = detail::bshd_tensor(k_new, problem.heads_kv, problem.head_dim, seqlen_new);
  problem.v_new = detail::bshd_tensor(v_new, problem.heads_kv, problem.head_dim, seqlen_new);
  problem.seqlen_new = seqlen_new;
}

inline void set_varlen_queries(DecodeProblem& problem, const int* cu_seqlens_q, int total_q, int max_seqlen_q) {
  problem.cu_seqlens_q = cu_seqlens_q;
  problem.seqlen_q = max_seqlen_q;
  problem.q = detail::bshd_tensor(problem.q.data, problem.heads_q, problem.head_dim, total_q);
  problem.o = detail::bshd_tensor(problem.o.data, problem.heads_q, problem.head_dim, total_q);
  problem.o.batch_stride = problem.q.batch_stride = 0;
  problem.lse_head_stride = total_q;
  problem.lse_batch_stride = 0;
}

}  // namespace attnkit
