// FA2 forward with variants (ALiBi, soft-capping, a mask_mod), on top of the per-head-dim
// matrices in fa2_forward_d*.cu (linked into the same executable).

#include <vector>

#include "attnkit/mask/alibi.cuh"
#include "attnkit/mask/softcap.cuh"
#include "support/test_variants.cuh"
#include "fa2_forward_cases.cuh"

namespace {

using namespace attnkit;
using namespace attnkit::testing;

template <class Element, int HeadDim>
void check_variants() {
  check_forward_variants<Element, HeadDim>([](const auto& variant) { return fa2_launcher<Element, HeadDim>(variant); });
}

}  // namespace

TEST_CASE("fa2 forward variants: ALiBi, soft-capping, mask_mod", "[fa2][forward][variant]") {
  check_variants<bfloat16_t, 128>();
  check_variants<half_t, 64>();
}

TEST_CASE("fa2 forward with the early-prefetch K/V pipeline", "[fa2][forward][pipeline]") {
  using EarlyBf16 = fa2::ForwardConfig<bfloat16_t, 128, 128, 64, 4, fa2::KVPipeline::early_prefetch>;
  using EarlyHalf = fa2::ForwardConfig<half_t, 256, 128, 64, 8, fa2::KVPipeline::early_prefetch>;
  for (const ForwardCase& c : forward_matrix()) {
    check_forward<bfloat16_t>(128, c, [](const AttentionProblem& problem) {
      fa2::forward<bfloat16_t, 128, NoVariant, EarlyBf16>(problem);
    });
    check_forward<half_t>(256, c, [](const AttentionProblem& problem) {
      fa2::forward<half_t, 256, NoVariant, EarlyHalf>(problem);
    });
  }
}
