// The FlashAttention-1 backward (fa1/backward.cuh), bf16, over the papers' grid: the
// 2022 schedule, to set beside bench_fa2_backward's numbers. FLOPs count 2.5× the forward's.
// The FA1 forward runs once, untimed, to leave O, m and ℓ; both workspaces are allocated once,
// outside the timed loop, so the timing is the three backward kernels alone.
//
// Counter besides the harness's: ctas (one per (batch, KV head): the parallelism FA1 has, where
// FA2 gives every key block its own CTA).

#include <cstddef>

#include "attention_tensors.cuh"
#include "attnkit/fa1/backward.cuh"
#include "attnkit/fa1/forward.cuh"
#include "harness.cuh"

namespace {

using namespace attnkit;
using namespace attnkit::bench;

template <int HeadDim>
void launch_pair(const AttentionProblem& problem, const BackwardGradients* grads, const fa1::ForwardWorkspace& state,
                 cudaStream_t stream) {
  if (grads == nullptr) return fa1::forward<bfloat16_t, HeadDim>(problem, NoVariant{}, stream, state);
  fa1::backward<bfloat16_t, HeadDim>(problem, *grads, state, NoVariant{}, stream);
}

// The forward (grads == nullptr) or the backward at this head dim.
void launch(const AttentionProblem& problem, const BackwardGradients* grads, const fa1::ForwardWorkspace& state,
            cudaStream_t stream) {
  switch (problem.head_dim) {
    case 64: return launch_pair<64>(problem, grads, state, stream);
    case 128: return launch_pair<128>(problem, grads, state, stream);
    case 256: return launch_pair<256>(problem, grads, state, stream);
    default: attnkit::detail::fail("no FA1 backward benchmark for head_dim = ", problem.head_dim);
  }
}

void backward(benchmark::State& state, const GridPoint& point) {
  state.counters["ctas"] = benchmark::Counter(double(point.batch) * point.heads);
  GpuTimer timer;
  ForwardTensors tensors(point);
  BackwardTensors backward_tensors(point, tensors.problem);
  BackwardGradients& grads = backward_tensors.grads;
  DeviceBuffer<unsigned char> forward_scratch(fa1::forward_workspace_bytes(tensors.problem));
  const fa1::ForwardWorkspace forward_state{forward_scratch.get(), forward_scratch.bytes()};
  // The random fills ran on the default stream; the timer's stream does not wait for it.
  ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());
  launch(tensors.problem, nullptr, forward_state, timer.stream());
  ATTNKIT_CUDA_CHECK(cudaStreamSynchronize(timer.stream()));
  time_on_gpu(state, timer, point.flops(true), backward_bytes(point),
              [&] { launch(tensors.problem, &grads, forward_state, timer.stream()); });
}

}  // namespace

int main(int argc, char** argv) {
  register_paper_grid("fa1_bwd", backward);
  return run_benchmarks(argc, argv);
}
