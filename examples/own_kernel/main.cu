// attnkit own kernel: an attention forward written from the raw blocks (tile loader, mma
// fragments, online softmax, element mask), with no attnkit launcher or kernel involved. It is
// the FA2 schedule at its plainest: one CTA per (64 query rows, head, batch), 4 warps of 16 rows
// each, one K/V block of 64 keys at a time, no pipelining, no tile skipping. Read it next to
// include/attnkit/fa2/forward_kernel.cuh to see what the real kernel adds.
//
// Checked against the float64 CPU reference, then timed. Exits 0 when the result matches, 1
// when it does not, 77 when there is no GPU.

#include <cmath>
#include <cstdio>
#include <vector>

#include <cuda_runtime_api.h>

#include <attnkit/host/device_buffer.cuh>
#include <attnkit/host/gpu_timer.cuh>
#include <attnkit/layout/mma_fragment.cuh>
#include <attnkit/layout/swizzle.cuh>
#include <attnkit/mask/mask_score_tile.cuh>
#include <attnkit/mma/row_reduce.cuh>
#include <attnkit/mma/warp_gemm.cuh>
#include <attnkit/reference/cpu_attention.cuh>
#include <attnkit/reference/host_tensor.cuh>
#include <attnkit/softmax/online_softmax.cuh>
#include <attnkit/tile/cp_async.cuh>
#include <attnkit/tile/global_to_shared.cuh>

using attnkit::bfloat16_t;

constexpr int kHeadDim = 64;
constexpr int kBlockM = 64;  // query rows per CTA: 16 per warp
constexpr int kBlockN = 64;  // keys per step
constexpr int kWarps = kBlockM / 16;
constexpr int kThreads = 32 * kWarps;

using QTile = attnkit::layout::SwizzledTile<kBlockM, kHeadDim>;   // swizzled: conflict-free ldmatrix
using KVTile = attnkit::layout::SwizzledTile<kBlockN, kHeadDim>;
using ScoreTile = attnkit::AccumulatorTile<1, kBlockN / 8>;        // a warp's 16 × 64 scores
using OutputTile = attnkit::AccumulatorTile<1, kHeadDim / 8>;      // a warp's 16 × 64 output

// Tensors in (batch, seqlen, heads, head_dim) order, one K/V head per query head.
struct Params {
  const bfloat16_t *q, *k, *v;
  bfloat16_t* o;
  int heads, seqlen;
  float scale_log2;  // softmax_scale · log2(e): the online softmax works in exp2
  bool causal;
};

