// FA2 backward with variants (ALiBi, soft-capping, a mask_mod), the deterministic mode, a
// finite-difference check, its host-side validation (head dim, LSE, workspace size) and a
// user-provided workspace, on top of the per-head-dim matrices in fa2_backward_d*.cu (linked
// into the same executable).

#include <algorithm>
#include <cctype>
#include <memory>
#include <string>
#include <vector>

#include "attnkit/mask/alibi.cuh"
#include "attnkit/mask/softcap.cuh"
#include "support/test_variants.cuh"
#include "fa2_backward_cases.cuh"

namespace {

using namespace attnkit;
using namespace attnkit::testing;

template <class Element, int HeadDim>
void check_variants() {
  check_backward_variants<Element, HeadDim>(
      [](const auto& variant) { return fa2_launcher<Element, HeadDim>(variant); },
      [](const auto& variant) { return fa2_backward_launcher<Element, HeadDim>(variant); });
}

// A small problem with its forward already run (O and LSE written) and gradient buffers, for
// the tests that call the backward launcher directly.
struct PreparedBackward {
  static constexpr int kHeadDim = 64;
  ForwardCase c;
  reference::Shape shape;
  std::vector<double> q, k, v;
  CaseTensors<bfloat16_t> tensors;
  DeviceArray<bfloat16_t> d_out, dq, dk, dv;
  BackwardGradients grads;

  explicit PreparedBackward(const ForwardCase& given = make_case())
      : c(given),
        shape(c.varlen_q.empty()
                  ? reference::Shape::dense(c.batch, c.heads_q, c.heads_kv, c.seqlen_q, c.seqlen_k, kHeadDim, c.band)
                  : reference::Shape::varlen(c.heads_q, c.heads_kv, kHeadDim, c.varlen_q, c.varlen_k, c.band)),
        q(reference::random_normal(shape.q_size(), c.seed)),
        k(reference::random_normal(shape.kv_size(), c.seed + 1)),
        v(reference::random_normal(shape.kv_size(), c.seed + 2)),
        tensors(c, kHeadDim, shape, round_to_elements<bfloat16_t>(q), round_to_elements<bfloat16_t>(k),
                round_to_elements<bfloat16_t>(v)),
        d_out(shape.q_size()),
        dq(shape.q_size()),
        dk(shape.kv_size()),
        dv(shape.kv_size()) {
    std::vector<double> d_out_values = reference::random_normal(shape.q_size(), c.seed + 3);
    d_out.upload(tensors.to_layout(round_to_elements<bfloat16_t>(d_out_values), CaseTensors<bfloat16_t>::Side::query));
    fa2::forward<bfloat16_t, kHeadDim>(tensors.problem);
    ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());
    grads = make_gradients_like(tensors.problem, d_out.get(), dq.get(), dk.get(), dv.get());
  }

  // dQ, dK, dV of one backward call, as stored (poisoned first, so a stale value cannot pass).
  std::vector<bfloat16_t> run(bool deterministic) {
    dq.poison();
    dk.poison();
    dv.poison();
    BackwardGradients given = grads;
    given.deterministic = deterministic;
    fa2::backward<bfloat16_t, kHeadDim>(tensors.problem, given);
    ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<bfloat16_t> all = dq.download();
    for (const auto* part : {&dk, &dv}) {
      const std::vector<bfloat16_t> values = part->download();
      all.insert(all.end(), values.begin(), values.end());
    }
    return all;
  }

  static ForwardCase make_case() {
    ForwardCase c;
    c.batch = 2;
    c.heads_q = 4;
    c.heads_kv = 2;
    c.seqlen_q = 100;
    c.seqlen_k = 150;
    c.band = BandMask::causal();
    c.seed = 7950;
    return c;
  }
};

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char ch) { return std::tolower(ch); });
  return text;
}

// Runs `call`, which must throw attnkit::error; returns its message ("" when nothing was
// thrown, after failing the test).
template <class Call>
std::string error_message(Call&& call) {
  try {
    call();
  } catch (const attnkit::error& e) {
    return e.what();
  }
  FAIL_CHECK("no attnkit::error was thrown");
  return "";
}

}  // namespace

TEST_CASE("fa2 backward variants: ALiBi, soft-capping, mask_mod", "[fa2][backward][variant]") {
  check_variants<bfloat16_t, 128>();
  check_variants<half_t, 64>();
}

TEST_CASE("fa2 backward, deterministic mode: bitwise equal gradients over 5 runs", "[fa2][backward][deterministic]") {
  // The forward runs once; the backward five times on its outputs.
  check_bitwise_repeatable(PreparedBackward::kHeadDim, repeatability_cases(8100), [](const ForwardCase& c) {
    auto prepared = std::make_shared<PreparedBackward>(c);
    return [prepared] { return prepared->run(true); };
  });
}

