#pragma once
// The two small kernels around every backward schedule's main kernel (FA1, FA2, Hopper):
//   preprocess:  D = rowsum(dO ∘ O) per (row, query head), fp32, and the forward's LSE in log2
//                units (+inf for a row that kept no key, so exp2(s − LSE) is 0 there with no
//                test), read from what the forward saved: its LSE (SavedLse), or FA1's m and ℓ
//   postprocess: dQ = scale · dQ_accumulator, rounded to Element, stored with dQ's strides
// Both are memory-bound passes over (rows × heads × head dim); one warp handles one row of
// one head with 16-byte accesses.

#include <cstdint>

#include "../attention/backward_problem.cuh"
#include "../attention/sequence.cuh"
#include "../core/element.cuh"
#include "../core/math.cuh"
#include "../tile/cp_async.cuh"
#include "scratch.cuh"

namespace attnkit {

inline constexpr int kPrePostWarps = 4;

// The row statistics as fa2::forward and hopper::forward save them: LSE, natural log, −inf
// for a row that kept no key.
struct SavedLse {
  ATTNKIT_DEVICE float log2_lse(const AttentionProblem& problem, const SequenceSpan& span, int batch, int head,
                                int row) const {
    const float lse = lse_start(problem, span, batch, head)[row];
    return lse == negative_infinity() ? INFINITY : lse * kLog2e;
  }
};

// Grid: (ceil(seqlen_q / kPrePostWarps), heads_q, batch); warp w of block x takes row
// x · kPrePostWarps + w. D and LSE·log2(e) are laid out (heads_q, rows). `statistics` gives a
// row's LSE·log2(e): log2_lse(problem, span, batch, head, row), as SavedLse does.
template <class Element, int HeadDim, class RowStatistics = SavedLse>
__global__ void __launch_bounds__(kPrePostWarps * 32)
    backward_preprocess_kernel(const __grid_constant__ AttentionProblem problem, const TensorRef d_o, float* d_rows,
                               float* lse_log2_rows, const RowStatistics statistics = {}) {
  const int head = blockIdx.y, batch = blockIdx.z;
  const SequenceSpan span = locate_sequence(problem, batch);
  const int row = blockIdx.x * kPrePostWarps + threadIdx.x / 32;
  if (row >= span.seqlen_q) return;
  const int lane = threadIdx.x % 32;
  const bool varlen = problem.cu_seqlens_q != nullptr;
  const Element* o = sequence_start<const Element>(problem.o, span.q_row_offset, batch, head, varlen) +
                     row * problem.o.row_stride;
  const Element* dout =
      sequence_start<const Element>(d_o, span.q_row_offset, batch, head, varlen) + row * d_o.row_stride;
  constexpr int kChunks = HeadDim / 8;
  float sum = 0.f;
  for (int chunk = lane; chunk < kChunks; chunk += 32) {
    const uint4 o_bits = *reinterpret_cast<const uint4*>(o + chunk * 8);
    const uint4 do_bits = *reinterpret_cast<const uint4*>(dout + chunk * 8);
    const Element* o_values = reinterpret_cast<const Element*>(&o_bits);
    const Element* do_values = reinterpret_cast<const Element*>(&do_bits);
#pragma unroll
    for (int i = 0; i < 8; ++i) sum += to_float(o_values[i]) * to_float(do_values[i]);
  }
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
  if (lane == 0) {
    const int64_t at = head * (int64_t(problem.batch) * problem.seqlen_q) + scratch_row(problem, span, batch, row);
    d_rows[at] = sum;
    lse_log2_rows[at] = statistics.log2_lse(problem, span, batch, head, row);
  }
}

// Grid as the preprocess. dq_accumulator is laid out (rows, heads_q, head dim).
template <class Element, int HeadDim>
__global__ void __launch_bounds__(kPrePostWarps * 32)
    backward_postprocess_kernel(const __grid_constant__ AttentionProblem problem, const TensorRef d_q,
                                const float* dq_accumulator) {
  const int head = blockIdx.y, batch = blockIdx.z;
  const SequenceSpan span = locate_sequence(problem, batch);
  const int row = blockIdx.x * kPrePostWarps + threadIdx.x / 32;
  if (row >= span.seqlen_q) return;
  const int lane = threadIdx.x % 32;
  const bool varlen = problem.cu_seqlens_q != nullptr;
  const float* source =
      dq_accumulator + (scratch_row(problem, span, batch, row) * problem.heads_q + head) * HeadDim;
  Element* destination = sequence_start<Element>(d_q, span.q_row_offset, batch, head, varlen) + row * d_q.row_stride;
  constexpr int kChunks = HeadDim / 8;
  for (int chunk = lane; chunk < kChunks; chunk += 32) {
    const float4 low = *reinterpret_cast<const float4*>(source + chunk * 8);
    const float4 high = *reinterpret_cast<const float4*>(source + chunk * 8 + 4);
    const float s = problem.softmax_scale;
    uint4 packed;
    packed.x = pack2<Element>(low.x * s, low.y * s);
    packed.y = pack2<Element>(low.z * s, low.w * s);
    packed.z = pack2<Element>(high.x * s, high.y * s);
    packed.w = pack2<Element>(high.z * s, high.w * s);
    *reinterpret_cast<uint4*>(destination + chunk * 8) = packed;
  }
}

}  // namespace attnkit
