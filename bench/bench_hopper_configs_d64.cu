#include "hopper_config_bench.cuh"

namespace attnkit::bench {
void register_hopper_configs_d64() {
  using namespace hopper;  // ForwardConfig and its policies
  register_hopper_config<ForwardConfig<bfloat16_t, 64, 128, PingPong>>("cfg_n128_s2_pp_wg2");
  register_hopper_config<ForwardConfig<bfloat16_t, 64, 128, PingPong, PersistentGrid>>("cfg_n128_s2_pp_wg2_persistent");
  register_hopper_config<ForwardConfig<bfloat16_t, 64, 192, PingPong, PersistentGrid>>("cfg_n192_s2_pp_wg2_persistent");
  register_hopper_config<ForwardConfig<bfloat16_t, 64, 128, KVStages<3>, PingPong, PersistentGrid, ScoresAhead>>("cfg_n128_s3_pp_wg2_persistent_ahead");
  register_hopper_config<ForwardConfig<bfloat16_t, 64, 128, KVStages<3>, PersistentGrid, ScoresAhead>>("cfg_n128_s3_wg2_persistent_ahead");
  register_hopper_config<ForwardConfig<bfloat16_t, 64, 128, ConsumerGroups<3>, PingPong>>("cfg_n128_s2_pp_wg3");
  register_hopper_config<ForwardConfig<bfloat16_t, 64, 128, ConsumerGroups<3>, PingPong, PersistentGrid>>("cfg_n128_s2_pp_wg3_persistent");
}
}  // namespace attnkit::bench
