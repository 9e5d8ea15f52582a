#pragma once
// Compile-time configuration of the Hopper (sm_90a) attention forward: tile sizes, the
// warpgroup roles and their register budgets, the shared-memory layout.

#include <cstdint>
#include <type_traits>

#include "../layout/swizzle.cuh"
#include "../mma/register_tile.cuh"
#include "../sm90/mbarrier_pipeline.cuh"
#include "forward_policies.cuh"

namespace attnkit::hopper {

// The schedule's policies, named in any order after the tile shape (forward_policies.cuh):
//   KVStages<N>        K/V blocks in flight in shared memory (default 2).
//   ConsumerGroups<N>  2 or 3 consumer warpgroups of 64 query rows each (default 2).
//   PingPong           the consumer warpgroups take turns issuing their GEMMs (named barriers,
//                      round robin), so one group's softmax runs while another's GEMMs keep the
//                      tensor cores busy.
//   PersistentGrid     at most one CTA per SM, each walking a list of tiles (tile_schedule.cuh),
//                      so a tile's start-up (Q and first K/V loads) overlaps the previous tile's
//                      last blocks and store; otherwise one CTA per tile. The tile loop costs
//                      registers: configs near the register limit spill with it.
//   ScoresAhead        each consumer computes S one block ahead, in a second score tile: block
//                      j's softmax runs while S of block j + 1 is computed, so no consumer waits
//                      for its own S GEMM (without it the S GEMM issued at a turn is waited for
//                      before that block's softmax). Costs a second score tile of registers and
//                      a third K/V stage: K then runs two blocks ahead of the V being read (and,
//                      on the persistent grid, a second Q stage: kQStages).
//
//   ForwardConfig<bfloat16_t, 128, 176, PingPong>
//   ForwardConfig<bfloat16_t, 64, 128, KVStages<3>, PersistentGrid, ScoresAhead>
template <class Element_, int HeadDim, int BlockN, class... Policies>
struct ForwardConfig {
  static_assert(known_forward_policies<Policies...>(),
                "ForwardConfig takes KVStages<N>, ConsumerGroups<N>, PingPong, PersistentGrid and ScoresAhead");
  using Element = Element_;
  static constexpr int kHeadDim = HeadDim;
  static constexpr int kBlockN = BlockN;  // keys per K/V block
  static constexpr int kStages = int_policy<KVStages, 2, Policies...>();  // K/V blocks in flight
  static constexpr bool kPingPong = has_policy<PingPong, Policies...>();
  static constexpr bool kPersistent = has_policy<PersistentGrid, Policies...>();
  static constexpr bool kScoresAhead = has_policy<ScoresAhead, Policies...>();

  // Warpgroup 0 produces (one thread issues every TMA copy); the others consume, each owning
  // 64 query rows (wgmma's M).
  static constexpr int kConsumerWarpgroups = int_policy<ConsumerGroups, 2, Policies...>();
  static_assert(kConsumerWarpgroups == 2 || kConsumerWarpgroups == 3, "2 or 3 consumer warpgroups");
  static constexpr int kWarpgroupRows = 64;
  static constexpr int kBlockM = kConsumerWarpgroups * kWarpgroupRows;
  static constexpr int kThreads = (1 + kConsumerWarpgroups) * 128;
  // Per-thread register budgets after setmaxnreg; their sum over the CTA must fit the 64K file.
  static constexpr int kProducerRegisters = kConsumerWarpgroups == 2 ? 24 : 32;
  static constexpr int kConsumerRegisters = kConsumerWarpgroups == 2 ? 240 : 160;
  static_assert(128 * kProducerRegisters + kConsumerWarpgroups * 128 * kConsumerRegisters <= 65536,
                "warpgroup register budgets exceed the register file");
  // Every consumer warp releases each stage it read.
  static constexpr int kConsumerArrivals = kConsumerWarpgroups * 4;

