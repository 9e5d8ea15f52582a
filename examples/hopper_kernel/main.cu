// A user's own Hopper attention kernel, wired from attnkit's roles: the library's tile
// scheduler, producer, main loop and epilogue, with a score modification of its own (a
// temperature per head) and one more output the library's kernel does not write: the largest
// logit each query row saw (what QK-clip style training watches). Checked against the float64
// reference, then timed beside hopper::forward with the same variant.
//
// Exits 0 when the results match, 1 when they do not, 77 without a Hopper GPU and sm_90a build.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include <cuda_runtime_api.h>

#include <attnkit/hopper/forward.cuh>
#include <attnkit/host/device_buffer.cuh>
#include <attnkit/host/gpu_timer.cuh>
#include <attnkit/reference/cpu_attention.cuh>
#include <attnkit/reference/host_tensor.cuh>

namespace hopper = attnkit::hopper;
using attnkit::bfloat16_t;

// ---- the score modification: logits times a temperature per query head ----------------------
struct HeadTemperature : attnkit::VariantBase {
  static constexpr bool has_score_mod = true;
  const float* temperature = nullptr;  // [heads_q]

  template <class T>
  ATTNKIT_HOST_DEVICE T score_mod(T score, int, int head, int, int) const {
    return score * static_cast<T>(temperature[head]);
  }
  template <class T>
  ATTNKIT_HOST_DEVICE T score_mod_grad(T, int, int head, int, int) const {
    return static_cast<T>(temperature[head]);
  }
};

// ---- the kernel: the library's roles, plus the rows' largest logits -----------------------------
// max_logit: (batch, heads_q, seqlen_q), dense batches; -inf for a row that keeps no key.
template <class Config, class Variant>
__global__ void __launch_bounds__(Config::kThreads, 1)
    max_logit_forward(const __grid_constant__ attnkit::AttentionProblem problem,
                      const __grid_constant__ hopper::ForwardTensorMaps maps, const Variant variant,
                      const hopper::TileSchedule schedule, float* max_logit) {
#if ATTNKIT_DEVICE_SM90A
  auto& smem = hopper::aligned_shared_storage<typename Config::SharedStorage>();
  if (threadIdx.x == 0) {
    for (int c = 0; c < Config::kConsumerWarpgroups; ++c) smem.q_pipe[c].init();
    smem.k_pipe.init();
    smem.v_pipe.init();
  }
  __syncthreads();
  const hopper::ForwardTileScheduler<Config> scheduler(problem, schedule);
  auto walk_of = [&](const hopper::ForwardTile& tile) {
    return hopper::key_block_walk<Config>(attnkit::BandWalk{}, problem.band, tile);
  };

  if (hopper::warpgroup_index() == 0) {  // producer
    hopper::warpgroup_release_registers<Config::kProducerRegisters>();
    if (threadIdx.x != 0) return;
    hopper::ForwardProducer<Config> producer(smem, maps, false);
    scheduler.for_each_tile([&](const hopper::ForwardTile& tile) { producer.load(tile, walk_of(tile)); });
    return;
  }

  hopper::warpgroup_claim_registers<Config::kConsumerRegisters>();  // consumers
  const int consumer = hopper::warpgroup_index() - 1;
  hopper::ForwardMainloop<Config, Variant> mainloop(smem, consumer, problem.softmax_scale, problem.band);
  hopper::ForwardEpilogue<Config> epilogue(smem, maps, problem, consumer);
  hopper::PipelineState q_state, k_state;
  const int lane = threadIdx.x % 32;
  mainloop.begin();
  scheduler.for_each_tile([&](const hopper::ForwardTile& tile) {
    const auto walk = walk_of(tile);
    const int n_blocks = attnkit::warp_uniform(walk.size());
    typename Config::OutputTile o;
    o.fill(0.f);
    typename hopper::ForwardMainloop<Config, Variant>::Softmax softmax;
    softmax.reset();
    if (n_blocks > 0) mainloop.compute(tile, walk, n_blocks, variant, o, softmax, q_state, k_state);
    epilogue.store(tile, n_blocks, o, softmax, mainloop.scale_log2(), q_state);
    // The extra output: with a score_mod, the softmax's running maximum is in logit units. Each
    // row's maximum is already combined across the 4 lanes that share it; one of them writes.
    if (attnkit::layout::lane_in_group(lane) == 0) {
      const int warp_q0 = tile.q_begin + consumer * Config::kWarpgroupRows + (threadIdx.x % 128) / 32 * 16;
      float* const rows = max_logit + (int64_t(tile.coord.batch) * problem.heads_q + tile.coord.head) * problem.seqlen_q;
      for (int r = 0; r < Config::OutputTile::kThreadRows; ++r) {
        const int q = warp_q0 + Config::OutputTile::tile_row(lane, r);
        if (q < tile.q_end) rows[q] = softmax.row_max[r];
      }
    }
  });
  mainloop.end();
  epilogue.finish();
#endif
}

