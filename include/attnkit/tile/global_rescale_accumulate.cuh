#pragma once
// An output accumulator that lives in global memory between a CTA's steps, rescaled row by row
// at each one: FlashAttention-1's O, which every (query block, K/V block) step reads, updates
// and writes back (Algorithm 1, lines 8 and 12):
//
//   O[r, :] ← old_scale[r] · O[r, :] + add_scale[r] · X[r, :]
//
// The accumulator is fp32 (rows of Cols floats, `row_stride` floats apart): a 16-bit O would be
// rounded once per K/V block, and over a long sequence those roundings add up to several times
// the error of a plain 16-bit attention. convert_rows() writes the final 16-bit output once.
//
// Ownership: the CTA's threads own 16-byte chunks (4 floats) of a (Rows × Cols) block of rows,
// chunk = thread + k·Threads, row-major, so a warp's accesses are whole coalesced lines. The
// thread that stages a chunk is the one that updates it, which is why staging needs only the
// thread's own cp.async wait and no barrier.

#include <cstdint>

#include "../core/element.cuh"
#include "../core/math.cuh"
#include "cp_async.cuh"

namespace attnkit {

template <int Rows, int Cols, int Threads>
struct RescaleAccumulateRows {
  static constexpr int kChunksPerRow = Cols / 4;
  static constexpr int kChunks = Rows * kChunksPerRow;
  static constexpr int kChunksPerThread = ceil_div(kChunks, Threads);
  static_assert(Cols % 4 == 0, "rows are moved 4 floats (16 bytes) at a time");

  // Starts copying the current values of rows [0, valid_rows) into `staged` (Rows × Cols floats,
  // row-major, 16-byte aligned), the part this thread will update; rows past valid_rows read as
  // 0. The caller commits and, before apply(), waits for the copy (cp_async_wait).
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE static void stage(float* staged, const float* accumulator, int64_t row_stride,
                                                       int valid_rows, int thread) {
#pragma unroll
    for (int k = 0; k < kChunksPerThread; ++k) {
      const int chunk = thread + k * Threads;
      if (kChunks % Threads == 0 || chunk < kChunks) {
        const int row = chunk / kChunksPerRow;
        const int col = chunk % kChunksPerRow * 4;
        const bool valid = row < valid_rows;
        cp_async_16(staged + row * Cols + col, accumulator + (valid ? row * row_stride + col : 0), valid);
      }
    }
  }

  // Writes old_scale[row] · staged + add_scale[row] · addend(row, col) back to rows
  // [0, valid_rows) of the accumulator, for this thread's chunks. `addend(row, col)` returns the
  // float4 X[row, col .. col + 3]; old_scale and add_scale hold one factor per row (any memory).
  template <class Addend>
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE static void apply(float* accumulator, int64_t row_stride, int valid_rows,
                                                       const float* staged, const float* old_scale,
                                                       const float* add_scale, const Addend& addend, int thread) {
#pragma unroll
    for (int k = 0; k < kChunksPerThread; ++k) {
      const int chunk = thread + k * Threads;
      const int row = chunk / kChunksPerRow;
      if ((kChunks % Threads == 0 || chunk < kChunks) && row < valid_rows) {
        const int col = chunk % kChunksPerRow * 4;
        const float4 old = *reinterpret_cast<const float4*>(staged + row * Cols + col);
        const float4 add = addend(row, col);
        const float a = old_scale[row];
        const float b = add_scale[row];
        *reinterpret_cast<float4*>(accumulator + row * row_stride + col) =
            make_float4(fmaf(a, old.x, b * add.x), fmaf(a, old.y, b * add.y), fmaf(a, old.z, b * add.z),
                        fmaf(a, old.w, b * add.w));
      }
    }
  }
};

// Sets rows [0, rows) of an accumulator to 0 (Algorithm 1, line 2), all `Threads` threads of the
// CTA storing 16 bytes each per pass.
template <int Cols, int Threads>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void clear_rows(float* accumulator, int64_t row_stride, int rows, int thread) {
  constexpr int kChunksPerRow = Cols / 4;
  for (int chunk = thread; chunk < rows * kChunksPerRow; chunk += Threads) {
    const int row = chunk / kChunksPerRow;
    const int col = chunk % kChunksPerRow * 4;
    *reinterpret_cast<float4*>(accumulator + row * row_stride + col) = make_float4(0.f, 0.f, 0.f, 0.f);
  }
}

// Rounds rows [0, rows) of an accumulator to Element and stores them to `output` (rows
// `output_row_stride` elements apart, 16-byte aligned), 8 elements per 16-byte store.
template <int Cols, int Threads, class Element>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void convert_rows(const float* accumulator, int64_t row_stride, Element* output,
                                                     int64_t output_row_stride, int rows, int thread) {
  constexpr int kChunksPerRow = Cols / 8;
  static_assert(Cols % 8 == 0, "rows are stored 8 elements (16 bytes) at a time");
  for (int chunk = thread; chunk < rows * kChunksPerRow; chunk += Threads) {
    const int row = chunk / kChunksPerRow;
    const int col = chunk % kChunksPerRow * 8;
    const float4 low = *reinterpret_cast<const float4*>(accumulator + row * row_stride + col);
    const float4 high = *reinterpret_cast<const float4*>(accumulator + row * row_stride + col + 4);
    const uint4 packed = make_uint4(pack2<Element>(low.x, low.y), pack2<Element>(low.z, low.w),
                                    pack2<Element>(high.x, high.y), pack2<Element>(high.z, high.w));
    *reinterpret_cast<uint4*>(output + row * output_row_stride + col) = packed;
  }
}

}  // namespace attnkit
