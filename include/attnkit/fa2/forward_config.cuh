#pragma once
// Compile-time configuration of the FlashAttention-2 forward kernel: tile sizes, warps,
// shared-memory layout, and the register tiles each warp holds.

#include "../layout/swizzle.cuh"
#include "../mma/register_tile.cuh"

namespace attnkit::fa2 {

// How the copy of K/V block i+1 is ordered against the computation of block i (both keep two
// stages, the block computed on and the block loading):
//   one_barrier     wait for block i, one CTA barrier, then issue block i+1. The barrier both
//                   publishes block i and frees block i-1's stage.
//   early_prefetch  issue block i+1 first, then wait for block i; a second barrier after the
//                   compute frees the stage. The copy starts earlier, at the price of a barrier.
enum class KVPipeline { one_barrier, early_prefetch };

// SeparateMaskedPath: compile the block's work twice, a masked copy for partial tiles and an
// unmasked one for full tiles (more code, and a different register allocation), instead of one
// copy that branches around the mask.
template <class Element_, int HeadDim, int BlockM, int BlockN, int Warps,
          KVPipeline Pipeline = KVPipeline::one_barrier, bool SeparateMaskedPath = false>
struct ForwardConfig {
  using Element = Element_;
  static constexpr int kHeadDim = HeadDim;
  static constexpr int kBlockM = BlockM;  // query rows per CTA
  static constexpr int kBlockN = BlockN;  // key rows per K/V block
  static constexpr int kWarps = Warps;
  static constexpr int kThreads = Warps * 32;
  static constexpr int kStages = 2;  // K/V blocks in shared memory: the one computed on, the one loading
  static constexpr KVPipeline kPipeline = Pipeline;
  static constexpr bool kSeparateMaskedPath = SeparateMaskedPath;

  // Split-Q: warp w owns query rows [w·kWarpRows, (w+1)·kWarpRows) of the block and reads all of
  // K and V, so rows never need combining across warps.
  static constexpr int kWarpRows = BlockM / Warps;
  static constexpr int kMTiles = kWarpRows / 16;

  static_assert(HeadDim % 32 == 0 && HeadDim >= 32 && HeadDim <= 256, "head dim must be a multiple of 32 in [32, 256]");
  static_assert(BlockM % (16 * Warps) == 0, "BlockM must be a multiple of 16 × warps: each warp owns whole m16 tiles");
  static_assert(BlockN % 16 == 0, "BlockN must be a multiple of 16: P·V reduces over keys 16 at a time");

  using QLayout = layout::SwizzledTile<BlockM, HeadDim>;
  using KVLayout = layout::SwizzledTile<BlockN, HeadDim>;
  using ScoreTile = AccumulatorTile<kMTiles, BlockN / 8>;     // S and then P, per warp
  using OutputTile = AccumulatorTile<kMTiles, HeadDim / 8>;   // O, per warp

  // Shared memory: the Q tile (reused for staging O at the end), then kStages × (K, V).
  static constexpr int kQElements = QLayout::kElements;
  static constexpr int kKVElements = KVLayout::kElements;
  static constexpr int kSmemBytes = (kQElements + kStages * 2 * kKVElements) * static_cast<int>(sizeof(Element));
  static_assert(kSmemBytes <= 227 * 1024, "tiles exceed the 227 KB of shared memory a CTA may use");
};

// The tile sizes used for each head dim: 128 query rows per CTA; 4 warps (32 rows each, so a
// K/V fragment read from shared memory feeds two m-tiles) up to head dim 128, and 8 warps
// (16 rows each) above, where a 32-row O accumulator would no longer fit in registers. From
// head dim 96 up the masked and unmasked block paths are compiled separately (measured +3% at
// 128, +0-2% at 256, but -2..-24% at 64: bench/README.md, "FA2 forward (sm_80)").
template <class Element, int HeadDim>
struct DefaultForwardConfig;

template <class Element>
struct DefaultForwardConfig<Element, 32> { using type = ForwardConfig<Element, 32, 128, 128, 4>; };
template <class Element>
struct DefaultForwardConfig<Element, 64> { using type = ForwardConfig<Element, 64, 128, 128, 4>; };
template <class Element>
struct DefaultForwardConfig<Element, 96> {
  using type = ForwardConfig<Element, 96, 128, 64, 4, KVPipeline::one_barrier, true>;
};
template <class Element>
struct DefaultForwardConfig<Element, 128> {
  using type = ForwardConfig<Element, 128, 128, 64, 4, KVPipeline::one_barrier, true>;
};
template <class Element>
struct DefaultForwardConfig<Element, 192> {
  using type = ForwardConfig<Element, 192, 128, 64, 8, KVPipeline::one_barrier, true>;
};
template <class Element>
struct DefaultForwardConfig<Element, 256> {
  using type = ForwardConfig<Element, 256, 128, 64, 8, KVPipeline::one_barrier, true>;
};

}  // namespace attnkit::fa2
