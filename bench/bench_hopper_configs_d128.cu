#include "hopper_config_bench.cuh"

namespace attnkit::bench {
void register_hopper_configs_d128() {
  using hopper::ForwardConfig;
  register_hopper_config<ForwardConfig<bfloat16_t, 128, 128, 2, true, 2>>("cfg_n128_s2_pp_wg2");
  register_hopper_config<ForwardConfig<bfloat16_t, 128, 128, 2, true, 2, true>>("cfg_n128_s2_pp_wg2_persistent");
  register_hopper_config<ForwardConfig<bfloat16_t, 128, 144, 2, true, 2, true>>("cfg_n144_s2_pp_wg2_persistent");
  register_hopper_config<ForwardConfig<bfloat16_t, 128, 176, 2, true, 2>>("cfg_n176_s2_pp_wg2");
  register_hopper_config<ForwardConfig<bfloat16_t, 128, 176, 2, true, 2, true>>("cfg_n176_s2_pp_wg2_persistent");
}
}  // namespace attnkit::bench
