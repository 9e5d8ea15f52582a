#pragma once
// Shared by the Hopper tile-config exploration (bench_hopper_configs*.cu): times one
// hopper::ForwardConfig on a slice of the papers' grid (s = 1k, 4k, 16k; causal and not).

#include <string>
#include <vector>

#include "attention_tensors.cuh"
#include "attnkit/hopper/forward.cuh"
#include "harness.cuh"

namespace attnkit::bench {

template <class Config>
void register_hopper_config(const std::string& name) {
  std::vector<GridPoint> slice;
  for (const GridPoint& point : paper_grid())
    if (point.head_dim == Config::kHeadDim && (point.seqlen == 1024 || point.seqlen == 4096 || point.seqlen == 16384))
      slice.push_back(point);
  register_grid(name, [](benchmark::State& state, const GridPoint& point) {
    GpuTimer timer;
    ForwardTensors tensors(point);
    time_on_gpu(state, timer, point.flops(false), forward_bytes(point), [&] {
      hopper::forward<bfloat16_t, Config::kHeadDim, NoVariant, Config>(tensors.problem, NoVariant{}, timer.stream());
    });
  }, slice);
}

void register_hopper_configs_d64();
void register_hopper_configs_d128();
void register_hopper_configs_d256();

}  // namespace attnkit::bench