  static_assert(HeadDim % 64 == 0 && HeadDim <= 256, "head dim must be 64, 128, 192 or 256 (64-column TMA panels)");
  static_assert(BlockN % 16 == 0 && BlockN >= 16 && BlockN <= 256, "BlockN must be a multiple of 16 in [16, 256]");
  static_assert(kStages >= 2, "at least two K/V stages: one computed on, one loading");
  static_assert(!kScoresAhead || kStages >= 3,
                "ScoresAhead needs 3 K/V stages: with 2, each K load waits for the release of the V two blocks back");

  using QLayout = layout::SwizzledTile<kWarpgroupRows, HeadDim>;  // one per consumer warpgroup
  using KVLayout = layout::SwizzledTile<BlockN, HeadDim>;
  static_assert(QLayout::kPanelChunks == 8 && KVLayout::kPanelChunks == 8,
                "128-byte panels: the SwizzledTile layout equals the TMA's 128B swizzle");
  using ScoreTile = AccumulatorTile<1, BlockN / 8>;   // a warp's 16 rows of S, then P
  using OutputTile = AccumulatorTile<1, HeadDim / 8>; // a warp's 16 rows of O

  static constexpr uint32_t kQBytes = QLayout::kBytes;
  static constexpr uint32_t kKVBytes = KVLayout::kBytes;

