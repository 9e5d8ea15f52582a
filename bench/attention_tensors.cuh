#pragma once
// Benchmark support: the tensors of one grid point (BSHD, bf16, inputs N(0, 1), heads_kv =
// heads) and the HBM traffic any attention implementation must do on them.

#include <cstddef>

#include "attnkit/attention/backward_problem.cuh"
#include "attnkit/attention/problem.cuh"
#include "harness.cuh"

namespace attnkit::bench {

struct ForwardTensors {
  DeviceBuffer<bfloat16_t> q, k, v, o;
  DeviceBuffer<float> lse;
  AttentionProblem problem;

  explicit ForwardTensors(const GridPoint& point)
      : q(random_normal_buffer<bfloat16_t>(point.tensor_elements(), 1)),
        k(random_normal_buffer<bfloat16_t>(point.tensor_elements(), 2)),
        v(random_normal_buffer<bfloat16_t>(point.tensor_elements(), 3)),
        o(point.tensor_elements()),
        lse(std::size_t(point.batch) * point.heads * point.seqlen) {
    problem = make_bshd_problem(DType::bf16, point.batch, point.heads, point.heads, point.seqlen, point.seqlen,
                                point.head_dim, q.get(), k.get(), v.get(), o.get(), lse.get());
    if (point.causal) problem.band = BandMask::causal();
  }
};

// The backward's tensors for a ForwardTensors' `problem`: dO (random), dQ, dK, dV and the
// backward's workspace (backward_workspace_bytes), all wired into `grads`.
struct BackwardTensors {
  DeviceBuffer<bfloat16_t> d_out, d_q, d_k, d_v;
  DeviceBuffer<unsigned char> workspace;
  BackwardGradients grads;

  BackwardTensors(const GridPoint& point, const AttentionProblem& problem)
      : d_out(random_normal_buffer<bfloat16_t>(point.tensor_elements(), 4)),
        d_q(point.tensor_elements()),
        d_k(point.tensor_elements()),
        d_v(point.tensor_elements()),
        workspace(backward_workspace_bytes(problem)) {
    grads = make_gradients_like(problem, d_out.get(), d_q.get(), d_k.get(), d_v.get());
    grads.workspace = workspace.get();
    grads.workspace_bytes = workspace.bytes();
  }
};

// Read Q, K, V; write O and LSE.
inline double forward_bytes(const GridPoint& point) {
  return 4.0 * point.tensor_elements() * sizeof(bfloat16_t) +
         double(point.batch) * point.heads * point.seqlen * sizeof(float);
}

// Read Q, K, V, O, dO, LSE; write dQ, dK, dV.
inline double backward_bytes(const GridPoint& point) {
  return 8.0 * point.tensor_elements() * sizeof(bfloat16_t) +
         double(point.batch) * point.heads * point.seqlen * sizeof(float);
}

}  // namespace attnkit::bench
