#pragma once
// The block-sparse FA1 forward's GPU cases, instantiated once per head dim (one translation unit
// each, to bound compile time): the shared block-sparse matrix (forward_block_sparse_cases.cuh)
// under 128 × 128 mask blocks, and what FA1's schedule adds to it (check_fa1_sparse_schedule):
// mask blocks holding several kernel blocks each way, masks per (batch, head) and per batch of
// a pattern that differs between them, masks from dense block tables (full blocks only, with
// query blocks that keep nothing), a band on top of the mask, varlen, a mask that keeps
// nothing, and seqlen 1. Each result is checked against dense attention with the equivalent
// element mask (the float64 reference evaluating the mask_mod) under the forward's rule.

#include <cstdint>
#include <memory>
#include <vector>

#include "attnkit/fa1/forward.cuh"
#include "forward_block_sparse_cases.cuh"

namespace attnkit::testing {

// The shared matrix's runner, with the sparse default config (B_c divides the masks' 128-key
// blocks); check_fa1_sparse_schedule covers the dense default's blocks (B_c = 320 at d = 64).
struct Fa1SparseForward {
  static constexpr bool kDropout = true;
  template <class Element, int HeadDim, class Pattern>
  static void run(const AttentionProblem& problem, const BlockMaskView& mask, const Pattern& pattern) {
    fa1::forward_block_sparse<Element, HeadDim>(problem, mask, pattern);
  }
};

// A causal window whose width depends on (batch, head): a mask entry serving the wrong (batch,
// head) keeps the wrong blocks. `per_batch_only` makes it depend on the batch alone.
struct EntryWindowPattern : VariantBase {
  static constexpr bool has_mask_mod = true;
  int heads = 1;
  bool per_batch_only = false;

  ATTNKIT_HOST_DEVICE int left(int batch, int head) const {
    return 40 + 130 * ((per_batch_only ? batch : batch * heads + head) % 5);
  }
  ATTNKIT_HOST_DEVICE bool mask_mod(int batch, int head, int q, int k) const {
    const int distance = q - k;
    return distance >= 0 && distance <= left(batch, head);
  }
  ATTNKIT_HOST_DEVICE TileClass classify(int batch, int head, TileBounds t) const {
    return attnkit::detail::classify_distance_band(attnkit::detail::tile_distances(t, 0), 0, left(batch, head));
  }
};

// The element mask of a dense block table (host only: the reference's side of
// build_block_mask_from_dense): pair (q, k) is kept when its block is.
struct BlockTablePattern : VariantBase {
  static constexpr bool has_mask_mod = true;
  const unsigned char* kept = nullptr;  // [q_blocks][kv_blocks], one entry shared by all heads
  int kv_blocks = 0, block_m = 1, block_n = 1;

  bool mask_mod(int, int, int q, int k) const { return kept[(q / block_m) * kv_blocks + k / block_n] != 0; }
};

// How a case's mask is made: its block sizes, its entries, and which builder.
struct MaskSpec {
  int block_m = kDefaultMaskBlock, block_n = kDefaultMaskBlock;
  bool per_batch = false, per_head = false;
  bool gpu_builder = false;
};

// Launches fa1::forward_block_sparse with Config (by default the FA1 default) over the mask
// `spec` describes, built from `pattern` for the problem's shape; the kernel's element mask is
// the pattern's as a table (support/mask_table.cuh), so every pattern runs the same kernels.
template <class Element, int HeadDim, class Config, class Pattern>
ForwardLauncher fa1_sparse_launcher(const Pattern& pattern, const MaskSpec& spec) {
  return [pattern, spec](const AttentionProblem& problem) {
    const int batches = spec.per_batch ? problem.batch : 1, heads = spec.per_head ? problem.heads_q : 1;
    DeviceBlockMask mask =
        spec.gpu_builder
            ? build_block_mask_from_mask_mod(pattern, batches, heads, problem.seqlen_q, problem.seqlen_k, spec.block_m,
                                             spec.block_n)
            : DeviceBlockMask::upload(build_block_mask_host(
                  batches, heads, problem.seqlen_q, problem.seqlen_k,
                  [&](int b, int h, TileBounds t) { return pattern.classify(b, h, t); }, spec.block_m, spec.block_n));
    const DeviceMaskTable table(pattern, problem);
    fa1::forward_block_sparse<Element, HeadDim, MaskTable, Config>(problem, mask.view(), table.variant());
    ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());  // before the mask and the table are freed
  };
}

