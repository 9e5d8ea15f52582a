#pragma once
// What an attention backward pass takes besides the forward's AttentionProblem: the incoming
// gradient dO, where dQ, dK, dV go, and scratch memory.
//
// The forward's problem must describe the same Q, K, V, O and its LSE (lse is required: the
// backward recomputes P = exp(S·scale − LSE) instead of storing it). dO, dQ share the strides
// convention of Q/O (TensorRef, unit stride on the head dim); dK, dV that of K/V.
//
// Scratch: an fp32 dQ accumulator (rows × heads_q × head_dim, where rows = batch · seqlen_q, an
// upper bound of the packed rows for varlen), the turn counters of the deterministic mode
// (one int per 16 query rows and head), D = rowsum(dO ∘ O) and LSE·log2(e) (rows × heads_q each).
// backward_workspace_bytes() says how much; pass it in `workspace`, or leave it null to have
// the launcher take it from the stream-ordered allocator (cudaMallocAsync) for the call.

#include <cstddef>
#include <cstdint>

#include "problem.cuh"

namespace attnkit {

struct BackwardGradients {
  TensorRef d_o;  // read, like O
  TensorRef d_q;  // written, like Q
  TensorRef d_k;  // written, like K
  TensorRef d_v;  // written, like V
  void* workspace = nullptr;
  std::size_t workspace_bytes = 0;
  // Bitwise-reproducible dQ: the CTAs add their parts of a dQ block in a fixed order instead
  // of with fp32 atomics (dK and dV are reproducible either way). Costs some speed: a CTA may
  // wait for its turn: 16-17% at head dim 128, 24-27% at 64 on an H100 (bench/README.md).
  bool deterministic = false;
};

// Where the scratch buffers lie in the workspace: the fp32 dQ accumulator (rows, heads_q,
// head_dim) at offset 0, the turn counters (batch, heads_q, ceil(seqlen_q / 16)), then D and
// LSE·log2(e) (heads_q, rows each), each 256-byte aligned. Everything before D is zeroed by
// every call.
struct BackwardWorkspaceLayout {
  std::size_t rows;             // batch · seqlen_q: packed rows, an upper bound for varlen
  std::size_t counters_offset;  // bytes from the start to the turn counters
  std::size_t d_offset;         // bytes from the start to D
  std::size_t lse_log2_offset;  // bytes from the start to LSE·log2(e)
  std::size_t total;            // bytes in all
};

// Turn counters per (batch, head): one per 16 query rows, enough for any query block size.
ATTNKIT_HOST_DEVICE inline int turn_counters_per_head(int seqlen_q) { return (seqlen_q + 15) / 16; }

inline BackwardWorkspaceLayout backward_workspace_layout(const AttentionProblem& p) {
  auto round_up = [](std::size_t bytes) { return (bytes + 255) / 256 * 256; };
  BackwardWorkspaceLayout layout;
  layout.rows = static_cast<std::size_t>(p.batch) * static_cast<std::size_t>(p.seqlen_q);
  layout.counters_offset = round_up(layout.rows * p.heads_q * p.head_dim * sizeof(float));
  layout.d_offset = layout.counters_offset + round_up(static_cast<std::size_t>(p.batch) * p.heads_q *
                                                      turn_counters_per_head(p.seqlen_q) * sizeof(int));
  layout.lse_log2_offset = layout.d_offset + round_up(layout.rows * p.heads_q * sizeof(float));
  layout.total = layout.lse_log2_offset + round_up(layout.rows * p.heads_q * sizeof(float));
  return layout;
}

// Bytes of scratch the backward needs.
inline std::size_t backward_workspace_bytes(const AttentionProblem& p) { return backward_workspace_layout(p).total; }

// Gradients laid out like the tensors they belong to: dO and dQ with the strides of O and Q,
// dK and dV with those of K and V.
inline BackwardGradients make_gradients_like(const AttentionProblem& p, const void* d_o, void* d_q, void* d_k,
                                              void* d_v) {
  auto with_data = [](TensorRef layout, const void* data) {
    layout.data = const_cast<void*>(data);
    return layout;
  };
  BackwardGradients g;
  g.d_o = with_data(p.o, d_o);
  g.d_q = with_data(p.q, d_q);
  g.d_k = with_data(p.k, d_k);
  g.d_v = with_data(p.v, d_v);
  return g;
}

}  // namespace attnkit