__global__ void __launch_bounds__(kThreads) attention_forward(const Params p) {
  __shared__ __align__(128) bfloat16_t q_tile[QTile::kElements];
  __shared__ __align__(128) bfloat16_t k_tile[KVTile::kElements];
  __shared__ __align__(128) bfloat16_t v_tile[KVTile::kElements];
  const int q_begin = blockIdx.x * kBlockM, head = blockIdx.y, batch = blockIdx.z;
  const int thread = threadIdx.x, lane = thread % 32, warp_row0 = (thread / 32) * 16;
  const int64_t row_stride = int64_t(p.heads) * kHeadDim;
  const int64_t head_start = int64_t(batch) * p.seqlen * row_stride + head * kHeadDim;

  // Rows past the sequence are zero-filled by the loader; the mask below drops their keys.
  attnkit::load_tile_async<QTile, kThreads>(q_tile, p.q + head_start + q_begin * row_stride, row_stride,
                                            p.seqlen - q_begin, thread);
  attnkit::cp_async_commit();

  OutputTile o;
  o.fill(0.f);
  attnkit::OnlineSoftmax<OutputTile::kThreadRows> softmax;
  softmax.reset();
  const attnkit::BandMask band = p.causal ? attnkit::BandMask::causal() : attnkit::BandMask::none();
  const int key_end = p.causal ? min(p.seqlen, q_begin + kBlockM) : p.seqlen;

  for (int k_begin = 0; k_begin < key_end; k_begin += kBlockN) {
    __syncthreads();  // every warp is done with the previous K and V before they are replaced
    attnkit::load_tile_async<KVTile, kThreads>(k_tile, p.k + head_start + k_begin * row_stride, row_stride,
                                               p.seqlen - k_begin, thread);
    attnkit::load_tile_async<KVTile, kThreads>(v_tile, p.v + head_start + k_begin * row_stride, row_stride,
                                               p.seqlen - k_begin, thread);
    attnkit::cp_async_commit();
    attnkit::cp_async_wait<0>();
    __syncthreads();  // every thread's copies have landed

    // S = Q Kᵀ for this warp's 16 rows; masked scores (causal, keys past the end) become −inf.
    ScoreTile s;
    s.fill(0.f);
    attnkit::gemm_a_bt<bfloat16_t, QTile, KVTile>(s, q_tile, warp_row0, k_tile, lane);
    attnkit::mask_score_tile(s, band, attnkit::NoVariant{}, batch, head, q_begin + warp_row0, k_begin, p.seqlen,
                             p.seqlen, lane);
    // P = exp2(S·c − m·c) in place; the output so far is rescaled by exp2((m_old − m)·c).
    float rescale[OutputTile::kThreadRows];
    softmax.absorb(s, p.scale_log2, rescale, attnkit::AccumulatorRowReduce{});
    o.scale_rows(rescale);
    // O += P V with P straight from registers (the accumulator layout is the A operand's).
    attnkit::gemm_regs_b<bfloat16_t, KVTile>(o, attnkit::to_operand_a<bfloat16_t>(s), v_tile, lane);
  }

  float normalizer[OutputTile::kThreadRows], lse[OutputTile::kThreadRows];
  softmax.finalize(p.scale_log2, attnkit::AccumulatorRowReduce{}, normalizer, lse);
  o.scale_rows(normalizer);
  // Lane (g, t) of a warp holds rows g and g + 8, columns 2t and 2t + 1 of every 8-column
  // n-tile (layout::mma_c_coord): stored as one 4-byte pair each.
#pragma unroll
  for (int n = 0; n < OutputTile::kNTiles; ++n)
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const attnkit::layout::Coord at = attnkit::layout::mma_c_coord(lane, 2 * half);
      const int q = q_begin + warp_row0 + at.row;
      if (q < p.seqlen)
        *reinterpret_cast<uint32_t*>(p.o + head_start + q * row_stride + n * 8 + at.col) =
            attnkit::pack2<bfloat16_t>(o.v[0][n][2 * half], o.v[0][n][2 * half + 1]);
    }
}

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("own_kernel: no CUDA device, nothing run\n");
    return 77;
  }
  const int batch = 2, heads = 8, seqlen = 1000;  // 1000: the last blocks are partial
  bool ok = true;
  for (const bool causal : {false, true}) {
    const auto shape = attnkit::reference::Shape::dense(
        batch, heads, heads, seqlen, seqlen, kHeadDim, causal ? attnkit::BandMask::causal() : attnkit::BandMask::none());
    std::vector<double> inputs[3];
    std::vector<bfloat16_t> rounded[3];
    for (int t = 0; t < 3; ++t) {
      inputs[t] = attnkit::reference::random_normal(shape.q_size(), 10 * causal + t + 1);
      rounded[t].resize(inputs[t].size());
      for (size_t i = 0; i < inputs[t].size(); ++i) {  // the reference sees the bf16 values
        rounded[t][i] = attnkit::from_float<bfloat16_t>(static_cast<float>(inputs[t][i]));
        inputs[t][i] = attnkit::to_float(rounded[t][i]);
      }
    }
    const attnkit::DeviceBuffer<bfloat16_t> q(rounded[0]), k(rounded[1]), v(rounded[2]), o_device(shape.q_size());

    const Params params{q.get(), k.get(), v.get(), o_device.get(), heads, seqlen,
                        float(1.0 / std::sqrt(double(kHeadDim)) * 1.4426950408889634), causal};
    const dim3 grid((seqlen + kBlockM - 1) / kBlockM, heads, batch);
    attention_forward<<<grid, kThreads>>>(params);
    ATTNKIT_CUDA_CHECK(cudaGetLastError());
    ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());

    const std::vector<bfloat16_t> o_host = o_device.download();
    std::vector<double> o(o_host.size());
    for (size_t i = 0; i < o.size(); ++i) o[i] = attnkit::to_float(o_host[i]);
    const auto expected = attnkit::reference::forward(shape, inputs[0], inputs[1], inputs[2]);
    const double error = attnkit::reference::max_abs_diff(o, expected.o);

    attnkit::GpuTimer timer(nullptr);  // on the default stream, where the kernel runs
    const double milliseconds = timer.seconds([&] {
      for (int i = 0; i < 20; ++i) attention_forward<<<grid, kThreads>>>(params);
    }) * 1e3 / 20;
    const double flops = 4.0 * batch * heads * double(seqlen) * seqlen * kHeadDim / (causal ? 2 : 1);
    std::printf("%s: max |O - O_reference| = %.3g, %.3f ms, %.1f TFLOP/s (b=%d h=%d s=%d d=%d bf16)\n",
                causal ? "causal" : "non-causal", error, milliseconds, flops / (milliseconds * 1e-3) / 1e12, batch,
                heads, seqlen, kHeadDim);
    ok = ok && std::isfinite(error) && error < 2e-2;
  }
  std::printf("%s\n", ok ? "own_kernel: OK" : "own_kernel: MISMATCH");
  return ok ? 0 : 1;
}
