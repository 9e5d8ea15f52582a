// The Hopper (sm_90a) attention forward (hopper/forward.cuh), bf16, over the papers' grid, and
// the head dim 128 kernel of long sequences without the ping-pong schedule (what the
// turn-taking buys).

#include <vector>

#include "attention_tensors.cuh"
#include "attnkit/hopper/forward.cuh"
#include "harness.cuh"

namespace {

using namespace attnkit;
using namespace attnkit::bench;

// Config void: the launcher's own choice per problem (DefaultForwardConfig).
template <int HeadDim, class Config = void>
void forward(benchmark::State& state, const GridPoint& point) {
  GpuTimer timer;
  ForwardTensors tensors(point);
  time_on_gpu(state, timer, point.flops(false), forward_bytes(point), [&] {
    hopper::forward<bfloat16_t, HeadDim, NoVariant, Config>(tensors.problem, NoVariant{}, timer.stream());
  });
}

void forward_default(benchmark::State& state, const GridPoint& point) {
  switch (point.head_dim) {
    case 64: return forward<64>(state, point);
    case 128: return forward<128>(state, point);
    case 256: return forward<256>(state, point);
    default: attnkit::detail::fail("no Hopper forward benchmark for head_dim = ", point.head_dim);
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_paper_grid("hopper_fwd", forward_default);
  std::vector<GridPoint> d128;
  for (const GridPoint& point : paper_grid())
    if (point.head_dim == 128) d128.push_back(point);
  register_grid("hopper_fwd_no_pingpong",
                [](benchmark::State& state, const GridPoint& point) {
                  forward<128, hopper::ForwardConfig<bfloat16_t, 128, 176>>(state, point);
                },
                d128);
  return run_benchmarks(argc, argv);
}
