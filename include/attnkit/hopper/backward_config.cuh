#pragma once
// Compile-time configuration of the Hopper (sm_90a) attention backward: tile sizes, warpgroup
// roles and register budgets, the shared-memory layout.

#include <cstdint>

#include "../layout/swizzle.cuh"
#include "../mma/register_tile.cuh"
#include "../sm90/mbarrier_pipeline.cuh"

namespace attnkit::hopper {

// A CTA owns kBlockN = 128 keys of one KV head: two consumer warpgroups of 64 keys each (wgmma's
// M), which walk the query blocks of BlockM rows that see those keys. dQ of a query block needs
// all 128 keys, so it is split between the two groups: by query rows when BlockM = 128 (each
// group 64 rows × the head dim), by head-dim columns when BlockM = 64 (64 rows × half the head
// dim each, which takes 64-column panels: head dim 128).
template <class Element_, int HeadDim, int BlockM, int Stages = 2>
struct BackwardConfig {
  using Element = Element_;
  static constexpr int kHeadDim = HeadDim;
  static constexpr int kBlockM = BlockM;  // query rows per step
  static constexpr int kBlockN = 128;     // keys per CTA
  static constexpr int kStages = Stages;  // query blocks (Q, dO, LSE, D) in flight
  static constexpr int kConsumerWarpgroups = 2;
  static constexpr int kWarpgroupKeys = 64;
  static constexpr int kThreads = (1 + kConsumerWarpgroups) * 128;
  static constexpr int kProducerRegisters = 24;
  static constexpr int kConsumerRegisters = 240;
  static_assert(128 * kProducerRegisters + kConsumerWarpgroups * 128 * kConsumerRegisters <= 65536,
                "warpgroup register budgets exceed the register file");
  static constexpr int kConsumerArrivals = kConsumerWarpgroups * 4;  // every consumer warp releases

  static_assert(BlockM == 64 || BlockM == 128, "BlockM must be 64 or 128 (the dQ split)");
  static_assert(HeadDim % 64 == 0 && HeadDim <= 128, "head dim must be 64 or 128");
  static_assert(BlockM == 128 || HeadDim == 128, "64-row query blocks split dQ by 64-column panels: head dim 128");
  static_assert(Stages >= 2, "at least two query stages: one computed on, one loading");

  static constexpr bool kDqSplitsRows = BlockM == 128;
  static constexpr int kDqCols = kDqSplitsRows ? HeadDim : HeadDim / 2;  // dQ columns per group

  using KVLayout = layout::SwizzledTile<kBlockN, HeadDim>;
  using QLayout = layout::SwizzledTile<BlockM, HeadDim>;  // Q and dO
  using DSLayout = layout::SwizzledTile<kBlockN, BlockM>; // dSᵀ: keys × queries
  static_assert(KVLayout::kPanelChunks == 8 && QLayout::kPanelChunks == 8 && DSLayout::kPanelChunks == 8,
                "128-byte panels: the SwizzledTile layout equals the TMA's and wgmma's 128B swizzle");
  using ScoreTile = AccumulatorTile<1, BlockM / 8>;   // a warp's 16 keys × BlockM queries of Sᵀ, dPᵀ
  using GradTile = AccumulatorTile<1, HeadDim / 8>;   // a warp's 16 keys of dK, dV
  using DqTile = AccumulatorTile<1, kDqCols / 8>;     // a warp's 16 rows of its group's dQ part

  static constexpr uint32_t kKVBytes = KVLayout::kBytes;
  static constexpr uint32_t kQBytes = QLayout::kBytes;
  // A stage is full once the TMA has delivered Q and dO (2 · kQBytes, counted on the barrier)
  // and the 32 threads of the statistics warp have arrived behind their cp.async copies of
  // LSE·log2(e) and D (4-byte copies: those rows need not be 16-byte aligned, as a TMA source
  // must be).
  static constexpr int kStatisticsThreads = 32;

  struct SharedStorage {
    // 1024-byte alignment: the swizzle pattern is taken from address bits 4..9.
    alignas(1024) Element k[KVLayout::kElements];
    alignas(1024) Element v[KVLayout::kElements];
    alignas(1024) Element q[Stages][QLayout::kElements];
    alignas(1024) Element d_o[Stages][QLayout::kElements];
    // dSᵀ, double-buffered: a group writes step i + 1's while the other may still read step i's.
    alignas(1024) Element ds[2][DSLayout::kElements];
    alignas(16) float lse_log2[Stages][BlockM];
    alignas(16) float d[Stages][BlockM];
    PipelineBarriers<1, kConsumerArrivals> kv_pipe;  // K and V, loaded once
    PipelineBarriers<Stages, kConsumerArrivals, 1 + kStatisticsThreads> q_pipe;
  };
  // The dynamic shared memory base is only guaranteed 16-byte aligned: 1 KB of slack.
  static constexpr int kSmemBytes = static_cast<int>(sizeof(SharedStorage)) + 1024;
  static_assert(kSmemBytes <= 227 * 1024, "tiles exceed the 227 KB of shared memory a CTA may use");
};

// Per head dim: 128 query rows at d = 64 (Sᵀ and dPᵀ take 64 registers each, dK and dV 32);
// 64 at d = 128, where dK and dV alone take 128 registers a thread.
template <class Element, int HeadDim>
struct DefaultBackwardConfig;
template <class Element>
struct DefaultBackwardConfig<Element, 64> {
  using type = BackwardConfig<Element, 64, 128>;
};
template <class Element>
struct DefaultBackwardConfig<Element, 128> {
  using type = BackwardConfig<Element, 128, 64>;
};

}  // namespace attnkit::hopper
