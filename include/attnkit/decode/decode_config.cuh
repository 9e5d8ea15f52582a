#pragma once
// Compile-time configuration of the decode kernel: one 16-row tile of packed query rows
// (gqa_rows.cuh) per CTA, and the keys split between its warps (split-K inside the CTA, as
// FlashAttention-1 does): each warp streams its own K/V blocks through its own shared-memory
// stages, with no CTA barrier in the main loop, and the warps' partial softmaxes are merged
// once at the end (softmax/cross_warp_combine.cuh).
//
// Why split-K here when the training kernels split Q: a decode tile has a handful of rows and
// thousands of keys. Split-Q would give each warp 16 rows it mostly does not have; split-K
// keeps every warp busy on different keys, and the one merge is cheap next to the key loop.

#include "../layout/swizzle.cuh"
#include "../mma/register_tile.cuh"
#include "../softmax/cross_warp_combine.cuh"

namespace attnkit {

template <class Element_, int HeadDim, int BlockN, int Warps = 4, int Stages = 2>
struct DecodeConfig {
  using Element = Element_;
  static constexpr int kHeadDim = HeadDim;
  static constexpr int kBlockN = BlockN;  // keys per warp block
  static constexpr int kWarps = Warps;
  static constexpr int kThreads = Warps * 32;
  static constexpr int kStages = Stages;  // K/V blocks per warp in shared memory
  static constexpr int kRows = 16;        // packed query rows per CTA: one m16 tile

  static_assert(HeadDim % 32 == 0 && HeadDim >= 32 && HeadDim <= 256, "head dim must be a multiple of 32 in [32, 256]");
  static_assert(BlockN % 16 == 0, "BlockN must be a multiple of 16: P·V reduces over keys 16 at a time");
  static_assert(Stages >= 2, "a warp computes on one stage while the next loads");

  using QLayout = layout::SwizzledTile<kRows, HeadDim>;
  using KVLayout = layout::SwizzledTile<BlockN, HeadDim>;
  using ScoreTile = AccumulatorTile<1, BlockN / 8>;
  using OutputTile = AccumulatorTile<1, HeadDim / 8>;
  using Combine = CrossWarpCombine<kRows, HeadDim, Warps, 4>;

  // Shared memory: the Q tile, then per warp kStages × (K, V); the warps' merge reuses the
  // K/V stages once every warp is past its last block, and keeps the rows' normalizers after.
  static constexpr int kQBytes = QLayout::kBytes;
  static constexpr int kWarpStageBytes = 2 * KVLayout::kBytes;
  static constexpr int kKVBytes = Warps * Stages * kWarpStageBytes;
  static constexpr int kRowStatsBytes = 2 * kRows * 4;  // per row: 1/l, LSE
  static constexpr int kSmemBytes =
      kQBytes + (kKVBytes > Combine::kBytes + kRowStatsBytes ? kKVBytes : Combine::kBytes + kRowStatsBytes);
  static_assert(kSmemBytes <= 160 * 1024, "tiles exceed what an sm_80 CTA may use");
};

// Default tiles: 4 warps, each stage of a warp 16 KB of K and V (64 keys at head dim 64, 32 at
// 128, 16 at 256), so a CTA keeps 64 KB in flight and fits sm_80 as well as sm_90.
template <class Element, int HeadDim>
struct DefaultDecodeConfig {
  using type = DecodeConfig<Element, HeadDim, HeadDim <= 64 ? 64 : (HeadDim <= 128 ? 32 : 16)>;
};

}  // namespace attnkit
