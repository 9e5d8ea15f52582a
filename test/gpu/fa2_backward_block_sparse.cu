// The block-sparse FA2 backward (fa2::backward_block_sparse) at head dim 64, and what does not
// depend on the head dim: the correctness matrix of fa2_backward_block_sparse_cases.cuh in fp16
// and bf16, the deterministic dQ (gradients against the reference, and bitwise equal over 5
// runs), and the launcher's refusals of masks that do not fit. Head dim 128 is in
// fa2_backward_block_sparse_d128.cu, linked into the same executable.

#include <cstdint>
#include <memory>
#include <vector>

#include <catch2/matchers/catch_matchers_string.hpp>

#include "fa2_backward_block_sparse_cases.cuh"

namespace {

using namespace attnkit;
using namespace attnkit::testing;

// A problem with its dense forward run (O and LSE written) and its mask built, for running the
// deterministic sparse backward several times on the same inputs.
struct PreparedSparseBackward {
  static constexpr int kHeadDim = 64;
  ForwardCase c;
  AnyPattern pattern;
  reference::Shape shape;
  std::vector<double> q, k, v;
  CaseTensors<bfloat16_t> tensors;
  DeviceArray<bfloat16_t> d_out, dq, dk, dv;
  DeviceBlockMask mask;
  BackwardGradients grads;

  PreparedSparseBackward(const ForwardCase& given, const AnyPattern& given_pattern, const MaskBuild& build)
      : c(given),
        pattern(given_pattern),
        shape(reference::Shape::dense(c.batch, c.heads_q, c.heads_kv, c.seqlen_q, c.seqlen_k, kHeadDim, c.band)),
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
    masked_forward_launcher<bfloat16_t, kHeadDim>(pattern)(tensors.problem);
    mask = build_mask(pattern, pattern, tensors.problem, build);
    ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());
    grads = make_gradients_like(tensors.problem, d_out.get(), dq.get(), dk.get(), dv.get());
    grads.deterministic = true;
  }

  // dQ, dK, dV of one backward call, as stored (poisoned first, so a stale value cannot pass).
  std::vector<bfloat16_t> run() {
    dq.poison();
    dk.poison();
    dv.poison();
    fa2::backward_block_sparse<bfloat16_t, kHeadDim>(tensors.problem, grads, mask.view(), pattern);
    ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<bfloat16_t> all = dq.download();
    for (const auto* part : {&dk, &dv}) {
      const std::vector<bfloat16_t> values = part->download();
      all.insert(all.end(), values.begin(), values.end());
    }
    return all;
  }
};

}  // namespace

TEST_CASE("fa2 block-sparse backward equals dense attention's gradients with the pattern's mask, d=64",
          "[fa2][backward][block_sparse]") {
  run_sparse_backward_matrix<bfloat16_t, 64>(21000);
  run_sparse_backward_matrix<half_t, 64>(21100);
  check_pattern_type<bfloat16_t, 64>(21200);
}

TEST_CASE("fa2 block-sparse backward, deterministic mode: gradients match the reference",
          "[fa2][backward][block_sparse][deterministic]") {
  for (const SparseBackwardCase& sparse : sparse_backward_cases(21300)) {
    INFO("pattern: " << sparse.name);
    check_sparse_backward<bfloat16_t, 64>(sparse.c, sparse.pattern, sparse.build, true);
  }
}

TEST_CASE("fa2 block-sparse backward, deterministic mode: bitwise equal gradients over 5 runs",
          "[fa2][backward][block_sparse][deterministic]") {
  // Query blocks that many key blocks add to (the global tokens' rows, seen by every key), the
  // causal order under 256 × 256 mask blocks, masks per entry and head, and a query block whose
  // second kernel half lies past the sequence.
  ForwardCase wide = gqa_case(2048, 2048, 21400);
  wide.heads_q = 8;
  MaskBuild per_entry = gpu_mask();
  per_entry.per_batch = true;
  MaskBuild large_blocks = gpu_mask();
  large_blocks.block_m = large_blocks.block_n = 256;
  const std::vector<SparseBackwardCase> cases{
      {"local 100 + 40 global tokens", wide, AnyPattern::local_global_with(100, 40), host_mask()},
      {"causal, 256 × 256 mask blocks", gqa_case(1500, 2048, 21410), AnyPattern::causal_with(548), large_blocks},
      {"sliding windows per entry and head", gqa_case(1000, 1000, 21420), AnyPattern::window_with(300, -150, 50),
       per_entry},
      {"one query row, 129 keys", gqa_case(1, 129, 21430), AnyPattern::causal_with(128), host_mask()},
  };
  for (const SparseBackwardCase& sparse : cases) {
    INFO("pattern: " << sparse.name << ", " << sparse.build.describe());
    check_bitwise_repeatable(PreparedSparseBackward::kHeadDim, {sparse.c}, [&](const ForwardCase& c) {
      auto prepared = std::make_shared<PreparedSparseBackward>(c, sparse.pattern, sparse.build);
      return [prepared] { return prepared->run(); };
    });
  }
}

TEST_CASE("fa2 block-sparse backward rejects masks that do not fit, naming the value",
          "[fa2][backward][block_sparse][validate]") {
  // Nothing is launched: the mask is checked first, so the tensors need not exist.
  void* const fake = reinterpret_cast<void*>(uintptr_t{1} << 20);
  const AttentionProblem problem =
      make_bshd_problem(DType::bf16, 1, 2, 2, 1000, 1000, 64, fake, fake, fake, fake, static_cast<float*>(fake));
  const BackwardGradients grads = make_gradients_like(problem, fake, fake, fake, fake);
  auto all_full = [](int, int, TileBounds) { return TileClass::full; };
  // The variant the other tests instantiate the kernels with (none is launched).
  auto backward = [&](const BlockMaskView& mask) {
    fa2::backward_block_sparse<bfloat16_t, 64>(problem, grads, mask, AnyPattern{});
  };
  using Catch::Matchers::ContainsSubstring;

  // At head dim 64 the backward's blocks are 64 query rows × 128 keys.
  const HostBlockMask short_rows = build_block_mask_host(1, 1, 1000, 1000, all_full, 32, 128);
  CHECK_THROWS_WITH(backward(short_rows.view()), ContainsSubstring("block_m = 32"));
  const HostBlockMask short_keys = build_block_mask_host(1, 1, 1000, 1000, all_full, 128, 64);
  CHECK_THROWS_WITH(backward(short_keys.view()), ContainsSubstring("block_n = 64"));
  const HostBlockMask too_few_rows = build_block_mask_host(1, 1, 500, 1000, all_full);
  CHECK_THROWS_WITH(backward(too_few_rows.view()), ContainsSubstring("does not cover"));
  const HostBlockMask three_heads = build_block_mask_host(1, 3, 1000, 1000, all_full);
  CHECK_THROWS_WITH(backward(three_heads.view()), ContainsSubstring("heads = 3"));
  const HostBlockMask fitting = build_block_mask_host(1, 1, 1000, 1000, all_full);
  BlockMaskView forward_lists_only = fitting.view();
  forward_lists_only.full_q_counts = forward_lists_only.full_q_indices = nullptr;
  forward_lists_only.partial_q_counts = forward_lists_only.partial_q_indices = nullptr;
  CHECK_THROWS_WITH(backward(forward_lists_only), ContainsSubstring("transposed lists"));
}
