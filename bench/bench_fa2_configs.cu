// Tile-size exploration for the FA2 forward kernel: the same kernel under several
// ForwardConfigs, on a slice of the papers' grid, to choose DefaultForwardConfig from
// measurements (bench/README.md, "FA2 forward (sm_80)").

#include <string>
#include <vector>

#include "attention_tensors.cuh"
#include "attnkit/fa2/forward.cuh"
#include "harness.cuh"

namespace {

using namespace attnkit;
using namespace attnkit::bench;

std::vector<GridPoint> slice(int head_dim) {
  std::vector<GridPoint> grid;
  for (const bool causal : {false, true})
    for (const int seqlen : {512, 1024, 4096, 16384}) grid.push_back(GridPoint::paper(seqlen, head_dim, causal));
  return grid;
}

template <int HeadDim, int BlockM, int BlockN, int Warps, fa2::KVPipeline Pipeline, bool Separate = false>
void register_config() {
  using Config = fa2::ForwardConfig<bfloat16_t, HeadDim, BlockM, BlockN, Warps, Pipeline, Separate>;
  const std::string name = "fa2_fwd_m" + std::to_string(BlockM) + "n" + std::to_string(BlockN) + "w" +
                           std::to_string(Warps) +
                           (Pipeline == fa2::KVPipeline::early_prefetch ? "_early" : "_onebarrier") +
                           (Separate ? "_split" : "");
  register_grid(
      name,
      [](benchmark::State& state, const GridPoint& point) {
        GpuTimer timer;
        ForwardTensors tensors(point);
        time_on_gpu(state, timer, point.flops(false), forward_bytes(point), [&] {
          fa2::forward<bfloat16_t, HeadDim, NoVariant, Config>(tensors.problem, NoVariant{}, timer.stream());
        });
      },
      slice(HeadDim));
}

}  // namespace

int main(int argc, char** argv) {
  using fa2::KVPipeline;
  register_config<64, 128, 128, 4, KVPipeline::one_barrier>();
  register_config<64, 128, 128, 4, KVPipeline::one_barrier, true>();
  register_config<128, 128, 64, 4, KVPipeline::one_barrier>();
  register_config<128, 128, 64, 4, KVPipeline::one_barrier, true>();
  register_config<256, 128, 64, 8, KVPipeline::one_barrier>();
  register_config<256, 128, 64, 8, KVPipeline::one_barrier, true>();
  return run_benchmarks(argc, argv);
}
