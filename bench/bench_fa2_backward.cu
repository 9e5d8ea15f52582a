// The FlashAttention-2 backward kernel (fa2/backward.cuh), bf16, over the papers'
// grid. FLOPs count 2.5× the forward's. The forward runs once,
// untimed, to leave O and LSE; the workspace is allocated once, outside the timed loop, so the
// timing is the three kernels alone. Two more series on a few seqlens price the options:
// fa2_bwd_deterministic (ordered dQ accumulation) and fa2_bwd_dropout (p = 0.1), and
// fa2_bwd_m*n*w*c* series try other BackwardConfigs.

#include <cstddef>
#include <string>
#include <vector>

#include "attention_tensors.cuh"
#include "attnkit/attention/backward_problem.cuh"
#include "attnkit/fa2/backward.cuh"
#include "attnkit/fa2/forward.cuh"
#include "harness.cuh"

namespace {

using namespace attnkit;
using namespace attnkit::bench;

template <int HeadDim>
void launch_forward(const AttentionProblem& problem, cudaStream_t stream) {
  fa2::forward<bfloat16_t, HeadDim>(problem, NoVariant{}, stream);
}

enum class Mode { plain, deterministic, dropout };

// Times `launch_backward(problem, grads, stream)` at one grid point.
template <class LaunchBackward>
void backward(benchmark::State& state, const GridPoint& point, Mode mode, LaunchBackward launch_backward) {
  GpuTimer timer;
  ForwardTensors tensors(point);
  if (mode == Mode::dropout) tensors.problem.dropout = {0.1f, 2024, 0};
  BackwardTensors backward_tensors(point, tensors.problem);
  BackwardGradients& grads = backward_tensors.grads;
  grads.deterministic = mode == Mode::deterministic;
  // The random fills ran on the default stream; the timer's stream does not wait for it.
  ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());

  switch (point.head_dim) {
    case 64: launch_forward<64>(tensors.problem, timer.stream()); break;
    case 128: launch_forward<128>(tensors.problem, timer.stream()); break;
    case 256: launch_forward<256>(tensors.problem, timer.stream()); break;
    default: attnkit::detail::fail("no FA2 backward benchmark for head_dim = ", point.head_dim);
  }
  ATTNKIT_CUDA_CHECK(cudaStreamSynchronize(timer.stream()));
  time_on_gpu(state, timer, point.flops(true), backward_bytes(point),
              [&] { launch_backward(tensors.problem, grads, timer.stream()); });
}

// The default config of each head dim.
void default_backward(const AttentionProblem& problem, const BackwardGradients& grads, cudaStream_t stream) {
  switch (problem.head_dim) {
    case 64: return fa2::backward<bfloat16_t, 64>(problem, grads, NoVariant{}, stream);
    case 128: return fa2::backward<bfloat16_t, 128>(problem, grads, NoVariant{}, stream);
    case 256: return fa2::backward<bfloat16_t, 256>(problem, grads, NoVariant{}, stream);
    default: attnkit::detail::fail("no FA2 backward benchmark for head_dim = ", problem.head_dim);
  }
}

// Another BackwardConfig on a slice of the grid, to choose the defaults from measurements.
template <int HeadDim, int BlockM, int BlockN, int Warps, int ColumnGroups>
void register_config() {
  using Config = fa2::BackwardConfig<bfloat16_t, HeadDim, BlockM, BlockN, Warps, ColumnGroups>;
  std::vector<GridPoint> slice;
  for (const bool causal : {false, true})
    for (const int seqlen : {1024, 4096, 16384}) slice.push_back(GridPoint::paper(seqlen, HeadDim, causal));
  const std::string name = "fa2_bwd_m" + std::to_string(BlockM) + "n" + std::to_string(BlockN) + "w" +
                           std::to_string(Warps) + "c" + std::to_string(ColumnGroups);
  register_grid(
      name,
      [](benchmark::State& state, const GridPoint& point) {
        backward(state, point, Mode::plain, [](const AttentionProblem& problem, const BackwardGradients& grads,
                                               cudaStream_t stream) {
          fa2::backward<bfloat16_t, HeadDim, NoVariant, Config>(problem, grads, NoVariant{}, stream);
        });
      },
      slice);
}

std::vector<GridPoint> backward_grid(bool few_seqlens) {
  std::vector<GridPoint> grid;
  for (const GridPoint& point : paper_grid()) {
    if (few_seqlens && point.head_dim == 256) continue;
    if (few_seqlens && point.seqlen != 1024 && point.seqlen != 4096 && point.seqlen != 16384) continue;
    grid.push_back(point);
  }
  return grid;
}

void register_mode(const char* prefix, Mode mode, bool few_seqlens) {
  register_grid(
      prefix,
      [mode](benchmark::State& state, const GridPoint& point) { backward(state, point, mode, default_backward); },
      backward_grid(few_seqlens));
}

}  // namespace

int main(int argc, char** argv) {
  register_mode("fa2_bwd", Mode::plain, false);
  register_mode("fa2_bwd_deterministic", Mode::deterministic, true);
  register_mode("fa2_bwd_dropout", Mode::dropout, true);
  register_config<64, 64, 128, 8, 2>();
  register_config<128, 64, 128, 8, 1>();
  register_config<256, 64, 64, 8, 2>();
  return run_benchmarks(argc, argv);
}
