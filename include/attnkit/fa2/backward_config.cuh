#pragma once
// Compile-time configuration of the FlashAttention-2 backward kernel.
//
// A CTA owns kBlockN key rows (one K/V block of one KV head) and walks the query blocks that
// see them, kBlockM rows at a time, for every query head of its GQA group, so dK and dV are
// complete when it finishes (no atomics on them).
//
// The warps form a (kKeyGroups × kColumnGroups) grid. Warp (g, c) owns key rows
// [g·kWarpRows, +kWarpRows) and head-dim columns [c·kGradCols, +kGradCols) of dK and dV,
// accumulated in registers; it computes Sᵀ and dPᵀ for its key rows and query columns
// [c·kQueryCols, +kQueryCols).
//   kColumnGroups = 1 (head dim 32, 64, 96): a warp has all of its key rows' Pᵀ and dSᵀ and
//     feeds them to dV and dK straight from registers.
//   kColumnGroups = 2: the two warps of a key group each compute half of the query columns,
//     and Pᵀ and dSᵀ meet in shared memory. Needed at head dim 192 and 256 (16 rows × 256
//     columns of dK plus dV would take 256 registers a thread); chosen at 128 too, where its
//     32 × 32 score tiles and 32 × 64 gradient tiles read fewer operand bytes from shared memory
//     per mma than 16 × 64 and 16 × 128 ones (measured +7-9% on an H100; bench/README.md,
//     "FA2 backward (sm_80)").
// dQ = dS K needs all the key rows, so dSᵀ always goes through shared memory and the warps
// split the (kBlockM × head dim) dQ tile in a 2-D grid: kDqRowGroups × kDqColGroups.

#include "../layout/swizzle.cuh"
#include "../mma/register_tile.cuh"

namespace attnkit::fa2 {

template <class Element_, int HeadDim, int BlockM, int BlockN, int Warps, int ColumnGroups = 1>
struct BackwardConfig {
  using Element = Element_;
  static constexpr int kHeadDim = HeadDim;
  static constexpr int kBlockM = BlockM;  // query rows per step
  static constexpr int kBlockN = BlockN;  // key rows per CTA
  static constexpr int kWarps = Warps;
  static constexpr int kThreads = Warps * 32;
  static constexpr int kStages = 2;  // Q/dO blocks in shared memory: computed on, loading
  static constexpr int kColumnGroups = ColumnGroups;

  static constexpr int kKeyGroups = Warps / ColumnGroups;
  static constexpr int kWarpRows = BlockN / kKeyGroups;         // key rows of dK/dV per warp
  static constexpr int kGradCols = HeadDim / ColumnGroups;      // columns of dK/dV per warp
  static constexpr int kQueryCols = BlockM / ColumnGroups;      // query columns of Sᵀ per warp
  static constexpr int kMTiles = kWarpRows / 16;
  static_assert(Warps % ColumnGroups == 0, "the warps must split evenly into column groups");
  static_assert(BlockN % (16 * kKeyGroups) == 0, "each warp owns whole m16 tiles of key rows");
  static_assert(kQueryCols % 16 == 0, "each warp's query columns must be whole 16-column blocks");
  static_assert(BlockM % 16 == 0, "BlockM must be a multiple of 16");
  static_assert(HeadDim % 32 == 0 && kGradCols % 16 == 0, "head dim columns split in 16-column blocks");
  static_assert(kGradCols <= 128,
                "a warp keeps 16 rows of dK and dV in registers: at most 128 columns of each (use ColumnGroups = 2)");

  static constexpr int kDqRowGroups = BlockM / 16;
  static constexpr int kDqColGroups = Warps / kDqRowGroups;
  static constexpr int kDqCols = HeadDim / kDqColGroups;
  static_assert(Warps % kDqRowGroups == 0 && HeadDim % kDqColGroups == 0 && kDqCols % 16 == 0,
                "the warps must tile the dQ block in 16-row, 16-column multiples");

  using QLayout = layout::SwizzledTile<BlockM, HeadDim>;   // Q and dO
  using KVLayout = layout::SwizzledTile<BlockN, HeadDim>;  // K and V (and dK, dV on the way out)
  using DSLayout = layout::SwizzledTile<BlockN, BlockM>;   // dSᵀ (and Pᵀ with column groups), 16-bit
  using ScoreTile = AccumulatorTile<kMTiles, kQueryCols / 8>;  // Sᵀ → Pᵀ, dPᵀ → dSᵀ, per warp
  using GradTile = AccumulatorTile<kMTiles, kGradCols / 8>;    // dK, dV, per warp
  using DqTile = AccumulatorTile<1, kDqCols / 8>;              // this warp's part of dQ

  // Shared memory (elements of Element, then floats): K, V, kStages × (Q, dO), dSᵀ, Pᵀ (with
  // column groups only), then kStages × (LSE, D) rows of kBlockM floats.
  static constexpr int kQElements = QLayout::kElements;
  static constexpr int kKVElements = KVLayout::kElements;
  static constexpr int kDSElements = DSLayout::kElements;
  static constexpr int kScoreTiles = ColumnGroups > 1 ? 2 : 1;
  static constexpr int kElementBytes =
      (2 * kKVElements + kStages * 2 * kQElements + kScoreTiles * kDSElements) * static_cast<int>(sizeof(Element));
  static constexpr int kSmemBytes = kElementBytes + kStages * 2 * BlockM * static_cast<int>(sizeof(float));
  static_assert(kSmemBytes <= 227 * 1024, "tiles exceed the 227 KB of shared memory a CTA may use");
};

// Head dims 192 and 256 step 32 query rows at a time: the smaller Sᵀ, dPᵀ and dQ tiles leave
// registers for the 128 of dK and dV (64-row steps spill 180 B and measured 8% slower).
template <class Element, int HeadDim>
struct DefaultBackwardConfig;  // head dims 32, 64, 96, 128, 192, 256

template <class Element>
struct DefaultBackwardConfig<Element, 32> { using type = BackwardConfig<Element, 32, 64, 128, 8>; };
template <class Element>
struct DefaultBackwardConfig<Element, 64> { using type = BackwardConfig<Element, 64, 64, 128, 8>; };
template <class Element>
struct DefaultBackwardConfig<Element, 96> { using type = BackwardConfig<Element, 96, 64, 128, 8>; };
template <class Element>
struct DefaultBackwardConfig<Element, 128> { using type = BackwardConfig<Element, 128, 64, 128, 8, 2>; };
template <class Element>
struct DefaultBackwardConfig<Element, 192> { using type = BackwardConfig<Element, 192, 32, 64, 8, 2>; };
template <class Element>
struct DefaultBackwardConfig<Element, 256> { using type = BackwardConfig<Element, 256, 32, 64, 8, 2>; };

}  // namespace attnkit::fa2
