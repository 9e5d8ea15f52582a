// Hopper forward with variants (ALiBi, soft-capping, a mask_mod), every default config, one
// without the ping-pong schedule, and its refusals, on top of the per-head-dim matrices in
// hopper_forward_d*.cu (same executable).
// Runs only on compute capability 9.0 devices; elsewhere every case is skipped.

#include <vector>

#include <catch2/matchers/catch_matchers_string.hpp>
#include <cuda_runtime_api.h>

#include "attnkit/mask/alibi.cuh"
#include "attnkit/mask/softcap.cuh"
#include "support/test_variants.cuh"
#include "hopper_forward_cases.cuh"

namespace {

using namespace attnkit;
using namespace attnkit::testing;

template <class Element, int HeadDim>
void check_variants() {
  check_forward_variants<Element, HeadDim>([](const auto& variant) { return hopper_launcher<Element, HeadDim>(variant); });
}

}  // namespace

TEST_CASE("hopper forward variants: ALiBi, soft-capping, mask_mod", "[hopper][forward][variant]") {
  skip_unless_hopper();
  check_variants<bfloat16_t, 128>();
  check_variants<half_t, 64>();
}

// The default launcher picks one of two or three configs per head dim by sequence length and
// mask; here each config, and one without ping-pong on three stages, runs the whole matrix
// (unmasked and banded cases alike, whatever the launcher would pick for them).
TEST_CASE("hopper forward, every default config and one without ping-pong", "[hopper][forward][schedule]") {
  skip_unless_hopper();
  using Plain = hopper::ForwardConfig<bfloat16_t, 128, 128, hopper::KVStages<3>>;
  using Long64 = hopper::DefaultForwardConfig<half_t, 64>::type;
  using Long128 = hopper::DefaultForwardConfig<bfloat16_t, 128>::type;
  using Short128 = hopper::DefaultForwardConfig<half_t, 128>::short_type;
  using Banded64 = hopper::DefaultForwardConfig<bfloat16_t, 64>::banded_type;
  using Short256 = hopper::DefaultForwardConfig<bfloat16_t, 256>::short_type;  // banded beyond 1k
  for (const ForwardCase& c : forward_matrix()) {
    check_forward<bfloat16_t>(128, c, [](const AttentionProblem& problem) {
      hopper::forward<bfloat16_t, 128, NoVariant, Plain>(problem);
    });
    check_forward<half_t>(64, c, [](const AttentionProblem& problem) {
      hopper::forward<half_t, 64, NoVariant, Long64>(problem);
    });
    check_forward<bfloat16_t>(128, c, [](const AttentionProblem& problem) {
      hopper::forward<bfloat16_t, 128, NoVariant, Long128>(problem);
    });
    check_forward<half_t>(128, c, [](const AttentionProblem& problem) {
      hopper::forward<half_t, 128, NoVariant, Short128>(problem);
    });
    check_forward<bfloat16_t>(64, c, [](const AttentionProblem& problem) {
      hopper::forward<bfloat16_t, 64, NoVariant, Banded64>(problem);
    });
    check_forward<bfloat16_t>(256, c, [](const AttentionProblem& problem) {
      hopper::forward<bfloat16_t, 256, NoVariant, Short256>(problem);
    });
  }
}

TEST_CASE("hopper forward refuses what it does not run", "[hopper][forward][validation]") {
  skip_unless_hopper();
  std::vector<ForwardCase> cases = dropout_cases(5);
  CaseTensors<bfloat16_t> tensors(cases[0], 128, reference::Shape::dense(2, 2, 2, 129, 129, 128, cases[0].band),
                                  std::vector<bfloat16_t>(2 * 129 * 2 * 128), std::vector<bfloat16_t>(2 * 129 * 2 * 128),
                                  std::vector<bfloat16_t>(2 * 129 * 2 * 128));
  auto launch = [](const AttentionProblem& problem) { hopper::forward<bfloat16_t, 128>(problem); };
  CHECK_THROWS_WITH(launch(tensors.problem), Catch::Matchers::ContainsSubstring("dropout"));
  AttentionProblem varlen = tensors.problem;
  varlen.dropout = {};
  varlen.cu_seqlens_q = varlen.cu_seqlens_k = reinterpret_cast<const int*>(tensors.lse_device.get());
  CHECK_THROWS_WITH(launch(varlen), Catch::Matchers::ContainsSubstring("total_q"));
}
