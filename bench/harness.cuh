#pragma once
// What every attnkit benchmark shares: the FLOP count the papers report, their benchmark grid,
// GPU timing (attnkit/host/gpu_timer.cuh) with an L2 flush, device buffers of random data
// (attnkit/host/device_buffer.cuh), and a main that records the GPU in the JSON context.
//
// A benchmark file registers one callable per grid and hands over to run_benchmarks:
//
//   int main(int argc, char** argv) {
//     attnkit::bench::register_paper_grid("mine_fwd", [](benchmark::State& state, const GridPoint& point) {
//       attnkit::GpuTimer timer;
//       ... allocate with DeviceBuffer / random_normal_buffer, build the problem ...
//       attnkit::bench::time_on_gpu(state, timer, point.flops(false), bytes, [&] { launch(timer.stream()); });
//     });
//     return attnkit::bench::run_benchmarks(argc, argv);
//   }
//
// An exception escaping a body (an allocation that fails, a shape a kernel rejects) skips that
// benchmark with the exception's message; the run goes on.
//
// Run with --benchmark_out=FILE --benchmark_out_format=json for the JSON results.
// Uses only Google Benchmark API present in both 1.7 and 1.8.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include "attnkit/core/element.cuh"
#include "attnkit/core/error.cuh"
#include "attnkit/host/device_buffer.cuh"
#include "attnkit/host/gpu_timer.cuh"

namespace attnkit::bench {

// FLOPs of attention as the FlashAttention papers count them: two GEMMs of 2·s_q·s_k·d each
// per head, half of them for causal, and 2.5× the forward for the backward (five GEMMs
// instead of two).
inline double attention_flops(int batch, int heads, int seqlen_q, int seqlen_k, int head_dim, bool causal,
                              bool backward) {
  double flops = 4.0 * batch * heads * double(seqlen_q) * seqlen_k * head_dim;
  if (causal) flops /= 2.0;
  if (backward) flops *= 2.5;
  return flops;
}

// ---------------------------------------------------------------------------------------------
// The papers' grid: 16k tokens per batch and hidden size 2048, so batch = 16384 / seqlen and
// heads = 2048 / head_dim; bf16 throughout.

inline constexpr int kPaperTokens = 16384;
inline constexpr int kPaperHidden = 2048;
inline constexpr int kPaperSeqlens[] = {512, 1024, 2048, 4096, 8192, 16384};
inline constexpr int kPaperHeadDims[] = {64, 128, 256};

struct GridPoint {
  int seqlen = 0;
  int head_dim = 0;
  int batch = 0;
  int heads = 0;
  bool causal = false;

