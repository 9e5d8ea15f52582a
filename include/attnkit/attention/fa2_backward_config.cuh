#pragma once
// Compile-time configuration of the FlashAttention-2 backward kernel.
//
// A CTA owns kBlockN key rows (one K/V block of one KV head) and walks the query blocks that
// see them, kBlockM rows at a time, for every query head of its GQA group, so dK and dV are
// complete when it finishes (no atomics on them). Warp w owns key rows [16w, 16w + 16): it
// computes those rows of Sᵀ and dPᵀ and accumulates those rows of dK and dV in registers.
// dQ = dS K needs all the key rows, so dSᵀ goes through shared memory and the warps split the
// (kBlockM × head dim) dQ tile in a 2-D grid: kDqRowGroups × kDqColGroups.

#include "../layout/swizzle.cuh"
#include "../mma/register_tile.cuh"

namespace attnkit::fa2 {

template <class Element_, int HeadDim, int BlockM, int BlockN, int Warps>
struct BackwardConfig {
  using Element = Element_;
  static constexpr int kHeadDim = HeadDim;
  static constexpr int kBlockM = BlockM;  // query rows per step
  static constexpr int kBlockN = BlockN;  // key rows per CTA
  static constexpr int kWarps = Warps;
  static constexpr int kThreads = Warps * 32;
  static constexpr int kStages = 2;  // Q/dO blocks in shared memory: computed on, loading

  static constexpr int kWarpRows = BlockN / Warps;  // key rows of dK/dV per warp
  static constexpr int kMTiles = kWarpRows / 16;
  static_assert(BlockN % (16 * Warps) == 0, "BlockN must be a multiple of 16 × warps: each warp owns whole m16 tiles");
  static_assert(BlockM % 16 == 0, "BlockM must be a multiple of 16");
  static_assert(HeadDim % 32 == 0 && HeadDim <= 128,
                "the backward keeps 16 rows of dK and dV per warp in registers: head dim up to 128");

  static constexpr int kDqRowGroups = BlockM / 16;
  static constexpr int kDqColGroups = Warps / kDqRowGroups;
  static constexpr int kDqCols = HeadDim / kDqColGroups;
  static_assert(Warps % kDqRowGroups == 0 && HeadDim % kDqColGroups == 0 && kDqCols % 16 == 0,
                "the warps must tile the dQ block in 16-row, 16-column multiples");

  using QLayout = layout::SwizzledTile<BlockM, HeadDim>;   // Q and dO
  using KVLayout = layout::SwizzledTile<BlockN, HeadDim>;  // K and V (and dK, dV on the way out)
  using DSLayout = layout::SwizzledTile<BlockN, BlockM>;   // dSᵀ, bf16/fp16
  using ScoreTile = AccumulatorTile<kMTiles, BlockM / 8>;  // Sᵀ → Pᵀ, dPᵀ → dSᵀ, per warp
  using GradTile = AccumulatorTile<kMTiles, HeadDim / 8>;  // dK, dV, per warp
  using DqTile = AccumulatorTile<1, kDqCols / 8>;          // this warp's part of dQ

  // Shared memory (elements of Element, then floats): K, V, kStages × (Q, dO), dSᵀ, then
  // kStages × (LSE, D) rows of kBlockM floats.
  static constexpr int kQElements = QLayout::kElements;
  static constexpr int kKVElements = KVLayout::kElements;
  static constexpr int kDSElements = DSLayout::kElements;
  static constexpr int kElementBytes =
      (2 * kKVElements + kStages * 2 * kQElements + kDSElements) * static_cast<int>(sizeof(Element));
  static constexpr int kSmemBytes = kElementBytes + kStages * 2 * BlockM * static_cast<int>(sizeof(float));
  static_assert(kSmemBytes <= 227 * 1024, "tiles exceed the 227 KB of shared memory a CTA may use");
};

template <class Element, int HeadDim>
struct DefaultBackwardConfig;  // head dims 32, 64, 96, 128

template <class Element>
struct DefaultBackwardConfig<Element, 32> { using type = BackwardConfig<Element, 32, 64, 128, 8>; };
template <class Element>
struct DefaultBackwardConfig<Element, 64> { using type = BackwardConfig<Element, 64, 64, 128, 8>; };
template <class Element>
struct DefaultBackwardConfig<Element, 96> { using type = BackwardConfig<Element, 96, 64, 128, 8>; };
template <class Element>
struct DefaultBackwardConfig<Element, 128> { using type = BackwardConfig<Element, 128, 64, 128, 8>; };

}  // namespace attnkit::fa2