// A dense block table of block_m × block_n blocks over the case's sequences (at least 8 query
// blocks): mask query blocks 0 and 5 keep nothing (their rows end with O = 0, LSE = −inf), block 7 keeps
// every key block, the others a pseudo-random third of them. Built on the GPU from the table;
// the kernel runs with no variant, so listed blocks get no element test beyond the padding.
template <class Element, int HeadDim, class Config>
void check_dense_block_table(const ForwardCase& c, int block_m, int block_n) {
  INFO("dense block table, " << block_m << " × " << block_n << " blocks, GPU builder, shared mask");
  const int q_blocks = ceil_div(c.seqlen_q, block_m), kv_blocks = ceil_div(c.seqlen_k, block_n);
  auto table = std::make_shared<std::vector<unsigned char>>(std::size_t(q_blocks) * kv_blocks, 0);
  for (int i = 0; i < q_blocks; ++i)
    for (int j = 0; j < kv_blocks; ++j) {
      const bool kept = i == 7 || (i != 0 && i != 5 && (i * 7 + j * 11) % 3 == 0);
      (*table)[std::size_t(i) * kv_blocks + j] = kept ? 1 : 0;
    }
  BlockTablePattern reference_mask;
  reference_mask.kept = table->data();
  reference_mask.kv_blocks = kv_blocks;
  reference_mask.block_m = block_m;
  reference_mask.block_n = block_n;
  const ForwardLauncher launch = [table, q_blocks, kv_blocks, block_m, block_n](const AttentionProblem& problem) {
    DeviceArray<bool> kept(table->size());
    ATTNKIT_CUDA_CHECK(cudaMemcpy(kept.get(), table->data(), table->size(), cudaMemcpyHostToDevice));
    DeviceBlockMask mask = build_block_mask_from_dense(kept.get(), 1, 1, q_blocks, kv_blocks, block_m, block_n);
    fa1::forward_block_sparse<Element, HeadDim, NoVariant, Config>(problem, mask.view());
    ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());
  };
  check_forward<Element>(HeadDim, c, launch, reference_mask);
}

// FA1's own cases, with Config's blocks (B_r = 16, B_c = Config::kBlockN) under mask blocks of
// one and of several kernel blocks.
template <class Element, int HeadDim, class Config = typename fa1::DefaultForwardConfig<Element, HeadDim>::type>
void check_fa1_sparse_schedule() {
  constexpr int kBlockN = Config::kBlockN;
  INFO("fa1 kernel blocks: " << Config::kBlockM << " × " << kBlockN);
  {
    INFO("local 100 + 40 global, s_q < s_k, mask blocks 64 × 2·B_c (4 × 2 kernel blocks), host builder");
    const LocalGlobalPattern pattern{{}, 100, 40, 300};
    check_forward<Element>(HeadDim, gqa_case(1000, 1300, 13000),
                           fa1_sparse_launcher<Element, HeadDim, Config>(pattern, {64, 2 * kBlockN}), pattern);
  }
  {
    INFO("sliding window of 200, s_q > s_k, mask blocks = kernel blocks 16 × B_c, GPU builder, per-head masks");
    const SlidingWindowPattern pattern{{}, 200, -300};  // the first 300 rows keep no key
    check_forward<Element>(HeadDim, gqa_case(1300, 1000, 13010),
                           fa1_sparse_launcher<Element, HeadDim, Config>(pattern, {16, kBlockN, false, true, true}),
                           pattern);
  }
  {
    INFO("a window per (batch, head): one mask entry each, GPU builder");
    EntryWindowPattern pattern;
    pattern.heads = 4;
    check_forward<Element>(HeadDim, gqa_case(777, 777, 13020),
                           fa1_sparse_launcher<Element, HeadDim, Config>(pattern, {128, kBlockN, true, true, true}),
                           pattern);
  }
  {
    INFO("a window per batch entry, shared by its heads: host builder");
    EntryWindowPattern pattern;
    pattern.heads = 4;
    pattern.per_batch_only = true;
    check_forward<Element>(HeadDim, gqa_case(500, 900, 13030),
                           fa1_sparse_launcher<Element, HeadDim, Config>(pattern, {32, kBlockN, true, false, false}),
                           pattern);
  }
  check_dense_block_table<Element, HeadDim, Config>(gqa_case(1000, 1000, 13040), 128, kBlockN);
  {
    INFO("band window(300, 0) on top of local 100 + 40 global");
    ForwardCase c = gqa_case(1000, 1000, 13050);
    c.band = BandMask::window(300, 0);
    const LocalGlobalPattern pattern{{}, 100, 40, 0};
    check_forward<Element>(HeadDim, c, fa1_sparse_launcher<Element, HeadDim, Config>(pattern, {128, kBlockN}),
                           pattern);
  }
  {
    INFO("varlen, causal (top-left within each sequence), sequences shorter than the mask");
    ForwardCase c;
    c.heads_q = 4;
    c.heads_kv = 1;
    c.varlen_q = {300, 1, 129, 64};
    c.varlen_k = {500, 17, 129, 1};
    c.seed = 13060;
    check_forward<Element>(HeadDim, c,
                           fa1_sparse_launcher<Element, HeadDim, Config>(CausalPattern{}, {16, kBlockN, false, false, true}),
                           CausalPattern{});
  }
  {
    INFO("a mask that keeps nothing: every row O = 0, LSE = -inf");
    const CausalPattern nothing{{}, -5000};
    check_forward<Element>(HeadDim, gqa_case(600, 700, 13070),
                           fa1_sparse_launcher<Element, HeadDim, Config>(nothing, {128, kBlockN}), nothing);
  }
  {
    INFO("seqlen 1, and one query against 1000 keys");
    check_forward<Element>(HeadDim, gqa_case(1, 1, 13080),
                           fa1_sparse_launcher<Element, HeadDim, Config>(CausalPattern{}, {128, kBlockN}),
                           CausalPattern{});
    const CausalPattern last_row{{}, 999};
    check_forward<Element>(HeadDim, gqa_case(1, 1000, 13090),
                           fa1_sparse_launcher<Element, HeadDim, Config>(last_row, {16, kBlockN, false, false, true}),
                           last_row);
  }
}

}  // namespace attnkit::testing
