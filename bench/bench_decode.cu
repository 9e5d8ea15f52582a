// Decode over a KV cache: one new token per sequence, heads_q 32 / heads_kv 8 / head dim 128,
// bf16 (one Llama-3-8B layer), batch {1, 8, 32, 128} × context {1k .. 128k}, caches above
// 24 GiB skipped; contiguous, and paged with pages of 16 and 256 in shuffled order.
// Figure: GB/s = bytes of K and V read / time (what a decode step must move), and `of_copy`,
// that over the device-to-device copy bandwidth measured first in the same process (bytes
// read + written by a 2 GiB cudaMemcpy), the physical bound of a decode step.
// decode_splits/...: the short-context rows of batch 1 and 8 at forced split counts, the data
// the split heuristic (split_kv.cuh) is tuned on.

#include <algorithm>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "attnkit/decode/decode.cuh"
#include "harness.cuh"

namespace {

using namespace attnkit;
using namespace attnkit::bench;

constexpr int kHeadsQ = 32, kHeadsKV = 8, kHeadDim = 128;

double copy_bandwidth() {
  static const double measured = [] {
    const std::size_t bytes = std::size_t(2) << 30;
    DeviceBuffer<char> source(bytes), target(bytes);
    GpuTimer timer;
    auto copy = [&] { ATTNKIT_CUDA_CHECK(cudaMemcpyAsync(target.get(), source.get(), bytes, cudaMemcpyDeviceToDevice, timer.stream())); };
    for (int i = 0; i < 3; ++i) copy();
    std::vector<double> seconds;
    for (int i = 0; i < 20; ++i) seconds.push_back(timer.seconds(copy));
    std::sort(seconds.begin(), seconds.end());
    return 2.0 * bytes / seconds[seconds.size() / 2];
  }();
  return measured;
}

// forced_splits 0: the heuristic's count.
void decode_body(benchmark::State& state, int batch, int context, int page_size, int forced_splits = 0) {
  const bool paged = page_size > 0;
  const int pages_per_sequence = paged ? (context + page_size - 1) / page_size : 1;
  const int rows_per_page = paged ? page_size : context;
  const int pages = paged ? batch * pages_per_sequence : batch;
  const std::size_t cache_elements = std::size_t(pages) * rows_per_page * kHeadsKV * kHeadDim;
  GpuTimer timer;
  DeviceBuffer<bfloat16_t> k(cache_elements), v(cache_elements);
  DeviceBuffer<bfloat16_t> q(std::size_t(batch) * kHeadsQ * kHeadDim), o(q.size());
  k.fill_normal(1);
  v.fill_normal(2);
  q.fill_normal(3);
  std::vector<int> table(std::size_t(batch) * pages_per_sequence);
  std::iota(table.begin(), table.end(), 0);
  std::shuffle(table.begin(), table.end(), std::mt19937(7));
  DeviceBuffer<int> table_device(table.size()), seqlens_device(batch);
  const std::vector<int> seqlens(batch, context);
  ATTNKIT_CUDA_CHECK(cudaMemcpy(table_device.get(), table.data(), table.size() * sizeof(int), cudaMemcpyHostToDevice));
  ATTNKIT_CUDA_CHECK(cudaMemcpy(seqlens_device.get(), seqlens.data(), batch * sizeof(int), cudaMemcpyHostToDevice));
  const KVCache cache =
      paged ? make_paged_kv_cache(k.get(), v.get(), pages, page_size, kHeadsKV, kHeadDim, table_device.get(),
                                  pages_per_sequence, seqlens_device.get())
            : make_contiguous_kv_cache(k.get(), v.get(), batch, context, kHeadsKV, kHeadDim, seqlens_device.get());
  const DecodeProblem problem =
      make_decode_problem(DType::bf16, batch, kHeadsQ, 1, kHeadDim, q.get(), o.get(), cache, kHeadsKV);
  // The split workspace is allocated once, as a serving loop would.
  DecodeOptions options;
  options.splits = forced_splits;
  const int splits = decode_split_count<bfloat16_t, kHeadDim>(problem, options);
  options.splits = splits;
  options.workspace_bytes = decode_workspace_bytes(problem, splits);
  DeviceBuffer<char> workspace(std::max<std::size_t>(options.workspace_bytes, 256));
  options.workspace = workspace.get();
  const double kv_bytes = 2.0 * batch * kHeadsKV * double(context) * kHeadDim * sizeof(bfloat16_t);
  time_on_gpu(state, timer, 4.0 * batch * kHeadsQ * double(context) * kHeadDim, kv_bytes,
              [&] { decode<bfloat16_t, kHeadDim>(problem, NoVariant{}, options, timer.stream()); });
  if (state.iterations() > 0 && state.counters.count("TFLOPS") > 0) {
    // bytes / mean time, from the TFLOPS the harness computed over the same mean.
    const double seconds = 4.0 * batch * kHeadsQ * double(context) * kHeadDim / (state.counters["TFLOPS"] * 1e12);
    state.counters["GBps"] = benchmark::Counter(kv_bytes / seconds / 1e9);
    state.counters["of_copy"] = benchmark::Counter(kv_bytes / seconds / copy_bandwidth());
  }
  state.counters["splits"] = benchmark::Counter(splits);
}

// One row; an exception (an allocation that fails) skips it with its message.
void register_decode(const std::string& name, int batch, int context, int page_size, int forced_splits = 0) {
  benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& state) {
    try {
      decode_body(state, batch, context, page_size, forced_splits);
    } catch (const std::exception& e) {
      if (!state.error_occurred()) state.SkipWithError(e.what());
    }
  })->UseManualTime()->Unit(benchmark::kMicrosecond);
}

}  // namespace

int main(int argc, char** argv) {
  for (const int page_size : {0, 16, 256}) {
    for (const int batch : {1, 8, 32, 128}) {
      for (const int context : {1024, 4096, 16384, 65536, 131072}) {
        const double cache_bytes = 2.0 * batch * kHeadsKV * double(context) * kHeadDim * 2;
        if (cache_bytes > 24.0 * (1ull << 30)) continue;
        const std::string name = std::string("decode/") + (page_size == 0 ? "contiguous" : "paged" + std::to_string(page_size)) +
                                 "/b" + std::to_string(batch) + "/ctx" + std::to_string(context);
        register_decode(name, batch, context, page_size);
      }
    }
  }
  for (const int batch : {1, 8}) {
    for (const int context : {1024, 4096, 16384}) {
      for (const int splits : {1, 2, 4, 8, 16, 32, 64}) {
        const std::string name = "decode_splits/contiguous/b" + std::to_string(batch) + "/ctx" +
                                 std::to_string(context) + "/s" + std::to_string(splits);
        register_decode(name, batch, context, 0, splits);
      }
    }
  }
  return run_benchmarks(argc, argv);
}
