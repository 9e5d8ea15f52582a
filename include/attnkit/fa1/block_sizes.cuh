#pragma once
// FlashAttention-1's block sizes: the paper's rule, and the limits this mma.sync implementation
// adds to it. Pure constexpr arithmetic, so a benchmark or a test can ask for the numbers.
//
// The rule (Dao et al., 2022, Algorithm 1, line 1), for M elements of on-chip memory:
//   B_c = ⌈M / (4d)⌉,  B_r = min(⌈M / (4d)⌉, d)
// (Q_i, K_j, V_j and O_i, of about B·d elements each, must fit in M together.)
//
// M: 163 KB, the shared memory one CTA may opt in to on sm_80 (A100), in 16-bit elements:
// M = 83456. sm_90 allows 227 KB, which would give blocks 1.39× larger; the sm_80 value is used
// on both so that one set of kernels runs everywhere and the tests exercise the same tiles.
//
// The rule is then cut down to what the kernel can hold:
//  * registers: FA1 splits a step's B_c keys between the W warps (split-K), so every warp holds
//    a partial output for all B_r rows (B_r·d/32 fp32 registers per thread) next to its slice
//    of the scores (B_r·(B_c/W)/32). The scores are capped at 64 registers and both together
//    at 136, which is what d = 256 needs with the smallest B_r (128 + 8) and still compiles
//    without spills; B_r = 32 at d = 96 (96 + 48) does not. This is the cost
//    FlashAttention-2 removed by splitting the rows between warps instead.
//  * the fragment grid: B_r a multiple of 16 (one mma row tile), B_c a multiple of 16·W (each
//    warp's keys a whole number of 16-key mma k-steps of P̃V).
//  * shared memory: K_j, V_j, two Q_i buffers (the next one prefetched), the staged fp32 O_i,
//    the warps' fp32 partial outputs and row statistics must fit in M's 163 KB.
// When they bite, B_r gives way before B_c: every K/V block costs one read-modify-write pass
// over O in HBM, so B_c alone sets FA1's HBM traffic (N/B_c passes), while B_r only sets how
// much work each step has (and B_r·B_c is bounded by the score registers either way).
//
// Resulting (B_r, B_c) with 4 warps (the rule's values in brackets):
//   d = 32: (16, 512)  [32, 652]     d = 128: (16, 128)  [128, 163]
//   d = 64: (16, 320)  [64, 326]     d = 192: (16, 64)   [109, 109]
//   d = 96: (16, 192)  [96, 218]     d = 256: (16, 64)   [82, 82]
// B_r lands on 16, one mma row tile, everywhere: split-K makes rows expensive. (The original
// FA1 CUDA kernels also stepped through the queries 16 rows at a time.) For d = 256 the tiles
// fill the 163 KB exactly.

#include "../attention/validate.cuh"
#include "../core/math.cuh"

namespace attnkit::fa1 {

inline constexpr int kOnChipBytes = 163 * 1024;  // M, in bytes (sm_80's per-CTA opt-in limit)
inline constexpr int kOnChipElements = kOnChipBytes / 2;
inline constexpr int kForwardWarps = 4;
inline constexpr int kMaxScoreFloatsPerThread = 64;         // the warp's slice of S (then P̃)
inline constexpr int kMaxAccumulatorFloatsPerThread = 136;  // that and the partial P̃V, all B_r rows
// The warps' fp32 partial outputs are stored with rows padded by this many floats, which makes
// the fragment stores into them conflict-free (layout/padded_rows.cuh).
inline constexpr int kPartialRowPadding = 8;

struct BlockSizes {
  int on_chip_elements;  // M
  int rule_block_m;      // min(⌈M / 4d⌉, d)
  int rule_block_n;      // ⌈M / 4d⌉
  int block_m;           // B_r used
  int block_n;           // B_c used
  int warps;             // W, the split-K factor
};

// Shared memory of the forward kernel, in bytes (fa1/forward_config.cuh lays it out and checks
// that it adds up to this).
constexpr int forward_smem_bytes(int head_dim, int block_m, int block_n, int warps) {
  const int element = 2;
  const int kv = 2 * block_n * head_dim * element;                 // K_j, V_j
  const int q = 2 * block_m * head_dim * element;                  // Q_i and the next Q block
  const int staged_o = block_m * head_dim * 4;                     // O_i (fp32) read ahead of its update
  const int partial_outputs = warps * block_m * (head_dim + kPartialRowPadding) * 4;
  const int warp_row_stats = 3 * warps * block_m * 4;              // each warp's m, l and factor
  const int row_stats = 4 * block_m * 4;                           // staged m_i, l_i; the two update scales
  return kv + q + staged_o + partial_outputs + warp_row_stats + row_stats;
}

namespace detail {
constexpr int round_down(int value, int multiple) { return value / multiple * multiple; }
constexpr int min_of(int a, int b) { return a < b ? a : b; }
}  // namespace detail

// Whether (B_r, B_c) meets the register caps and fits in shared memory.
constexpr bool block_sizes_fit(int head_dim, int block_m, int block_n, int warps) {
  const int output_floats = block_m * head_dim / kWarpSize;
  const int score_floats = block_m * (block_n / warps) / kWarpSize;
  return score_floats <= kMaxScoreFloatsPerThread && output_floats + score_floats <= kMaxAccumulatorFloatsPerThread &&
         forward_smem_bytes(head_dim, block_m, block_n, warps) <= kOnChipBytes;
}

// The block sizes for a head dim (a multiple of 32 in [32, 256]): the largest B_c on the
// fragment grid up to the rule's, with the largest B_r up to the rule's that fits beside it.
constexpr BlockSizes derive_block_sizes(int head_dim) {
  using detail::min_of;
  using detail::round_down;
  BlockSizes sizes{};
  sizes.on_chip_elements = kOnChipElements;
  sizes.warps = kForwardWarps;
  sizes.rule_block_n = ceil_div(kOnChipElements, 4 * head_dim);
  sizes.rule_block_m = min_of(sizes.rule_block_n, head_dim);
  const int key_grid = 16 * sizes.warps;
  for (int block_n = round_down(sizes.rule_block_n, key_grid); block_n >= key_grid; block_n -= key_grid) {
    for (int block_m = round_down(sizes.rule_block_m, 16); block_m >= 16; block_m -= 16) {
      if (block_sizes_fit(head_dim, block_m, block_n, sizes.warps)) {
        sizes.block_m = block_m;
        sizes.block_n = block_n;
        return sizes;
      }
    }
  }
  return sizes;  // nothing fits: block_m = block_n = 0, which the config rejects
}

// The block sizes fa1::forward uses by default for `head_dim` (what a benchmark reports);
// throws attnkit::error for a head dim the kernels are not built for.
inline BlockSizes block_sizes(int head_dim) {
  require_supported_head_dim(head_dim);
  return derive_block_sizes(head_dim);
}

}  // namespace attnkit::fa1