// ---- its launcher: the library's launch preparation, then the kernel ---------------------------
using Config = hopper::ForwardConfig<bfloat16_t, 128, 128, hopper::PingPong, hopper::PersistentGrid>;

void max_logit_attention(const attnkit::AttentionProblem& problem, const HeadTemperature& variant, float* max_logit,
                         cudaStream_t stream = nullptr) {
  attnkit::require(!problem.varlen(), "max_logit_attention: dense batches only");
  const hopper::ForwardLaunch launch = hopper::prepare_forward_launch<Config>(problem);
  const auto kernel = max_logit_forward<Config, HeadTemperature>;
  ATTNKIT_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, launch.shared_bytes));
  kernel<<<launch.grid, launch.threads, launch.shared_bytes, stream>>>(launch.problem, launch.maps, variant,
                                                                        launch.schedule, max_logit);
  ATTNKIT_CHECK_LAUNCH();
}

// ---- check and time ----------------------------------------------------------------------------
namespace {

struct Problem {
  attnkit::reference::Shape shape;
  std::vector<double> q, k, v;  // rounded to bf16, as the GPU sees them
  attnkit::DeviceBuffer<bfloat16_t> q_gpu, k_gpu, v_gpu, o_gpu;
  attnkit::DeviceBuffer<float> max_logit_gpu;
  attnkit::AttentionProblem problem;

  Problem(int batch, int heads, int seqlen, attnkit::BandMask band, uint64_t seed)
      : shape(attnkit::reference::Shape::dense(batch, heads, heads, seqlen, seqlen, Config::kHeadDim, band)) {
    auto bf16 = [](std::vector<double>& values) {
      std::vector<bfloat16_t> out(values.size());
      for (size_t i = 0; i < values.size(); ++i) {
        out[i] = attnkit::from_float<bfloat16_t>(static_cast<float>(values[i]));
        values[i] = attnkit::to_float(out[i]);
      }
      return attnkit::DeviceBuffer<bfloat16_t>(out);
    };
    q = attnkit::reference::random_normal(shape.q_size(), seed);
    k = attnkit::reference::random_normal(shape.kv_size(), seed + 1);
    v = attnkit::reference::random_normal(shape.kv_size(), seed + 2);
    q_gpu = bf16(q), k_gpu = bf16(k), v_gpu = bf16(v);
    o_gpu = attnkit::DeviceBuffer<bfloat16_t>(shape.q_size());
    max_logit_gpu = attnkit::DeviceBuffer<float>(size_t(batch) * heads * seqlen);
    problem = attnkit::make_bshd_problem(attnkit::DType::bf16, batch, heads, heads, seqlen, seqlen, Config::kHeadDim,
                                         q_gpu.get(), k_gpu.get(), v_gpu.get(), o_gpu.get());
    problem.band = band;
  }
};

// Per row, the largest kept score_mod(scale · q·k), from the bf16 inputs in float64.
std::vector<double> reference_max_logits(const Problem& p, const HeadTemperature& host_variant) {
  const auto& s = p.shape;
  const int seqlen = s.seqlen_q(0);
  std::vector<double> result(size_t(s.batch) * s.heads_q * seqlen, -INFINITY);
  for (int b = 0; b < s.batch; ++b)
    for (int h = 0; h < s.heads_q; ++h)
      for (int i = 0; i < seqlen; ++i)
        for (int j = 0; j < seqlen; ++j) {
          if (!s.band.keep(i, j, seqlen, seqlen)) continue;
          double dot = 0.0;
          for (int d = 0; d < s.head_dim; ++d) dot += p.q[s.q_index(b, i, h, d)] * p.k[s.kv_index(b, j, h, d)];
          double& best = result[(size_t(b) * s.heads_q + h) * seqlen + i];
          best = std::max(best, host_variant.score_mod(dot * s.scale(), b, h, i, j));
        }
  return result;
}

template <class Step>
double milliseconds_per_call(Step&& step) {
  step();  // warm-up
  constexpr int kRepeats = 20;
  attnkit::GpuTimer timer(nullptr);  // on the default stream, where the steps run
  return timer.seconds([&] {
    for (int i = 0; i < kRepeats; ++i) step();
  }) * 1e3 / kRepeats;
}

}  // namespace

