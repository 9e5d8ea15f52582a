// Hopper forward on the persistent grid with the configs the defaults run one CTA per tile
// (hopper/forward_config.cuh), so that the tile loop stays tested on them too: d = 64 with
// three consumer groups (O in tiles of its own) and d = 128 with 176-key blocks (O staged in
// the Q tile); and d = 64's banded config (192-key blocks), whose own cases in the default
// launcher's matrix are short of the multi-tile ones here.
#include "hopper_forward_cases.cuh"

namespace attnkit::testing {
namespace {

template <class Config>
void run_persistent_cases() {
  skip_unless_hopper();
  const ForwardLauncher launcher = hopper_launcher<bfloat16_t, Config::kHeadDim, NoVariant, Config>();
  const std::vector<ForwardCase> matrix = forward_matrix();
  for (size_t i = 0; i < matrix.size(); i += 3)
    check_forward<bfloat16_t>(Config::kHeadDim, matrix[i], launcher);
  check_forward<bfloat16_t>(Config::kHeadDim, long_forward_cases()[0], launcher);
  for (const ForwardCase& c : persistent_grid_cases())
    check_forward<bfloat16_t>(Config::kHeadDim, c, launcher);
}

}  // namespace

TEST_CASE("hopper forward, persistent configs", "[hopper][forward][persistent]") {
  run_persistent_cases<hopper::ForwardConfig<bfloat16_t, 64, 128, hopper::ConsumerGroups<3>, hopper::PingPong, hopper::PersistentGrid>>();
  run_persistent_cases<hopper::ForwardConfig<bfloat16_t, 128, 176, hopper::PingPong, hopper::PersistentGrid>>();
  run_persistent_cases<hopper::DefaultForwardConfig<bfloat16_t, 64>::banded_type>();
}

}  // namespace attnkit::testing
