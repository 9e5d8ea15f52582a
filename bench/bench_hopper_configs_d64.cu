#include "hopper_config_bench.cuh"

namespace attnkit::bench {
void register_hopper_configs_d64() {
  using hopper::ForwardConfig;
  register_hopper_config<ForwardConfig<bfloat16_t, 64, 128, 2, true, 2>>("cfg_n128_s2_pp_wg2");
  register_hopper_config<ForwardConfig<bfloat16_t, 64, 128, 2, true, 2, true>>("cfg_n128_s2_pp_wg2_persistent");
  register_hopper_config<ForwardConfig<bfloat16_t, 64, 192, 2, true, 2, true>>("cfg_n192_s2_pp_wg2_persistent");
  register_hopper_config<ForwardConfig<bfloat16_t, 64, 128, 3, true, 2, true, true>>("cfg_n128_s3_pp_wg2_persistent_ahead");
  register_hopper_config<ForwardConfig<bfloat16_t, 64, 128, 3, false, 2, true, true>>("cfg_n128_s3_wg2_persistent_ahead");
  register_hopper_config<ForwardConfig<bfloat16_t, 64, 128, 2, true, 3>>("cfg_n128_s2_pp_wg3");
  register_hopper_config<ForwardConfig<bfloat16_t, 64, 128, 2, true, 3, true>>("cfg_n128_s2_pp_wg3_persistent");
}
}  // namespace attnkit::bench