  static GridPoint paper(int seqlen, int head_dim, bool causal) {
    return {seqlen, head_dim, kPaperTokens / seqlen, kPaperHidden / head_dim, causal};
  }
  double flops(bool backward) const {
    return attention_flops(batch, heads, seqlen, seqlen, head_dim, causal, backward);
  }
  // Elements of one (batch, seqlen, heads, head_dim) tensor.
  std::size_t tensor_elements() const { return std::size_t(batch) * seqlen * heads * head_dim; }
  // "d128/causal/s4096": head dim first so a JSON sorted by name groups the papers' plots.
  std::string name() const {
    return "d" + std::to_string(head_dim) + (causal ? "/causal" : "/noncausal") + "/s" + std::to_string(seqlen);
  }
};

// Head dim outermost, then causal, then seqlen: the order of the papers' figures.
inline std::vector<GridPoint> paper_grid() {
  std::vector<GridPoint> grid;
  for (const int head_dim : kPaperHeadDims)
    for (const bool causal : {false, true})
      for (const int seqlen : kPaperSeqlens) grid.push_back(GridPoint::paper(seqlen, head_dim, causal));
  return grid;
}

using GridBody = std::function<void(benchmark::State&, const GridPoint&)>;

// Records the point's arguments as counters, so the JSON carries them as numbers.
inline void record_grid_point(benchmark::State& state, const GridPoint& point) {
  state.counters["seqlen"] = benchmark::Counter(point.seqlen);
  state.counters["head_dim"] = benchmark::Counter(point.head_dim);
  state.counters["batch"] = benchmark::Counter(point.batch);
  state.counters["heads"] = benchmark::Counter(point.heads);
  state.counters["causal"] = benchmark::Counter(point.causal ? 1 : 0);
}

// Registers `prefix/<point.name()>` for every point of `grid` (the papers' by default), timed
// by the body through time_on_gpu (manual time, reported in milliseconds).
inline void register_grid(const std::string& prefix, GridBody body, const std::vector<GridPoint>& grid) {
  for (const GridPoint& point : grid) {
    const std::string name = prefix + "/" + point.name();
    benchmark::RegisterBenchmark(name.c_str(),
                                 [body, point](benchmark::State& state) {
                                   record_grid_point(state, point);
                                   try {
                                     body(state, point);
                                   } catch (const std::exception& e) {
                                     if (!state.error_occurred()) state.SkipWithError(e.what());
                                   }
                                 })
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }
}

inline void register_paper_grid(const std::string& prefix, GridBody body) {
  register_grid(prefix, std::move(body), paper_grid());
}

// ---------------------------------------------------------------------------------------------
// Timing.

// Overwrites the L2 cache with zeros on `stream` (defined with the buffers, below).
inline void flush_l2(cudaStream_t stream);

// Whether time_on_gpu flushes the L2 before each timed iteration by default: on, unless the
// benchmark ran with --attnkit_l2_flush=false (run_benchmarks reads the flag).
inline bool& l2_flush_by_default() {
  static bool flush = true;
  return flush;
}

struct TimingOptions {
  int warmup_iterations = 3;  // untimed: first-touch allocations, cuBLAS heuristics, clocks
  // Before each timed iteration, flush the L2 (flush_l2, outside the timed events): every
  // iteration starts from cold caches, and the host's launch work (argument checks, tensor
  // maps) overlaps the flush on the GPU instead of being timed as idle GPU time, as in the
  // peers' timing of PyTorch. The host's own cost per call (5-8 µs for hopper::forward) is a
  // separate question (bench/README.md, decisions: timing).
  bool flush_l2_each_iteration = l2_flush_by_default();
};

// Runs the benchmark loop: `launch` enqueues one iteration on timer.stream(); each iteration
// is timed with CUDA events and reported with SetIterationTime (after an L2 flush, unless
// options say otherwise). Sets the counters
//   TFLOPS  flops / mean seconds / 1e12 (a plain value, not a rate)
//   bytes   `bytes` per iteration (the caller's count of unavoidable HBM traffic)
// and the bytes_per_second rate. An exception from `launch` (e.g. an allocation that fails)
// skips the benchmark with its message instead of ending the run.
template <class Launch>
void time_on_gpu(benchmark::State& state, GpuTimer& timer, double flops, double bytes, Launch&& launch,
                 TimingOptions options = {}) {
  try {
    for (int i = 0; i < options.warmup_iterations; ++i) launch();
    ATTNKIT_CUDA_CHECK(cudaStreamSynchronize(timer.stream()));
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  double total_seconds = 0.0;
  for (auto _ : state) {
    try {
      if (options.flush_l2_each_iteration) flush_l2(timer.stream());
      const double seconds = timer.seconds(launch);
      state.SetIterationTime(seconds);
      total_seconds += seconds;
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      return;
    }
  }
  const auto iterations = static_cast<double>(state.iterations());
  if (iterations > 0 && total_seconds > 0.0)
    state.counters["TFLOPS"] = benchmark::Counter(flops * iterations / total_seconds / 1e12);
  state.counters["bytes"] = benchmark::Counter(bytes);
  state.SetBytesProcessed(static_cast<int64_t>(bytes * iterations));
}

// ---------------------------------------------------------------------------------------------
// Device buffers of random data (DeviceBuffer: attnkit/host/device_buffer.cuh).

// A buffer of `count` random normal elements.
template <class T>
DeviceBuffer<T> random_normal_buffer(std::size_t count, uint64_t seed, float stddev = 1.f) {
  DeviceBuffer<T> buffer(count);
  buffer.fill_normal(seed, 0.f, stddev);
  return buffer;
}

// 256 MB, five times the H100's/H200's 50 MB of L2 (as triton.testing.do_bench, with which
// the peers' script times PyTorch, does before each run). The buffer is allocated on first use and
// kept for the process.
inline void flush_l2(cudaStream_t stream) {
  static const DeviceBuffer<unsigned char> buffer(std::size_t(256) << 20);
  ATTNKIT_CUDA_CHECK(cudaMemsetAsync(buffer.get(), 0, buffer.bytes(), stream));
}

// ---------------------------------------------------------------------------------------------
// main.

// Adds a key to the JSON context (benchmark::AddCustomContext) and prints it.
inline void add_context(const std::string& key, const std::string& value) {
  benchmark::AddCustomContext(key, value);
  std::printf("%s: %s\n", key.c_str(), value.c_str());
}

// Initializes Google Benchmark, records the GPU (name, compute capability, SMs, memory,
// clocks, CUDA versions) in the context, and runs the registered benchmarks. Without a usable
// GPU it prints why and returns 77, the code CTest reads as "skipped".
inline int run_benchmarks(int argc, char** argv) {
  // --benchmark_list_tests needs no GPU; read it before Initialize consumes the flags.
  // --attnkit_l2_flush=false (ours, not Google Benchmark's): time without the L2 flush; taken out
  // of argv before Initialize sees it.
  bool list_only = false;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--benchmark_list_tests" || flag == "--benchmark_list_tests=true") list_only = true;
    if (flag == "--attnkit_l2_flush=false") {
      l2_flush_by_default() = false;
      continue;
    }
    argv[kept++] = argv[i];
  }
  argc = kept;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  if (list_only) {
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
  }

  int device_count = 0;
  const cudaError_t status = cudaGetDeviceCount(&device_count);
  if (status != cudaSuccess || device_count == 0) {
    std::printf("SKIPPED: no CUDA device (%s); benchmarks not run\n",
                status != cudaSuccess ? cudaGetErrorString(status) : "device count is 0");
    return 77;
  }
  int device = 0;
  cudaDeviceProp prop{};
  ATTNKIT_CUDA_CHECK(cudaGetDevice(&device));
  ATTNKIT_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  int runtime_version = 0, driver_version = 0, clock_khz = 0, memory_clock_khz = 0;
  ATTNKIT_CUDA_CHECK(cudaRuntimeGetVersion(&runtime_version));
  ATTNKIT_CUDA_CHECK(cudaDriverGetVersion(&driver_version));
  // cudaDeviceProp's clock fields are gone in CUDA 13; the attributes exist in 12 and 13.
  ATTNKIT_CUDA_CHECK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, device));
  ATTNKIT_CUDA_CHECK(cudaDeviceGetAttribute(&memory_clock_khz, cudaDevAttrMemoryClockRate, device));
  const auto version = [](int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); };

  add_context("l2_flush", l2_flush_by_default() ? "before each timed iteration" : "off");
  add_context("gpu_name", prop.name);
  add_context("gpu_compute_capability", std::to_string(prop.major) + "." + std::to_string(prop.minor));
  add_context("gpu_sm_count", std::to_string(prop.multiProcessorCount));
  add_context("gpu_memory_gib", std::to_string(double(prop.totalGlobalMem) / double(1ull << 30)));
  add_context("gpu_max_clock_mhz", std::to_string(clock_khz / 1000));
  add_context("gpu_memory_clock_mhz", std::to_string(memory_clock_khz / 1000));
  add_context("cuda_runtime_version", version(runtime_version));
  add_context("cuda_driver_version", version(driver_version));

  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace attnkit::bench
