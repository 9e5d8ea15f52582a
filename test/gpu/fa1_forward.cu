// FA1 forward beyond the per-head-dim matrices in fa1_forward_d*.cu (linked into the same
// executable): variants (ALiBi, soft-capping, a mask_mod, a variant whose tile classes skip
// whole tiles), configs other than the default (two m-tiles per warp, eight warps), a
// workspace of the caller's, and the launcher's input checks.

#include <cstdint>
#include <vector>

#include <catch2/matchers/catch_matchers_string.hpp>

#include "attnkit/mask/alibi.cuh"
#include "attnkit/mask/softcap.cuh"
#include "support/test_variants.cuh"
#include "fa1_forward_cases.cuh"

namespace {

using namespace attnkit;
using namespace attnkit::testing;

// Attention within documents of 70 tokens: tiles across two documents are partial, tiles
// inside one are full, the rest are skipped. So rows first see a K/V block well after the
// first one, and steps are skipped between two visited ones (not at the band's edges only).
struct SameDocument : VariantBase {
  static constexpr bool has_mask_mod = true;
  static constexpr int kDocument = 70;
  ATTNKIT_HOST_DEVICE bool mask_mod(int, int, int q, int k) const { return q / kDocument == k / kDocument; }
  ATTNKIT_HOST_DEVICE TileClass classify(int, int, TileBounds t) const {
    const int q_first = t.q_begin / kDocument, q_last = (t.q_end - 1) / kDocument;
    const int k_first = t.k_begin / kDocument, k_last = (t.k_end - 1) / kDocument;
    if (q_last < k_first || k_last < q_first) return TileClass::skip;
    if (q_first == q_last && k_first == k_last && q_first == k_first) return TileClass::full;
    return TileClass::partial;
  }
};

template <class Element, int HeadDim>
void check_variants() {
  for (const ForwardCase& c : variant_cases(1900)) {
    {
      INFO("variant: ALiBi");
      const AlibiPair alibi(c);
      check_forward<Element>(HeadDim, c, fa1_launcher<Element, HeadDim>(alibi.device), alibi.host);
    }
    {
      INFO("variant: soft-capping at 5");
      const SoftCap softcap{{}, 5.f};
      check_forward<Element>(HeadDim, c, fa1_launcher<Element, HeadDim>(softcap), softcap);
    }
    {
      INFO("variant: DropEveryThird (mask_mod)");
      check_forward<Element>(HeadDim, c, fa1_launcher<Element, HeadDim>(DropEveryThird{}), DropEveryThird{});
    }
    if constexpr (HeadDim == 128) {  // the per-entry binding does not depend on the head dim
      INFO("variant: RecencyBias (score_mod of the entry's lengths)");
      check_forward<Element>(HeadDim, c, fa1_launcher<Element, HeadDim>(RecencyBias{}), RecencyBias{});
    }
    {
      INFO("variant: SameDocument (mask_mod, skipped tiles)");
      check_forward<Element>(HeadDim, c, fa1_launcher<Element, HeadDim>(SameDocument{}), SameDocument{});
    }
  }
}

}  // namespace

TEST_CASE("fa1 forward variants: ALiBi, soft-capping, mask_mod, skipped tiles", "[fa1][forward][variant]") {
  check_variants<bfloat16_t, 128>();
  check_variants<half_t, 64>();
  check_variants<bfloat16_t, 256>();
}

TEST_CASE("fa1 forward with other configs: two m-tiles per warp, eight warps", "[fa1][forward][config]") {
  // B_r = 32: every warp holds two m16 row tiles of the partial output and of its scores.
  using TwoRowTiles = fa1::ForwardConfig<bfloat16_t, 64, 32, 128, 4>;
  // W = 8: eight partials per row to combine, 16 keys per warp.
  using EightWarps = fa1::ForwardConfig<half_t, 128, 16, 128, 8>;
  for (const ForwardCase& c : fa1_forward_matrix()) {
    {
      INFO("config: B_r = 32, B_c = 128, 4 warps");
      check_forward<bfloat16_t>(64, c, [](const AttentionProblem& problem) {
        fa1::forward<bfloat16_t, 64, NoVariant, TwoRowTiles>(problem);
      });
    }
    {
      INFO("config: B_r = 16, B_c = 128, 8 warps");
      check_forward<half_t>(128, c, [](const AttentionProblem& problem) {
        fa1::forward<half_t, 128, NoVariant, EightWarps>(problem);
      });
    }
  }
}

TEST_CASE("fa1 forward with a workspace of the caller's", "[fa1][forward][workspace]") {
  INFO("workspace: poisoned, passed by the caller");
  for (const ForwardCase& c : variant_cases(2900)) {
    check_forward<bfloat16_t>(96, c, [](const AttentionProblem& problem) {
      // Poisoned scratch: the kernel must initialize m, ℓ and O itself (Algorithm 1, line 2).
      DeviceArray<unsigned char> scratch(fa1::forward_workspace_bytes(problem));
      fa1::forward<bfloat16_t, 96>(problem, NoVariant{}, nullptr, {scratch.get(), scratch.size()});
      ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());
    });
  }
}

TEST_CASE("fa1 forward rejects bad launches with the value in the message", "[fa1][forward][validate]") {
  using Catch::Matchers::ContainsSubstring;
  // Valid-looking (aligned, non-null) pointers: the checks run before anything is read.
  void* const fake = reinterpret_cast<void*>(uintptr_t{1} << 20);
  AttentionProblem problem = make_bshd_problem(DType::bf16, 1, 2, 2, 64, 64, 64, fake, fake, fake, fake);

  const std::size_t required = fa1::forward_workspace_bytes(problem);
  CHECK_THROWS_WITH((fa1::forward<bfloat16_t, 64>(problem, NoVariant{}, nullptr, {fake, required - 1})),
                    ContainsSubstring(std::to_string(required - 1)) && ContainsSubstring("forward_workspace_bytes"));
  void* const misaligned = reinterpret_cast<void*>((uintptr_t{1} << 20) + 16);
  CHECK_THROWS_WITH((fa1::forward<bfloat16_t, 64>(problem, NoVariant{}, nullptr, {misaligned, required})),
                    ContainsSubstring("256-byte aligned"));
  CHECK_THROWS_WITH((fa1::forward<bfloat16_t, 128>(problem)), ContainsSubstring("head_dim = 64"));

  problem.dropout.probability = 1.f;
  CHECK_THROWS_WITH((fa1::forward<bfloat16_t, 64>(problem)), ContainsSubstring("dropout probability = 1"));
}
