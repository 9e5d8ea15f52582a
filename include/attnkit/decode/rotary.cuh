#pragma once
// Rotary position embedding (RoPE) and the cache append of a decode step, as device blocks:
//
//   rotate_pair         one feature pair by one angle
//   RotaryPairs         which features pair up (interleaved or half-split) and their angle
//   rotate_query_tile   a shared-memory tile of packed query rows, in place
//   append_kv_kernel    this step's K rows (rotated) and V rows into the cache
//
// Conventions (decode_problem.cuh): angle i of position p is row p, column i of the
// (positions, dim / 2) cos and sin tables; features at or past rotary.dim are not rotated.
// A position outside the tables (which the launcher checks where it knows the lengths) leaves
// its row unrotated rather than reading past them.

#include "../core/element.cuh"
#include "decode_problem.cuh"
#include "gqa_rows.cuh"

namespace attnkit {

// (x, y) → (x·cos − y·sin, x·sin + y·cos)
ATTNKIT_HOST_DEVICE ATTNKIT_FORCEINLINE void rotate_pair(float& x, float& y, float cos, float sin) {
  const float rotated_x = x * cos - y * sin;
  y = x * sin + y * cos;
  x = rotated_x;
}

struct RotaryPairs {
  int dim;
  bool interleaved;
  // Pair p (0 ≤ p < dim / 2): its two features; its angle is p in both forms.
  ATTNKIT_HOST_DEVICE int first(int p) const { return interleaved ? 2 * p : p; }
  ATTNKIT_HOST_DEVICE int second(int p) const { return interleaved ? 2 * p + 1 : p + dim / 2; }
};

// cos and sin of angle p at `position` (decode_problem.cuh's tables, Q's element type).
template <class Element>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE float2 rotary_angle(const RotaryEmbedding& rotary, int position, int p) {
  const int64_t at = static_cast<int64_t>(position) * (rotary.dim / 2) + p;
  return make_float2(to_float(static_cast<const Element*>(rotary.cos)[at]),
                     to_float(static_cast<const Element*>(rotary.sin)[at]));
}

// Rotates the query rows [0, valid_rows) of a SwizzledTile in shared memory (tile row r is
// packed row row0 + r). Token t is at position first_position + t when `per_token`, else
// every token at first_position (decode_problem.cuh). Every thread of the CTA takes part; the
// caller synchronizes before and after.
template <class SmemLayout, int Threads, class Element>
ATTNKIT_DEVICE void rotate_query_tile(Element* tile, const RotaryEmbedding& rotary, const GqaRows& rows, int row0,
                                      int valid_rows, int first_position, bool per_token, int thread) {
  const int half = rotary.dim / 2;
  const RotaryPairs pairs{rotary.dim, rotary.interleaved};
  for (int item = thread; item < valid_rows * half; item += Threads) {
    const int row = item / half;
    const int p = item % half;
    const int position = first_position + (per_token ? rows[row0 + row].token : 0);
    if (position < 0 || position >= rotary.positions) continue;
    Element& x_stored = tile[SmemLayout::offset(row, pairs.first(p))];
    Element& y_stored = tile[SmemLayout::offset(row, pairs.second(p))];
    float x = to_float(x_stored), y = to_float(y_stored);
    const float2 angle = rotary_angle<Element>(rotary, position, p);
    rotate_pair(x, y, angle.x, angle.y);
    x_stored = from_float<Element>(x);
    y_stored = from_float<Element>(y);
  }
}

// Writes this step's new keys (rotated) and values into the cache at logical positions
// seqlens[b] − leftpad[b] + t. Grid: (seqlen_new, heads_kv, batch); one row per CTA. A row
// whose slot is out of the cache (kv_cache.cuh) is dropped.
template <class Element>
__global__ void append_kv_kernel(const __grid_constant__ DecodeProblem problem, const FastDivisor page_size) {
  const int token = blockIdx.x;
  const int head_kv = blockIdx.y;
  const int batch = blockIdx.z;
  const KVCache& cache = problem.cache;
  const int leftpad = cache.leftpad != nullptr ? cache.leftpad[batch] : 0;
  const int position = cache.seqlens[batch] - leftpad + token;
  const CacheRows rows(cache, page_size, batch, head_kv);
  const CacheSlot at = position >= 0 ? rows.locate(position) : CacheSlot{-1, 0};
  if (!at.valid()) return;

  const auto source_row = [&](const TensorRef& t) {
    return static_cast<const Element*>(t.data) + batch * t.batch_stride + token * t.row_stride +
           head_kv * t.head_stride;
  };
  const Element* const k_in = source_row(problem.k_new);
  const Element* const v_in = source_row(problem.v_new);
  Element* const k_out = static_cast<Element*>(cache.k.data) + rows.k_offset(at, cache);
  Element* const v_out = static_cast<Element*>(cache.v.data) + rows.v_offset(at, cache);
  const int rotated = problem.rotary.enabled() ? problem.rotary.dim : 0;
  for (int f = threadIdx.x; f < problem.head_dim; f += blockDim.x) {
    v_out[f] = v_in[f];
    if (f >= rotated || position >= problem.rotary.positions) k_out[f] = k_in[f];
  }
  if (rotated > 0 && position < problem.rotary.positions) {
    const RotaryPairs pairs{rotated, problem.rotary.interleaved};
    const int half = rotated / 2;
    for (int p = threadIdx.x; p < half; p += blockDim.x) {
      float x = to_float(k_in[pairs.first(p)]), y = to_float(k_in[pairs.second(p)]);
      const float2 angle = rotary_angle<Element>(problem.rotary, position, p);
      rotate_pair(x, y, angle.x, angle.y);
      k_out[pairs.first(p)] = from_float<Element>(x);
      k_out[pairs.second(p)] = from_float<Element>(y);
    }
  }
}

}  // namespace attnkit
