#include "hopper_config_bench.cuh"

namespace attnkit::bench {
void register_hopper_configs_d128() {
  using namespace hopper;  // ForwardConfig and its policies
  register_hopper_config<ForwardConfig<bfloat16_t, 128, 128, PingPong>>("cfg_n128_s2_pp_wg2");
  register_hopper_config<ForwardConfig<bfloat16_t, 128, 128, PingPong, PersistentGrid>>("cfg_n128_s2_pp_wg2_persistent");
  register_hopper_config<ForwardConfig<bfloat16_t, 128, 144, PingPong, PersistentGrid>>("cfg_n144_s2_pp_wg2_persistent");
  register_hopper_config<ForwardConfig<bfloat16_t, 128, 176, PingPong>>("cfg_n176_s2_pp_wg2");
  register_hopper_config<ForwardConfig<bfloat16_t, 128, 176, PingPong, PersistentGrid>>("cfg_n176_s2_pp_wg2_persistent");
}
}  // namespace attnkit::bench