TEST_CASE("fa2 backward, deterministic mode: gradients match the reference", "[fa2][backward][deterministic]") {
  const BackwardLauncher deterministic = [](const AttentionProblem& problem, const BackwardGradients& grads) {
    BackwardGradients given = grads;
    given.deterministic = true;
    fa2::backward<bfloat16_t, 64>(problem, given);
  };
  for (const ForwardCase& c : backward_matrix()) check_backward<bfloat16_t>(64, c, fa2_launcher<bfloat16_t, 64>(), deterministic);
  for (const ForwardCase& c : dropout_cases(8200)) check_backward<bfloat16_t>(64, c, fa2_launcher<bfloat16_t, 64>(), deterministic);
}

TEST_CASE("fa2 backward gradients match central finite differences", "[fa2][backward][finite-difference]") {
  ForwardCase c = finite_difference_case(8300);
  check_backward<bfloat16_t>(64, c, fa2_launcher<bfloat16_t, 64>(), fa2_backward_launcher<bfloat16_t, 64>());
  c.dropout = 0.f;
  c.band = BandMask::window(6, 2);
  c.seed = 8310;
  check_backward<bfloat16_t>(64, c, fa2_launcher<bfloat16_t, 64>(), fa2_backward_launcher<bfloat16_t, 64>());
}

TEST_CASE("fa2 backward rejects a head dim it was not built for, naming it", "[fa2][backward][validate]") {
  PreparedBackward prepared;
  // 80 is no head dim at all; 32 and 256 are, but not this instantiation's.
  for (const int head_dim : {256, 80, 32}) {
    AttentionProblem problem = prepared.tensors.problem;
    problem.head_dim = head_dim;
    const std::string message =
        error_message([&] { fa2::backward<bfloat16_t, PreparedBackward::kHeadDim>(problem, prepared.grads); });
    INFO("head_dim = " << head_dim << ": \"" << message << "\"");
    CHECK(message.find(std::to_string(head_dim)) != std::string::npos);
  }
}

TEST_CASE("fa2 backward without the forward's LSE throws, naming it", "[fa2][backward][validate]") {
  PreparedBackward prepared;
  AttentionProblem problem = prepared.tensors.problem;
  problem.lse = nullptr;
  const std::string message =
      error_message([&] { fa2::backward<bfloat16_t, PreparedBackward::kHeadDim>(problem, prepared.grads); });
  INFO("\"" << message << "\"");
  CHECK(lowercase(message).find("lse") != std::string::npos);
}

TEST_CASE("fa2 backward with a workspace of backward_workspace_bytes() from the caller", "[fa2][backward][workspace]") {
  // The workspace starts poisoned (NaN in every float), so the kernel must initialize its dQ
  // accumulator and D itself. Dense GQA and causal varlen (whose rows are batch × the longest
  // sequence, more than the packed rows).
  ForwardCase gqa;
  gqa.batch = 2;
  gqa.heads_q = 6;
  gqa.heads_kv = 2;
  gqa.seqlen_q = 130;
  gqa.seqlen_k = 257;
  gqa.band = BandMask::causal();
  gqa.seed = 7970;
  ForwardCase varlen;
  varlen.heads_q = 4;
  varlen.heads_kv = 2;
  varlen.varlen_q = {1, 17, 200, 129};
  varlen.varlen_k = {5, 17, 150, 300};
  varlen.band = BandMask::causal();
  varlen.seed = 7980;
  for (const ForwardCase& c : {gqa, varlen}) {
    std::unique_ptr<DeviceArray<unsigned char>> workspace;  // outlives the launch
    std::size_t workspace_bytes = 0;
    const BackwardLauncher with_workspace = [&](const AttentionProblem& problem, const BackwardGradients& grads) {
      workspace_bytes = backward_workspace_bytes(problem);
      workspace = std::make_unique<DeviceArray<unsigned char>>(workspace_bytes);
      BackwardGradients given = grads;
      given.workspace = workspace->get();
      given.workspace_bytes = workspace_bytes;
      fa2::backward<bfloat16_t, 64>(problem, given);
    };
    check_backward<bfloat16_t>(64, c, fa2_launcher<bfloat16_t, 64>(), with_workspace);
    CHECK(workspace_bytes > 0);
  }
}

TEST_CASE("fa2 backward rejects a workspace smaller than backward_workspace_bytes()", "[fa2][backward][workspace]") {
  PreparedBackward prepared;
  const AttentionProblem& problem = prepared.tensors.problem;
  const std::size_t needed = backward_workspace_bytes(problem);
  DeviceArray<unsigned char> workspace(needed);
  for (const std::size_t given : {needed - 1, needed / 2}) {
    BackwardGradients grads = prepared.grads;
    grads.workspace = workspace.get();
    grads.workspace_bytes = given;
    const std::string message =
        error_message([&] { fa2::backward<bfloat16_t, PreparedBackward::kHeadDim>(problem, grads); });
    INFO("workspace of " << given << " bytes, " << needed << " needed: \"" << message << "\"");
    // The message names the size given or the size needed.
    CHECK((message.find(std::to_string(given)) != std::string::npos ||
           message.find(std::to_string(needed)) != std::string::npos));
  }
}