  // Each consumer warpgroup's Q tile is refilled once per tile: a pipeline whose `empty`
  // barrier the group's 4 warps arrive at. One stage, or two with ScoresAhead on the
  // persistent grid, so that the next tile's Q is in before this tile's last S GEMM frees it.
  static constexpr int kQStages = kScoresAhead && kPersistent ? 2 : 1;
  using QPipe = PipelineBarriers<kQStages, 4>;
  struct TileStorage {
    // 1024-byte alignment: the swizzle pattern is taken from address bits 4..9.
    alignas(1024) Element q[kQStages][kConsumerWarpgroups][QLayout::kElements];
    alignas(1024) Element k[kStages][KVLayout::kElements];
    alignas(1024) Element v[kStages][KVLayout::kElements];
    QPipe q_pipe[kConsumerWarpgroups];
    PipelineBarriers<kStages, kConsumerArrivals> k_pipe;
    PipelineBarriers<kStages, kConsumerArrivals> v_pipe;
    // Written, never read (hold_wait_after, sm90/wgmma.cuh): a word per consumer thread, so that no
    // two threads write one address (a race to racecheck, harmless as it is, that would bury
    // any real one).
    float wait_anchor[kConsumerWarpgroups * 128];
  };
  // Where shared memory allows, O leaves through tiles of its own, so Q can be released (and
  // the next tile's Q loaded) as soon as the tile's last S GEMM has read it; otherwise O is
  // staged in the Q tile and Q is released after the store.
  struct TileStorageWithOutput : TileStorage {
    alignas(1024) Element o[kConsumerWarpgroups][QLayout::kElements];
  };
  static constexpr bool kSeparateOutput = sizeof(TileStorageWithOutput) + 1024 <= 227 * 1024;
  using SharedStorage = std::conditional_t<kSeparateOutput, TileStorageWithOutput, TileStorage>;
  ATTNKIT_DEVICE static Element* output_tile(SharedStorage& smem, int consumer) {
    if constexpr (kSeparateOutput)
      return smem.o[consumer];
    else
      return smem.q[0][consumer];
  }
  static_assert(kQStages == 1 || kSeparateOutput, "two Q stages need O tiles of their own");
  // The dynamic shared memory base is only guaranteed 16-byte aligned: 1 KB of slack.
  static constexpr int kSmemBytes = static_cast<int>(sizeof(SharedStorage)) + 1024;
  static_assert(kSmemBytes <= 227 * 1024, "tiles exceed the 227 KB of shared memory a CTA may use");
};

// Tile sizes per head dim, chosen from H200 measurements (bench/README.md, Hopper forward:
// defaults per head dim; bench_hopper_configs times the alternatives):
//   d = 64:  three consumer warpgroups (192 query rows per CTA) on long sequences; on those up
//            to 2k, two, on the persistent grid, which hides the per-tile start-up that short
//            rows expose (the three-group kernel stays one CTA per tile: with the tile loop it
//            measured slower, spilling or not), each computing S a block ahead without
//            ping-pong (ScoresAhead); banded
//            ones from 4k to 8k two groups with 192 keys per block (fewer block boundaries per
//            softmax: +3-7% there, slower below 4k).
//   d = 128: 128 keys per block on the persistent grid up to 8k and on every banded problem;
//            176 keys (fewer, longer GEMMs per softmax, one CTA per tile: it spills with the
//            tile loop) on longer unmasked sequences.
//   d = 256: 80 keys: O alone takes 128 registers per thread, and two K/V stages of 80 rows
//            already fill shared memory. Banded problems on the persistent grid, with 64 keys
//            up to 1k (the causal diagonal cut finer), unmasked ones one CTA per tile: their
//            tiles are long at every length, and the persistent grid measured no faster on them.
// `type` is the config for long unmasked sequences, `short_type` and `banded_type` the others;
// use_banded(seqlen_q, banded), then use_short(seqlen_q, banded), say which a problem gets.
// Where two are the same type the launcher instantiates one kernel for both.
template <class Element, int HeadDim>
struct DefaultForwardConfig;

template <class Element>
struct DefaultForwardConfig<Element, 64> {
  using type = ForwardConfig<Element, 64, 128, ConsumerGroups<3>, PingPong>;
  using short_type = ForwardConfig<Element, 64, 128, KVStages<3>, PersistentGrid, ScoresAhead>;
  using banded_type = ForwardConfig<Element, 64, 192, PingPong, PersistentGrid>;
  static bool use_banded(int seqlen_q, bool banded) { return banded && seqlen_q > 2048 && seqlen_q <= 8192; }
  static bool use_short(int seqlen_q, bool) { return seqlen_q <= 2048; }
};
template <class Element>
struct DefaultForwardConfig<Element, 128> {
  using type = ForwardConfig<Element, 128, 176, PingPong>;
  using short_type = ForwardConfig<Element, 128, 128, PingPong, PersistentGrid>;
  using banded_type = short_type;
  static bool use_banded(int, bool banded) { return banded; }
  static bool use_short(int seqlen_q, bool) { return seqlen_q <= 8192; }
};
template <class Element>
struct DefaultForwardConfig<Element, 256> {
  using type = ForwardConfig<Element, 256, 80, PingPong>;
  using short_type = ForwardConfig<Element, 256, 80, PingPong, PersistentGrid>;
  using banded_type = ForwardConfig<Element, 256, 64, PingPong, PersistentGrid>;
  static bool use_banded(int seqlen_q, bool banded) { return banded && seqlen_q <= 1024; }
  static bool use_short(int, bool banded) { return banded; }
};

// The block-sparse forward's config per head dim: whole kernel blocks must tile a mask block
// (128 × 128 by default), so 128 query rows (two consumer warpgroups) and a BlockN dividing
// 128: 128 keys for d = 64 and 128 (the dense short configs), 64 for d = 256 (two stages of
// 80 fill shared memory; 64 leaves room).
template <class Element, int HeadDim>
struct SparseForwardConfig;
template <class Element>
struct SparseForwardConfig<Element, 64> {
  using type = ForwardConfig<Element, 64, 128, PingPong>;
};
template <class Element>
struct SparseForwardConfig<Element, 128> {
  using type = ForwardConfig<Element, 128, 128, PingPong, PersistentGrid>;
};
template <class Element>
struct SparseForwardConfig<Element, 256> {
  using type = ForwardConfig<Element, 256, 64, PingPong>;
};

}  // namespace attnkit::hopper
