#pragma once
// Compile-time configuration of the FlashAttention-1 forward kernel: block sizes (B_r, B_c),
// the split-K partition of the keys between warps, the register tiles each warp holds, and the
// shared-memory layout. The default for a head dim follows the paper's rule as
// fa1/block_sizes.cuh derives it.

#include "../layout/swizzle.cuh"
#include "../mma/register_tile.cuh"
#include "../softmax/cross_warp_combine.cuh"
#include "../tile/global_rescale_accumulate.cuh"
#include "block_sizes.cuh"

namespace attnkit::fa1 {

template <class Element_, int HeadDim, int BlockM, int BlockN, int Warps>
struct ForwardConfig {
  using Element = Element_;
  static constexpr int kHeadDim = HeadDim;
  static constexpr int kBlockM = BlockM;  // B_r: query rows per step
  static constexpr int kBlockN = BlockN;  // B_c: keys per K/V block
  static constexpr int kWarps = Warps;
  static constexpr int kThreads = Warps * 32;

  // Split-K: warp w owns keys [w·kWarpKeys, (w+1)·kWarpKeys) of every K/V block, and all B_r
  // query rows of every step. It loads only its own slice of K_j and V_j, so a K/V block
  // needs no CTA barrier to be replaced, but its partial results must be combined.
  static constexpr int kWarpKeys = BlockN / Warps;

  static_assert(HeadDim % 32 == 0 && HeadDim >= 32 && HeadDim <= 256, "head dim must be a multiple of 32 in [32, 256]");
  static_assert(BlockM >= 16 && BlockM % 16 == 0, "B_r must be a multiple of 16: every warp holds whole m16 row tiles");
  static_assert(BlockN >= 16 * Warps && BlockN % (16 * Warps) == 0,
                "B_c must be a multiple of 16 × warps: each warp's keys are whole 16-key k-steps of P̃V");

  using QLayout = layout::SwizzledTile<BlockM, HeadDim>;
  using KVSliceLayout = layout::SwizzledTile<kWarpKeys, HeadDim>;  // one warp's keys of K_j or V_j
  using ScoreTile = AccumulatorTile<BlockM / 16, kWarpKeys / 8>;   // S, then P̃, per warp
  using OutputTile = AccumulatorTile<BlockM / 16, HeadDim / 8>;    // the warp's partial P̃V
  using Combine = CrossWarpCombine<BlockM, HeadDim, Warps, kPartialRowPadding>;
  using Accumulate = RescaleAccumulateRows<BlockM, HeadDim, kThreads>;

  // Shared memory, in bytes from the start:
  //   K/V slices   warp w: its K slice at 2w, its V slice at 2w + 1
  //   Q            two buffers: Q_i, and the next step's Q block loading
  //   staged O     O_i (fp32), read from HBM while S and P̃V are computed
  //   combine      the warps' partial outputs and statistics (CrossWarpCombine)
  //   row stats    staged m_i, staged ℓ_i, then old_scale and block_scale of the update
  static constexpr int kKVSliceBytes = KVSliceLayout::kBytes;
  static constexpr int kQOffset = 2 * Warps * kKVSliceBytes;
  static constexpr int kStagedOOffset = kQOffset + 2 * QLayout::kBytes;
  static constexpr int kCombineOffset = kStagedOOffset + BlockM * HeadDim * 4;
  static constexpr int kRowStatsOffset = kCombineOffset + Combine::kBytes;
  static constexpr int kSmemBytes = kRowStatsOffset + 4 * BlockM * 4;

  static_assert(sizeof(Element) == 2, "16-bit elements");
  static_assert(kSmemBytes == forward_smem_bytes(HeadDim, BlockM, BlockN, Warps),
                "the layout must add up to what fa1/block_sizes.cuh budgets");
  static_assert(kStagedOOffset % 16 == 0 && kCombineOffset % 16 == 0, "fp32 regions are accessed 16 bytes at a time");
  static_assert(kSmemBytes <= 227 * 1024, "tiles exceed the 227 KB of shared memory a CTA may use");
};

// The paper's rule for this head dim (fa1/block_sizes.cuh).
template <class Element, int HeadDim>
struct DefaultForwardConfig {
  static constexpr BlockSizes kSizes = derive_block_sizes(HeadDim);
  using type = ForwardConfig<Element, HeadDim, kSizes.block_m, kSizes.block_n, kSizes.warps>;
};

// The block-sparse forward's default: the paper's blocks, with B_c narrowed to 128 where the
// rule's does not divide 128 (d = 32, 64, 96: 512, 320, 192 keys), so the library's default
// 128 × 128 mask blocks hold whole kernel blocks.
template <class Element, int HeadDim>
struct SparseForwardConfig {
  static constexpr BlockSizes kSizes = derive_block_sizes(HeadDim);
  static constexpr int kBlockN = 128 % kSizes.block_n == 0 ? kSizes.block_n : 128;
  using type = ForwardConfig<Element, HeadDim, kSizes.block_m, kBlockN, kSizes.warps>;
};

}  // namespace attnkit::fa1
