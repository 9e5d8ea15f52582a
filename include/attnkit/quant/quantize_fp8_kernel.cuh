#pragma once
// FP8 quantization on the device (the host form is quant/fp8_quantize.cuh): a 16-bit
// (rows, heads, HeadDim) tensor, contiguous, to FP8 values of the same layout and their scales,
// one per tensor or one per `block_rows` rows of each head, optionally through the random
// Hadamard transform first (for Q and K; quant/hadamard.cuh).
//
//   attnkit::Fp8Quantization q{/*block_rows=*/128, /*hadamard=*/true, attnkit::RandomSigns{seed}};
//   attnkit::quantize_fp8_device<attnkit::float8_e4m3_t, 128>(k, rows, heads, k8, k_scales, q, stream);
//
// scales: (heads, ceil(rows / block_rows)) floats, or one with block_rows 0. One warp a row;
// per block, a CTA reads its rows twice (their largest magnitude, then the values), the second
// time from L2. Per tensor, three launches: the largest magnitude (atomicMax on the float's
// bits, which order as the values do for values ≥ 0), the values, the scale.

#include <cstdint>

#include <cuda_runtime_api.h>

#include "../core/element.cuh"
#include "../core/error.cuh"
#include "../core/fp8.cuh"
#include "../core/launch.cuh"
#include "fp8_quantize.cuh"
#include "warp_hadamard.cuh"

namespace attnkit {

struct Fp8Quantization {
  int64_t block_rows = 0;  // 0: one scale for the tensor
  bool hadamard = false;   // transform every row first (head_dim a power of two)
  RandomSigns signs{};
};

namespace detail {

inline constexpr int kQuantizeWarps = 8;
inline constexpr int64_t kPerTensorChunkRows = 128;

struct Fp8QuantizeParams {
  const void* x;
  void* out;
  float* scales;
  int64_t rows;
  int heads;
  int64_t chunk_rows;  // rows of one CTA: block_rows, or kPerTensorChunkRows per tensor
  int64_t row_blocks;  // scales per head (per block)
  bool hadamard;
  RandomSigns signs;
};

// The rows of this CTA's chunk (grid: chunks, heads).
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE int64_t chunk_first_row(const Fp8QuantizeParams& p) {
  return blockIdx.x * p.chunk_rows;
}
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE int64_t chunk_end_row(const Fp8QuantizeParams& p) {
  return chunk_first_row(p) + p.chunk_rows < p.rows ? chunk_first_row(p) + p.chunk_rows : p.rows;
}

// This lane's HeadDim / 32 consecutive features of row `row` of head `head`, transformed when asked.
template <class Element, int HeadDim>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void load_quantize_row(const Fp8QuantizeParams& p, int64_t row, int head, int lane,
                                                          float (&values)[HeadDim / 32]) {
  constexpr int K = HeadDim / 32;
  const Element* x = static_cast<const Element*>(p.x) + (row * p.heads + head) * HeadDim + lane * K;
#pragma unroll
  for (int i = 0; i < K; ++i) values[i] = to_float(x[i]);
  if (p.hadamard) warp_random_hadamard<HeadDim>(values, lane, p.signs);
}

// The largest magnitude over this CTA's rows of its head (every thread gets it).
template <class Element, int HeadDim>
ATTNKIT_DEVICE float chunk_amax(const Fp8QuantizeParams& p, int64_t first, int64_t end, int head) {
  __shared__ float warp_amax[kQuantizeWarps];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  float amax = 0.f;
  for (int64_t row = first + warp; row < end; row += kQuantizeWarps) {
    float values[HeadDim / 32];
    load_quantize_row<Element, HeadDim>(p, row, head, lane, values);
#pragma unroll
    for (int i = 0; i < HeadDim / 32; ++i) amax = fmaxf(amax, fabsf(values[i]));
  }
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, offset));
  if (lane == 0) warp_amax[warp] = amax;
  __syncthreads();
  amax = 0.f;
#pragma unroll
  for (int w = 0; w < kQuantizeWarps; ++w) amax = fmaxf(amax, warp_amax[w]);
  return amax;
}

