#include "hopper_config_bench.cuh"

namespace attnkit::bench {
void register_hopper_configs_d256() {
  using namespace hopper;  // ForwardConfig and its policies
  register_hopper_config<ForwardConfig<bfloat16_t, 256, 80, PingPong>>("cfg_n80_s2_pp_wg2");
  register_hopper_config<ForwardConfig<bfloat16_t, 256, 80, PingPong, PersistentGrid>>("cfg_n80_s2_pp_wg2_persistent");
  register_hopper_config<ForwardConfig<bfloat16_t, 256, 64, PingPong, PersistentGrid>>("cfg_n64_s2_pp_wg2_persistent");
}
}  // namespace attnkit::bench
