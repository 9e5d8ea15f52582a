// The block-sparse FA2 forward (fa2::forward_block_sparse) against dense attention with the
// equivalent element mask (forward_block_sparse_cases.cuh): head dims 64 and 128 (kernel blocks
// of 128 and 64 keys under 128-key mask blocks), fp16 and bf16; and its refusals.

#include <catch2/matchers/catch_matchers_string.hpp>

#include "attnkit/fa2/forward.cuh"
#include "forward_block_sparse_cases.cuh"

namespace {

using namespace attnkit;
using namespace attnkit::testing;

struct Fa2SparseForward {
  static constexpr bool kDropout = true;
  template <class Element, int HeadDim, class Pattern>
  static void run(const AttentionProblem& problem, const BlockMaskView& mask, const Pattern& pattern) {
    fa2::forward_block_sparse<Element, HeadDim>(problem, mask, pattern);
  }
};

}  // namespace

TEST_CASE("fa2 block-sparse forward equals dense attention with the pattern's mask, d=64",
          "[fa2][forward][block_sparse]") {
  check_sparse_patterns<Fa2SparseForward, bfloat16_t, 64>();
  check_sparse_patterns<Fa2SparseForward, half_t, 64>();
}

TEST_CASE("fa2 block-sparse forward equals dense attention with the pattern's mask, d=128",
          "[fa2][forward][block_sparse]") {
  check_sparse_patterns<Fa2SparseForward, bfloat16_t, 128>();
  check_sparse_patterns<Fa2SparseForward, half_t, 128>();
}

TEST_CASE("fa2 block-sparse forward rejects masks that do not fit, naming the value", "[fa2][forward][block_sparse]") {
  void* const fake = reinterpret_cast<void*>(uintptr_t{1} << 20);
  const AttentionProblem problem = make_bshd_problem(DType::bf16, 1, 2, 2, 1000, 1000, 64, fake, fake, fake, fake);
  const HostBlockMask host = build_block_mask_host(1, 1, 1000, 1000, [](int, int, TileBounds) { return TileClass::full; },
                                                   64, 128);
  // block_m = 64 does not hold whole 128-row kernel blocks.
  CHECK_THROWS_WITH((fa2::forward_block_sparse<bfloat16_t, 64>(problem, host.view())),
                    Catch::Matchers::ContainsSubstring("block_m = 64"));
  const HostBlockMask short_mask = build_block_mask_host(1, 1, 500, 1000, [](int, int, TileBounds) { return TileClass::full; });
  CHECK_THROWS_WITH((fa2::forward_block_sparse<bfloat16_t, 64>(problem, short_mask.view())),
                    Catch::Matchers::ContainsSubstring("does not cover"));
}