// Rows [first, end) of `head`, each value over `scale`, to FP8.
template <class Fp8, class Element, int HeadDim>
ATTNKIT_DEVICE void quantize_chunk(const Fp8QuantizeParams& p, int64_t first, int64_t end, int head, float scale) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  constexpr int K = HeadDim / 32;
  for (int64_t row = first + warp; row < end; row += kQuantizeWarps) {
    float values[K];
    load_quantize_row<Element, HeadDim>(p, row, head, lane, values);
    Fp8* out = static_cast<Fp8*>(p.out) + (row * p.heads + head) * HeadDim + lane * K;
#pragma unroll
    for (int i = 0; i < K; ++i) out[i] = from_float<Fp8>(values[i] / scale);
  }
}

// Grid (chunks, heads). PerTensor: adds the chunk's largest magnitude into scales[0] (zeroed
// first); else quantizes the chunk (one block) with its own scale.
template <class Fp8, class Element, int HeadDim, bool PerTensor>
__global__ void __launch_bounds__(kQuantizeWarps * 32) fp8_block_kernel(const Fp8QuantizeParams p) {
  const int head = blockIdx.y;
  const int64_t first = chunk_first_row(p), end = chunk_end_row(p);
  const float amax = chunk_amax<Element, HeadDim>(p, first, end, head);
  if constexpr (PerTensor) {
    if (threadIdx.x == 0) atomicMax(reinterpret_cast<unsigned*>(p.scales), __float_as_uint(amax));
  } else {
    const float scale = fp8_scale_for<Fp8>(amax);
    if (threadIdx.x == 0) p.scales[head * p.row_blocks + blockIdx.x] = scale;
    quantize_chunk<Fp8, Element, HeadDim>(p, first, end, head, scale);
  }
}

// Per tensor, after the largest magnitude is in scales[0]: the values, then the scale.
template <class Fp8, class Element, int HeadDim>
__global__ void __launch_bounds__(kQuantizeWarps * 32) fp8_quantize_rows_kernel(const Fp8QuantizeParams p) {
  const int head = blockIdx.y;
  const float scale = fp8_scale_for<Fp8>(p.scales[0]);
  const int64_t first = chunk_first_row(p), end = chunk_end_row(p);
  quantize_chunk<Fp8, Element, HeadDim>(p, first, end, head, scale);
}

template <class Fp8>
__global__ void fp8_amax_to_scale_kernel(float* scales) {
  scales[0] = fp8_scale_for<Fp8>(scales[0]);
}

}  // namespace detail

template <class Fp8, int HeadDim, class Element>
void quantize_fp8_device(const Element* x, int64_t rows, int heads, Fp8* out, float* scales,
                         const Fp8Quantization& options, cudaStream_t stream = nullptr) {
  static_assert(HeadDim % 32 == 0 && HeadDim <= 256, "head dim must be a multiple of 32, at most 256");
  require(x != nullptr && out != nullptr && scales != nullptr, "quantize_fp8_device: x, out and scales must be set");
  require(rows > 0 && heads > 0 && heads <= 65535, "quantize_fp8_device: rows = ", rows, ", heads = ", heads,
          " (heads at most 65535)");
  require(options.block_rows >= 0, "quantize_fp8_device: block_rows = ", options.block_rows, " must be >= 0");
  require(!options.hadamard || is_hadamard_size(HeadDim), "quantize_fp8_device: the Hadamard transform needs a "
          "power-of-two head dim, got ", HeadDim);
  const bool per_tensor = options.block_rows == 0;
  detail::Fp8QuantizeParams p{x, out, scales, rows, heads,
                              per_tensor ? detail::kPerTensorChunkRows : options.block_rows, 0, options.hadamard,
                              options.signs};
  p.row_blocks = (rows + p.chunk_rows - 1) / p.chunk_rows;
  const dim3 grid(static_cast<unsigned>(p.row_blocks), static_cast<unsigned>(heads));
  constexpr int kThreads = detail::kQuantizeWarps * 32;
  if (per_tensor) {
    ATTNKIT_CUDA_CHECK(cudaMemsetAsync(scales, 0, sizeof(float), stream));
    detail::launch_kernel(detail::fp8_block_kernel<Fp8, Element, HeadDim, true>, grid, kThreads, 0, stream, p);
    detail::launch_kernel(detail::fp8_quantize_rows_kernel<Fp8, Element, HeadDim>, grid, kThreads, 0, stream, p);
    detail::launch_kernel(detail::fp8_amax_to_scale_kernel<Fp8>, dim3(1), 1, 0, stream, scales);
  } else {
    detail::launch_kernel(detail::fp8_block_kernel<Fp8, Element, HeadDim, false>, grid, kThreads, 0, stream, p);
  }
}

}  // namespace attnkit
