// Tile configurations of the Hopper forward (keys per block, K/V stages, consumer
// warpgroups, ping-pong), one translation unit per head dim: the data behind the defaults in
// hopper/forward_config.cuh (bench/README.md, Hopper forward: defaults per head dim).
#include "hopper_config_bench.cuh"

int main(int argc, char** argv) {
  attnkit::bench::register_hopper_configs_d64();
  attnkit::bench::register_hopper_configs_d128();
  attnkit::bench::register_hopper_configs_d256();
  return attnkit::bench::run_benchmarks(argc, argv);
}
