#include "hopper_config_bench.cuh"

namespace attnkit::bench {
void register_hopper_configs_d256() {
  using hopper::ForwardConfig;
  using hopper::TileSchedule;
  register_hopper_config<ForwardConfig<bfloat16_t, 256, 80, 2, true, 2>>("cfg_n80_wg2");
  register_hopper_config<ForwardConfig<bfloat16_t, 256, 80, 2, true, 2, TileSchedule::one_tile_per_cta>>(
      "cfg_n80_wg2_onetile");
}
}  // namespace attnkit::bench
