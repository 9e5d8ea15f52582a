// Device memory of one training step of attention (forward + backward), bf16, b = 1, 16 heads,
// head dim 128, non-causal, seqlen 1k..64k: standard attention with the score matrices of all
// heads at once (as a framework materializes them), the FA1 kernels and the FA2 kernels.
//
// Measure: every buffer the step needs (Q, K, V, O, dO, dQ, dK, dV, LSE, the implementation's
// workspaces, cuBLAS's) is allocated and held until the backward ends, nothing is freed in
// between, and `device_bytes` is the device memory in use after the backward (cudaMemGetInfo)
// minus what was in use before the first allocation: the step's peak. `tensor_bytes` is the
// eight bf16 tensors alone. A point whose allocation fails is skipped with the error (standard
// attention runs out of memory where its s² matrices no longer fit). The timing (one
// iteration) is the forward + backward.

#include <cstddef>
#include <limits>
#include <memory>
#include <string>

#include "attention_tensors.cuh"
#include "attnkit/fa1/backward.cuh"
#include "attnkit/fa1/forward.cuh"
#include "attnkit/fa2/backward.cuh"
#include "attnkit/fa2/forward.cuh"
#include "attnkit/reference/standard_attention.cuh"
#include "harness.cuh"

namespace {

using namespace attnkit;
using namespace attnkit::bench;

constexpr int kHeadDim = 128;
constexpr int kHeads = 16;
constexpr int kSeqlens[] = {1024, 2048, 4096, 8192, 16384, 32768, 65536};

enum class Kind { standard, fa1, fa2 };

std::size_t bytes_in_use() {
  std::size_t free_bytes = 0, total_bytes = 0;
  ATTNKIT_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  return total_bytes - free_bytes;
}

void training_step(benchmark::State& state, Kind kind, int seqlen) {
  const GridPoint point{seqlen, kHeadDim, 1, kHeads, false};
  record_grid_point(state, point);
  ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());
  const std::size_t before = bytes_in_use();

  GpuTimer timer;
  ForwardTensors tensors(point);
  const AttentionProblem& problem = tensors.problem;
  const std::size_t elements = point.tensor_elements();
  DeviceBuffer<bfloat16_t> d_out = random_normal_buffer<bfloat16_t>(elements, 4);
  DeviceBuffer<bfloat16_t> d_q(elements), d_k(elements), d_v(elements);
  BackwardGradients grads = make_gradients_like(problem, d_out.get(), d_q.get(), d_k.get(), d_v.get());
  DeviceBuffer<unsigned char> forward_scratch, backward_scratch;
  std::unique_ptr<reference::StandardAttention<bfloat16_t>> standard;
  fa1::ForwardWorkspace fa1_state;
  if (kind == Kind::standard) {
    // No budget: all heads' S, P, dP, dS at once.
    standard = std::make_unique<reference::StandardAttention<bfloat16_t>>(std::numeric_limits<std::size_t>::max());
  } else {
    backward_scratch = DeviceBuffer<unsigned char>(backward_workspace_bytes(problem));
    grads.workspace = backward_scratch.get();
    grads.workspace_bytes = backward_scratch.bytes();
    if (kind == Kind::fa1) {
      forward_scratch = DeviceBuffer<unsigned char>(fa1::forward_workspace_bytes(problem));
      fa1_state = {forward_scratch.get(), forward_scratch.bytes()};
    }
  }
  ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());

  auto step = [&] {
    switch (kind) {
      case Kind::standard:
        standard->forward(problem, timer.stream());
        standard->backward(problem, grads.d_o, grads.d_q, grads.d_k, grads.d_v, timer.stream());
        break;
      case Kind::fa1:
        fa1::forward<bfloat16_t, kHeadDim>(problem, NoVariant{}, timer.stream(), fa1_state);
        fa1::backward<bfloat16_t, kHeadDim>(problem, grads, fa1_state, NoVariant{}, timer.stream());
        break;
      case Kind::fa2:
        fa2::forward<bfloat16_t, kHeadDim>(problem, NoVariant{}, timer.stream());
        fa2::backward<bfloat16_t, kHeadDim>(problem, grads, NoVariant{}, timer.stream());
        break;
    }
  };
  for (auto _ : state) state.SetIterationTime(timer.seconds(step));
  ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());
  const double used = double(bytes_in_use() - before);
  state.counters["device_bytes"] = benchmark::Counter(used);
  state.counters["device_GiB"] = benchmark::Counter(used / double(std::size_t(1) << 30));
  state.counters["tensor_bytes"] = benchmark::Counter(8.0 * elements * sizeof(bfloat16_t));
}

void register_kind(const char* prefix, Kind kind) {
  for (const int seqlen : kSeqlens) {
    const std::string name = std::string(prefix) + "/d128/noncausal/s" + std::to_string(seqlen);
    benchmark::RegisterBenchmark(name.c_str(),
                                 [kind, seqlen](benchmark::State& state) {
                                   try {
                                     training_step(state, kind, seqlen);
                                   } catch (const std::exception& e) {
                                     if (!state.error_occurred()) state.SkipWithError(e.what());
                                   }
                                 })
        ->Iterations(1)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_kind("memory_standard", Kind::standard);
  register_kind("memory_fa1", Kind::fa1);
  register_kind("memory_fa2", Kind::fa2);
  return run_benchmarks(argc, argv);
}