int main() {
  int device_count = 0;
  if (cudaGetDeviceCount(&device_count) != cudaSuccess || device_count == 0 ||
      hopper::device_support(0) != hopper::DeviceSupport::available) {
    std::printf("hopper_kernel: skipped: needs a Hopper GPU and a build for sm_90a\n");
    return 77;
  }
  try {
    const int heads = 4;
    std::vector<float> temperatures = {1.0f, 0.5f, 2.0f, 1.5f};
    HeadTemperature host_variant, device_variant;
    host_variant.temperature = temperatures.data();
    const attnkit::DeviceBuffer<float> temperatures_gpu(temperatures);
    device_variant.temperature = temperatures_gpu.get();

    bool passed = true;
    for (const attnkit::BandMask band : {attnkit::BandMask::none(), attnkit::BandMask::causal()}) {
      Problem p(2, heads, 333, band, band.is_causal() ? 20 : 10);
      max_logit_attention(p.problem, device_variant, p.max_logit_gpu.get());
      ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());
      std::vector<double> o;
      for (const bfloat16_t x : p.o_gpu.download()) o.push_back(attnkit::to_float(x));
      std::vector<double> max_logit;
      for (const float x : p.max_logit_gpu.download()) max_logit.push_back(x);
      const auto exact = attnkit::reference::forward(p.shape, p.q, p.k, p.v, host_variant);
      const auto same_precision = attnkit::reference::forward(p.shape, p.q, p.k, p.v, host_variant,
                                                              attnkit::reference::RoundedLike<bfloat16_t>{});
      // The tolerance rule of attnkit's tests: at most twice a plain bf16 implementation's
      // error, plus slack; the logits are fp32 dot products of bf16 inputs.
      const double o_error = attnkit::reference::max_abs_diff(o, exact.o);
      const double o_bound = 2 * attnkit::reference::max_abs_diff(same_precision.o, exact.o) + 1e-3;
      const double logit_error = attnkit::reference::max_abs_diff(max_logit, reference_max_logits(p, host_variant));
      const bool ok = o_error <= o_bound && logit_error <= 1e-3;
      std::printf("hopper_kernel: %s: O error %.3g (bound %.3g), max-logit error %.3g: %s\n",
                  band.is_causal() ? "causal" : "no mask", o_error, o_bound, logit_error, ok ? "ok" : "MISMATCH");
      passed = passed && ok;
    }

    // Beside the library's own kernel with the same variant, config and shape.
    Problem p(4, 16, 4096, attnkit::BandMask::none(), 30);
    const double flops = 4.0 * 4 * 16 * 4096.0 * 4096.0 * Config::kHeadDim;
    const double own =
        milliseconds_per_call([&] { max_logit_attention(p.problem, device_variant, p.max_logit_gpu.get()); });
    const double library = milliseconds_per_call([&] {
      hopper::forward<bfloat16_t, Config::kHeadDim, HeadTemperature, Config>(p.problem, device_variant);
    });
    std::printf("hopper_kernel: b=4 h=16 s=4096 d=128 bf16: own kernel %.1f TFLOP/s, hopper::forward %.1f TFLOP/s "
                "(ratio %.3f)\n",
                flops / own / 1e9, flops / library / 1e9, library / own);
    return passed ? 0 : 1;
  } catch (const attnkit::error& failure) {
    std::printf("hopper_kernel: %s\n", failure.what());
    return 1;
  }
}
