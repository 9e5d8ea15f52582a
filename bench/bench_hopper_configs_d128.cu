#include "hopper_config_bench.cuh"

namespace attnkit::bench {
void register_hopper_configs_d128() {
  using hopper::ForwardConfig;
  using hopper::TileSchedule;
  register_hopper_config<ForwardConfig<bfloat16_t, 128, 128, 2, true, 2>>("cfg_n128_wg2");
  register_hopper_config<ForwardConfig<bfloat16_t, 128, 176, 2, true, 2>>("cfg_n176_wg2");
  register_hopper_config<ForwardConfig<bfloat16_t, 128, 128, 2, true, 2, TileSchedule::one_tile_per_cta>>(
      "cfg_n128_wg2_onetile");
  register_hopper_config<ForwardConfig<bfloat16_t, 128, 176, 2, true, 2, TileSchedule::one_tile_per_cta>>(
      "cfg_n176_wg2_onetile");
}
}  // namespace attnkit::bench
