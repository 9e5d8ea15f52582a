// FA1 backward beyond the per-head-dim matrices in fa1_backward_d*.cu (linked into the same
// executable): variants with their derivatives (ALiBi, soft-capping, a mask_mod), gradients
// bitwise equal over 5 runs, a finite-difference check, and the launcher's input checks.

#include <cstdint>
#include <vector>

#include <catch2/matchers/catch_matchers_string.hpp>

#include "attnkit/mask/alibi.cuh"
#include "attnkit/mask/softcap.cuh"
#include "support/test_variants.cuh"
#include "fa1_backward_cases.cuh"

namespace {

using namespace attnkit;
using namespace attnkit::testing;

template <class Element, int HeadDim>
void check_variants() {
  for (const ForwardCase& c : variant_cases(9700)) {
    {
      INFO("variant: ALiBi");
      const AlibiPair alibi(c);
      const Fa1Launchers launchers = fa1_launchers<Element, HeadDim>(alibi.device);
      check_backward<Element>(HeadDim, c, launchers.forward, launchers.backward, alibi.host, alibi.device);
    }
    {
      INFO("variant: soft-capping at 5");
      const SoftCap softcap{{}, 5.f};
      const Fa1Launchers launchers = fa1_launchers<Element, HeadDim>(softcap);
      check_backward<Element>(HeadDim, c, launchers.forward, launchers.backward, softcap);
    }
    {
      INFO("variant: DropEveryThird (mask_mod)");
      const Fa1Launchers launchers = fa1_launchers<Element, HeadDim>(DropEveryThird{});
      check_backward<Element>(HeadDim, c, launchers.forward, launchers.backward, DropEveryThird{});
    }
    if constexpr (HeadDim == 128) {  // the per-entry binding does not depend on the head dim
      INFO("variant: RecencyBias (score_mod of the entry's lengths)");
      const Fa1Launchers launchers = fa1_launchers<Element, HeadDim>(RecencyBias{});
      check_backward<Element>(HeadDim, c, launchers.forward, launchers.backward, RecencyBias{});
    }
  }
}

// dQ, dK, dV of one FA1 forward + backward on fixed inputs, as stored (poisoned first).
std::vector<bfloat16_t> fa1_gradients(const ForwardCase& c) {
  constexpr int kHeadDim = 64;
  const reference::Shape shape =
      c.varlen_q.empty() ? reference::Shape::dense(c.batch, c.heads_q, c.heads_kv, c.seqlen_q, c.seqlen_k, kHeadDim, c.band)
                         : reference::Shape::varlen(c.heads_q, c.heads_kv, kHeadDim, c.varlen_q, c.varlen_k, c.band);
  std::vector<double> q = reference::random_normal(shape.q_size(), c.seed);
  std::vector<double> k = reference::random_normal(shape.kv_size(), c.seed + 1);
  std::vector<double> v = reference::random_normal(shape.kv_size(), c.seed + 2);
  std::vector<double> d_out_values = reference::random_normal(shape.q_size(), c.seed + 3);
  CaseTensors<bfloat16_t> tensors(c, kHeadDim, shape, round_to_elements<bfloat16_t>(q),
                                  round_to_elements<bfloat16_t>(k), round_to_elements<bfloat16_t>(v));
  DeviceArray<bfloat16_t> d_out(
      tensors.to_layout(round_to_elements<bfloat16_t>(d_out_values), CaseTensors<bfloat16_t>::Side::query));
  DeviceArray<bfloat16_t> dq(shape.q_size()), dk(shape.kv_size()), dv(shape.kv_size());
  const Fa1Launchers launchers = fa1_launchers<bfloat16_t, kHeadDim>();
  launchers.forward(tensors.problem);
  launchers.backward(tensors.problem, make_gradients_like(tensors.problem, d_out.get(), dq.get(), dk.get(), dv.get()));
  ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<bfloat16_t> all = dq.download();
  for (const auto* part : {&dk, &dv}) {
    const std::vector<bfloat16_t> values = part->download();
    all.insert(all.end(), values.begin(), values.end());
  }
  return all;
}

}  // namespace

TEST_CASE("fa1 backward variants: ALiBi, soft-capping, mask_mod", "[fa1][backward][variant]") {
  check_variants<bfloat16_t, 128>();
  check_variants<half_t, 64>();
}

TEST_CASE("fa1 backward: bitwise equal gradients over 5 runs", "[fa1][backward][deterministic]") {
  // Each CTA owns its dQ rows, so FA1 needs no deterministic mode: check that it is one, with
  // the forward rerun each time, and once more with dropout.
  std::vector<ForwardCase> cases = repeatability_cases(9800);
  ForwardCase with_dropout = cases.back();
  with_dropout.dropout = 0.1f;
  with_dropout.seed = 9850;
  cases.push_back(with_dropout);
  check_bitwise_repeatable(64, cases, [](const ForwardCase& c) { return [c] { return fa1_gradients(c); }; });
}

TEST_CASE("fa1 backward gradients match central finite differences", "[fa1][backward][finite-difference]") {
  check_fa1_backward<bfloat16_t, 64>(finite_difference_case(9830));
}

TEST_CASE("fa1 backward rejects bad launches with the value in the message", "[fa1][backward][validate]") {
  using Catch::Matchers::ContainsSubstring;
  // Valid-looking (aligned, non-null) pointers: the checks run before anything is read.
  void* const fake = reinterpret_cast<void*>(uintptr_t{1} << 20);
  const AttentionProblem problem = make_bshd_problem(DType::bf16, 1, 2, 2, 64, 64, 64, fake, fake, fake, fake);
  const BackwardGradients grads = make_gradients_like(problem, fake, fake, fake, fake);
  const std::size_t state_bytes = fa1::forward_workspace_bytes(problem);

  CHECK_THROWS_WITH((fa1::backward<bfloat16_t, 64>(problem, grads, {})), ContainsSubstring("forward_state.data is null"));
  CHECK_THROWS_WITH((fa1::backward<bfloat16_t, 64>(problem, grads, {fake, state_bytes - 4})),
                    ContainsSubstring(std::to_string(state_bytes - 4)) && ContainsSubstring(std::to_string(state_bytes)));
  CHECK_THROWS_WITH((fa1::backward<bfloat16_t, 128>(problem, grads, {fake, state_bytes})),
                    ContainsSubstring("head_dim = 64"));
  BackwardGradients no_d_o = grads;
  no_d_o.d_o.data = nullptr;
  CHECK_THROWS_WITH((fa1::backward<bfloat16_t, 64>(problem, no_d_o, {fake, state_bytes})), ContainsSubstring("d_o"));
}
