// The block-sparse Hopper forward (hopper::forward_block_sparse) against dense attention with
// the equivalent element mask (forward_block_sparse_cases.cuh, without its dropout case): head
// dims 64 and 128 in fp16 and bf16, 256 in bf16 (kernel blocks of 128, 128 and 64 keys under
// 128-key mask blocks); and its refusals. Runs only on compute capability 9.0 devices.

#include <catch2/matchers/catch_matchers_string.hpp>

#include "forward_block_sparse_cases.cuh"
#include "hopper_forward_cases.cuh"

namespace {

using namespace attnkit;
using namespace attnkit::testing;

struct HopperSparseForward {
  static constexpr bool kDropout = false;
  template <class Element, int HeadDim, class Pattern>
  static void run(const AttentionProblem& problem, const BlockMaskView& mask, const Pattern& pattern) {
    hopper::forward_block_sparse<Element, HeadDim>(problem, mask, pattern);
  }
};

}  // namespace

TEST_CASE("hopper block-sparse forward equals dense attention with the pattern's mask, d=64",
          "[hopper][forward][block_sparse]") {
  skip_unless_hopper();
  check_sparse_patterns<HopperSparseForward, bfloat16_t, 64>();
  check_sparse_patterns<HopperSparseForward, half_t, 64>();
}

TEST_CASE("hopper block-sparse forward equals dense attention with the pattern's mask, d=128",
          "[hopper][forward][block_sparse]") {
  skip_unless_hopper();
  check_sparse_patterns<HopperSparseForward, bfloat16_t, 128>();
  check_sparse_patterns<HopperSparseForward, half_t, 128>();
}

TEST_CASE("hopper block-sparse forward equals dense attention with the pattern's mask, d=256",
          "[hopper][forward][block_sparse]") {
  skip_unless_hopper();
  check_sparse_patterns<HopperSparseForward, bfloat16_t, 256>();
}

TEST_CASE("hopper block-sparse forward rejects masks that do not fit, naming the value",
          "[hopper][forward][block_sparse]") {
  skip_unless_hopper();
  void* const fake = reinterpret_cast<void*>(uintptr_t{1} << 20);
  const AttentionProblem problem = make_bshd_problem(DType::bf16, 1, 2, 2, 1000, 1000, 128, fake, fake, fake, fake);
  const auto all_full = [](int, int, TileBounds) { return TileClass::full; };
  // block_n = 64 does not hold whole 128-key kernel blocks at d = 128.
  const HostBlockMask narrow = build_block_mask_host(1, 1, 1000, 1000, all_full, 128, 64);
  CHECK_THROWS_WITH((hopper::forward_block_sparse<bfloat16_t, 128>(problem, narrow.view())),
                    Catch::Matchers::ContainsSubstring("block_n = 64"));
  const HostBlockMask short_mask = build_block_mask_host(1, 1, 500, 1000, all_full);
  CHECK_THROWS_WITH((hopper::forward_block_sparse<bfloat16_t, 128>(problem, short_mask.view())),
                    Catch::Matchers::ContainsSubstring("does not cover"));
}
