// FA2 forward with variants (ALiBi, soft-capping, a mask_mod), on top of the per-head-dim
// matrices in fa2_forward_d*.cu (linked into the same executable).

#include <vector>

#include "attnkit/mask/alibi.cuh"
#include "attnkit/mask/softcap.cuh"
#include "fa2_forward_cases.cuh"

namespace {

using namespace attnkit;
using namespace attnkit::testing;

// Drops a scattered third of the scores, so rows see holes no band produces, and says so per
// tile only when it must (always partial): tests the mask_mod path.
struct DropEveryThird : VariantBase {
  static constexpr bool has_mask_mod = true;
  ATTNKIT_HOST_DEVICE bool mask_mod(int batch, int head, int q, int k) const {
    return (q + 2 * k + batch + head) % 3 != 0;
  }
  ATTNKIT_HOST_DEVICE TileClass classify(int, int, TileBounds) const { return TileClass::partial; }
};

std::vector<ForwardCase> variant_cases() {
  std::vector<ForwardCase> cases;
  ForwardCase c;
  c.batch = 2;
  c.heads_q = 4;
  c.heads_kv = 2;
  c.seqlen_q = 300;
  c.seqlen_k = 333;
  c.seed = 900;
  cases.push_back(c);
  c.band = BandMask::causal();
  c.seed = 901;
  cases.push_back(c);
  c.input_stddev = 3.0;
  c.seed = 902;
  cases.push_back(c);
  return cases;
}

template <class Element, int HeadDim>
void check_variants() {
  const std::vector<float> slopes = {0.5f, 0.25f, 0.125f, 0.0625f};
  DeviceArray<float> slopes_device(slopes);
  for (const ForwardCase& c : variant_cases()) {
    Alibi alibi_host;
    alibi_host.slopes = slopes.data();
    alibi_host.key_offset = c.seqlen_k - c.seqlen_q;
    Alibi alibi_device = alibi_host;
    alibi_device.slopes = slopes_device.get();
    check_forward<Element>(HeadDim, c, fa2_launcher<Element, HeadDim>(alibi_device), alibi_host);

    const SoftCap softcap{{}, 5.f};
    check_forward<Element>(HeadDim, c, fa2_launcher<Element, HeadDim>(softcap), softcap);

    check_forward<Element>(HeadDim, c, fa2_launcher<Element, HeadDim>(DropEveryThird{}), DropEveryThird{});
  }
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
