// Hopper backward with variants (ALiBi, soft-capping, a mask_mod), a finite-difference check
// and its refusals, on top of the per-head-dim matrices in hopper_backward_d*.cu (same
// executable). Runs only on compute capability 9.0 devices; elsewhere every case is skipped.

#include <cstddef>
#include <memory>
#include <vector>

#include <catch2/matchers/catch_matchers_string.hpp>

#include "attnkit/mask/alibi.cuh"
#include "attnkit/mask/softcap.cuh"
#include "support/test_variants.cuh"
#include "hopper_backward_cases.cuh"

namespace {

using namespace attnkit;
using namespace attnkit::testing;

template <class Element, int HeadDim>
void check_variants() {
  check_backward_variants<Element, HeadDim>(
      [](const auto& variant) { return hopper_launcher<Element, HeadDim>(variant); },
      [](const auto& variant) { return hopper_backward_launcher<Element, HeadDim>(variant); });
}

}  // namespace

TEST_CASE("hopper backward variants: ALiBi, soft-capping, mask_mod", "[hopper][backward][variant]") {
  skip_unless_hopper();
  check_variants<bfloat16_t, 128>();
  check_variants<half_t, 64>();
}

TEST_CASE("hopper backward gradients match central finite differences", "[hopper][backward][finite-difference]") {
  skip_unless_hopper();
  ForwardCase c = finite_difference_case(8300);
  c.dropout = 0.f;
  check_backward<bfloat16_t>(64, c, hopper_launcher<bfloat16_t, 64>(), hopper_backward_launcher<bfloat16_t, 64>());
  c.band = BandMask::window(6, 2);
  c.seed = 8310;
  check_backward<bfloat16_t>(128, c, hopper_launcher<bfloat16_t, 128>(), hopper_backward_launcher<bfloat16_t, 128>());
}

TEST_CASE("hopper backward refuses what it does not run, naming it", "[hopper][backward][validation]") {
  skip_unless_hopper();
  ForwardCase c = dropout_cases(5)[0];
  const reference::Shape shape = reference::Shape::dense(2, 2, 2, 129, 129, 128, c.band);
  CaseTensors<bfloat16_t> tensors(c, 128, shape, std::vector<bfloat16_t>(shape.q_size()),
                                  std::vector<bfloat16_t>(shape.kv_size()), std::vector<bfloat16_t>(shape.kv_size()));
  DeviceArray<bfloat16_t> d_out(shape.q_size()), dq(shape.q_size()), dk(shape.kv_size()), dv(shape.kv_size());
  AttentionProblem problem = tensors.problem;
  BackwardGradients grads = make_gradients_like(problem, d_out.get(), dq.get(), dk.get(), dv.get());
  auto launch = [&] { hopper::backward<bfloat16_t, 128>(problem, grads); };
  CHECK_THROWS_WITH(launch(), Catch::Matchers::ContainsSubstring("dropout"));
  problem.dropout = {};
  grads.deterministic = true;
  CHECK_THROWS_WITH(launch(), Catch::Matchers::ContainsSubstring("deterministic"));
  grads.deterministic = false;
  problem.head_dim = 96;
  CHECK_THROWS_WITH(launch(), Catch::Matchers::ContainsSubstring("96"));
  problem.head_dim = 128;
  problem.lse = nullptr;
  CHECK_THROWS_WITH(launch(), Catch::Matchers::ContainsSubstring("LSE"));
}

TEST_CASE("hopper backward with a poisoned workspace of backward_workspace_bytes() from the caller",
          "[hopper][backward][workspace]") {
  skip_unless_hopper();
  // Every float of the workspace starts NaN: the rows of D and LSE that no query row owns (past
  // a varlen batch's packed rows, and the padding to a TMA box) must never reach a gradient.
  ForwardCase varlen;
  varlen.heads_q = 4;
  varlen.heads_kv = 2;
  varlen.varlen_q = {1, 17, 200, 129};
  varlen.varlen_k = {5, 17, 150, 300};
  varlen.band = BandMask::causal();
  varlen.seed = 7990;
  ForwardCase tiny;
  tiny.heads_q = tiny.heads_kv = 1;
  tiny.seqlen_q = 3;
  tiny.seqlen_k = 70;
  tiny.seed = 7995;
  for (const ForwardCase& c : {varlen, tiny}) {
    std::unique_ptr<DeviceArray<unsigned char>> workspace;  // outlives the launch
    const BackwardLauncher with_workspace = [&](const AttentionProblem& problem, const BackwardGradients& grads) {
      const std::size_t bytes = backward_workspace_bytes(problem);
      workspace = std::make_unique<DeviceArray<unsigned char>>(bytes);
      BackwardGradients given = grads;
      given.workspace = workspace->get();
      given.workspace_bytes = bytes;
      hopper::backward<bfloat16_t, 128>(problem, given);
    };
    check_backward<bfloat16_t>(128, c, hopper_launcher<bfloat16_t, 128>(), with_workspace);
  }
}
