// The Hopper (sm_90a) attention backward (hopper/backward.cuh), bf16, over the papers' grid at
// head dims 64 and 128. FLOPs count 2.5× the forward's. The Hopper forward runs once, untimed,
// to leave O and LSE; the workspace is allocated outside the timed loop, so the timing is the
// three kernels (preprocess, main, postprocess) alone.

#include <vector>

#include "attention_tensors.cuh"
#include "attnkit/hopper/backward.cuh"
#include "attnkit/hopper/forward.cuh"
#include "harness.cuh"

namespace {

using namespace attnkit;
using namespace attnkit::bench;

template <int HeadDim, class Config = typename hopper::DefaultBackwardConfig<bfloat16_t, HeadDim>::type>
void backward(benchmark::State& state, const GridPoint& point) {
  GpuTimer timer;
  ForwardTensors tensors(point);
  BackwardTensors backward_tensors(point, tensors.problem);
  // The random fills ran on the default stream; the timer's stream does not wait for it.
  ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());
  hopper::forward<bfloat16_t, HeadDim>(tensors.problem, NoVariant{}, timer.stream());
  ATTNKIT_CUDA_CHECK(cudaStreamSynchronize(timer.stream()));
  time_on_gpu(state, timer, point.flops(true), backward_bytes(point), [&] {
    hopper::backward<bfloat16_t, HeadDim, NoVariant, Config>(tensors.problem, backward_tensors.grads, NoVariant{},
                                                             timer.stream());
  });
}

void backward_default(benchmark::State& state, const GridPoint& point) {
  switch (point.head_dim) {
    case 64: return backward<64>(state, point);
    case 128: return backward<128>(state, point);
    default: attnkit::detail::fail("no Hopper backward benchmark for head_dim = ", point.head_dim);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<GridPoint> grid;
  for (const GridPoint& point : paper_grid())
    if (hopper::is_supported_backward_head_dim(point.head_dim)) grid.push_back(point);
  register_grid("hopper_bwd", backward_default, grid);
  return run_benchmarks(argc, argv);
}
