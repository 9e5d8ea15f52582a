#pragma once
// Attention forward on Hopper (sm_90a): the FlashAttention-2 math on TMA, mbarrier pipelines
// and wgmma, warp-specialized (the schedule of FlashAttention-3, Shah et al. 2024).
//
// Grid: one CTA per (query block, head, batch) tile or, with Config::kPersistent, at most one
// CTA per SM, each computing a list of tiles (tile_schedule.cuh). Warpgroups:
//   producer   one thread loads each tile's Q (one 64-row box per consumer, a pipeline of one
//              stage per consumer, two with ScoresAhead on the persistent grid), then K and V
//              of each block into a kStages ring that runs on across tiles (TMA, completion
//              counted on the stage's `full` mbarrier);
//   consumers  two or three warpgroups, 64 query rows each, walk the same K/V blocks in the
//              order of the walk (attention/key_block_walk.cuh: the band's blocks last first,
//              or a block mask's):
//
//     S₀ = Q K₀ᵀ; P₀ = softmax(S₀)                                  (j: position in the walk)
//     for j = 1 ..:   issue Sⱼ = Q Kⱼᵀ and O += Pⱼ₋₁ Vⱼ₋₁ together      (wgmma, async)
//                     wait for Sⱼ; release Kⱼ; mask, online softmax → Pⱼ, rescale factors
//                     (the P·V runs beside the softmax)
//                     wait for the P·V; release Vⱼ₋₁; O *= rescale
//     O += P_last V_last;  O /= l;  LSE = m + log l
//
//   With ScoresAhead S runs a block further ahead, into a second score tile:
//
//     S₀, S₁ issued; wait for S₀; P₀ = softmax(S₀); wait for S₁
//     for j = 1 ..:   issue O += Pⱼ₋₁ Vⱼ₋₁ and Sⱼ₊₁ = Q Kⱼ₊₁ᵀ together
//                     mask, online softmax of Sⱼ (in since the previous block) → Pⱼ
//                     wait for both; O *= rescale
//
//   so no consumer waits for its own S GEMM between two softmaxes.
//   With PingPong the consumers take turns issuing their GEMMs (named barriers, round robin),
//   so one's softmax overlaps another's GEMMs as well. Q is released after the tile's last S
//   GEMM (or after the O store, where O is staged in the Q tile), so the producer loads the next
//   tile's Q and first K/V blocks while the consumers finish this one.
// The per-warp register tiles, masks and online softmax are the mma.sync path's: a wgmma
// accumulator is, warp by warp, an AccumulatorTile (layout/wgmma_layout.cuh).

#include <cuda.h>

#include "../attention/key_block_walk.cuh"
#include "../attention/sequence.cuh"
#include "../core/math.cuh"
#include "../core/warp_uniform.cuh"
#include "../mask/attention_mask.cuh"
#include "../mask/mask_score_tile.cuh"
#include "../mma/row_reduce.cuh"
#include "../softmax/online_softmax.cuh"
#include "../tile/shared_to_global.cuh"
#include "forward_config.cuh"
#include "stmatrix_store.cuh"
#include "tile_schedule.cuh"
#include "tma_load.cuh"
#include "tma_store.cuh"
#include "warp_specialization.cuh"
#include "wgmma.cuh"

namespace attnkit::hopper {

struct ForwardTensorMaps {
  CUtensorMap q;  // boxes of 64 rows (one consumer warpgroup's)
  CUtensorMap k;  // boxes of BlockN rows
  CUtensorMap v;
  CUtensorMap o;  // boxes of 16 rows (one consumer warp's)
};

// Named barrier ids: consumer c waits on kSchedulerBarrier + c for its turn to issue GEMMs.
inline constexpr int kSchedulerBarrier = 1;

// `problem.softmax_scale` must already be resolved (> 0): the launcher does it. `KeyBlocks`
// says which K/V blocks each query block visits (key_block_walk.cuh): the band's (dense) or a
// block mask's (block-sparse).
template <class Config, class Variant, class KeyBlocks = BandWalk>
__global__ void __launch_bounds__(Config::kThreads, 1)
    forward_kernel(const __grid_constant__ AttentionProblem problem, const __grid_constant__ ForwardTensorMaps maps,
                   const Variant unbound_variant, const KeyBlocks key_blocks, const TileSchedule schedule) {
#if ATTNKIT_DEVICE_SM90A
  using Element = typename Config::Element;
  using QLayout = typename Config::QLayout;
  using Storage = typename Config::SharedStorage;
  constexpr int kBlockM = Config::kBlockM;
  constexpr int kBlockN = Config::kBlockN;
  constexpr int kStages = Config::kStages;
  constexpr int kRows = Config::kWarpgroupRows;

  extern __shared__ __align__(16) unsigned char shared_bytes[];
  const uint32_t misalignment = shared_address(shared_bytes) % 1024;
  Storage& smem = *reinterpret_cast<Storage*>(shared_bytes + (misalignment ? 1024 - misalignment : 0));

  if (threadIdx.x == 0) {
#pragma unroll
    for (int c = 0; c < Config::kConsumerWarpgroups; ++c) smem.q_pipe[c].init();
    smem.k_pipe.init();
    smem.v_pipe.init();
  }
  __syncthreads();

  const BandMask band = problem.band;
  const bool varlen = problem.cu_seqlens_q != nullptr;
  // One tile's rows and the K/V blocks they visit; tiles outside the walk are never loaded.
  struct Tile {
    TileCoord coord;
    SequenceSpan span;
    int q_begin, q_end;
  };
  auto locate = [&](const TileCoord& coord, Tile& tile) {
    tile.coord = coord;
    // Varlen spans are loaded: broadcast, so that the tile loop's control flow (and the
    // pipeline state it carries) stays provably warp-uniform (core/warp_uniform.cuh).
    const SequenceSpan span = locate_sequence(problem, coord.batch);
    tile.span = {warp_uniform(span.q_row_offset), warp_uniform(span.k_row_offset), warp_uniform(span.seqlen_q),
                 warp_uniform(span.seqlen_k)};
    tile.q_begin = coord.m_block * kBlockM;
    tile.q_end = min(tile.q_begin + kBlockM, tile.span.seqlen_q);
    return tile.q_begin < tile.span.seqlen_q;  // varlen: this entry may be shorter than the longest
  };
  auto walk_of = [&](const Tile& tile) {
    return key_blocks.template walk<kBlockN>(band, tile.coord.batch, tile.coord.head, tile.q_begin, tile.q_end,
                                             tile.span.seqlen_q, tile.span.seqlen_k);
  };
  // Calls visit(tile) for this CTA's tiles in order (the same on every warpgroup): persistent,
  // slots blockIdx.x, + gridDim.x, ..., as one flat loop over (slot, half) (bench/NOTES.md,
  // Hopper forward v6: with the two tiles of a slot as a loop of their own, ptxas spilled and
  // moved the wgmma descriptors through vector registers in the d = 256 kernel); otherwise the
  // one tile blockIdx.x (two CTAs a slot).
  auto for_each_tile = [&](auto&& visit) {
    TileCoord coord;
    Tile tile;
    if constexpr (Config::kPersistent) {
      for (int slot = blockIdx.x, half = 0; slot < schedule.slots();) {
        if (schedule.tile(slot, half, coord) && locate(coord, tile)) visit(tile);
        if (++half == 2) {
          half = 0;
          slot += gridDim.x;
        }
      }
    } else {
      if (schedule.tile(blockIdx.x / 2, blockIdx.x % 2, coord) && locate(coord, tile)) visit(tile);
    }
  };

  if (warpgroup_index() == 0) {
    // ---- producer ----
    warpgroup_release_registers<Config::kProducerRegisters>();
    // The other lanes exit, not wait: locate's warp_uniform shuffles then name only non-exited
    // lane 0, which the shuffle's contract allows.
    if (threadIdx.x != 0) return;
    tma_prefetch_map(maps.q);
    tma_prefetch_map(maps.k);
    tma_prefetch_map(maps.v);
    PipelineState q_state, kv_state;
    for_each_tile([&](const Tile& tile) {
      const auto walk = walk_of(tile);
      const int n_blocks = walk.size();
      if (n_blocks == 0) return;
      // Tensor coordinates: varlen rows are packed, with one "batch" in the map.
      const int map_batch = varlen ? 0 : tile.coord.batch;
      const int q_row = static_cast<int>(tile.span.q_row_offset) + tile.q_begin;
      const int k_row = static_cast<int>(tile.span.k_row_offset);
      for (int i = 0, n_block = walk.block(0); i < n_blocks; ++i) {
        const int row = k_row + n_block * kBlockN;
        uint64_t* k_full = smem.k_pipe.producer_acquire(kv_state, Config::kKVBytes);
        tma_load_panels<Config::kHeadDim, kBlockN * 64>(smem.k[kv_state.stage], maps.k, row, tile.coord.head_kv,
                                                        map_batch, k_full);
        // Q after the first K block: that stage frees during the previous tile's last blocks,
        // Q only once its consumers are done with the previous tile's Q.
        if (i == 0) {
#pragma unroll
          for (int c = 0; c < Config::kConsumerWarpgroups; ++c) {
            uint64_t* q_full = smem.q_pipe[c].producer_acquire(q_state, Config::kQBytes);
            tma_load_panels<Config::kHeadDim, kRows * 64>(smem.q[q_state.stage][c], maps.q, q_row + c * kRows,
                                                          tile.coord.head, map_batch, q_full);
          }
          q_state.advance<Config::kQStages>();
        }
        uint64_t* v_full = smem.v_pipe.producer_acquire(kv_state, Config::kKVBytes);
        tma_load_panels<Config::kHeadDim, kBlockN * 64>(smem.v[kv_state.stage], maps.v, row, tile.coord.head_kv,
                                                        map_batch, v_full);
        kv_state.advance<kStages>();
        if (i + 1 < n_blocks) n_block = walk.next(n_block, i);
      }
    });
    return;
  }

  // ---- consumers ----
  warpgroup_claim_registers<Config::kConsumerRegisters>();
  const int consumer = warpgroup_index() - 1;
  const int thread = threadIdx.x % 128;
  const int lane = thread % 32;
  const int warp_row = (thread / 32) * 16;  // this warp's first row within the warpgroup's 64
  Element* const o_tile = Config::output_tile(smem, consumer);
  const float scale = problem.softmax_scale;
  const float scale_log2 = Variant::has_score_mod ? kLog2e : scale * kLog2e;

  // Every consumer warp releases a stage once its wgmmas reading it have retired.
  auto release = [&](auto& pipe, const PipelineState& state) { pipe.consumer_release(state, lane == 0); };
  // Turn-taking: consumer c issues after a sync on its barrier; consumer c - 1 arrives there
  // once it has issued. The turns run on from one tile to the next: the last consumer's last
  // turn of a tile hands consumer 0 the first of the next, so consumer 0 can issue it while the
  // others still finish this tile. The last consumer gives the very first turn, and consumer 0
  // takes the arrival left after the last tile, so each barrier's arrivals match its syncs.
  constexpr int kLastConsumer = Config::kConsumerWarpgroups - 1;
  const int next = consumer == kLastConsumer ? 0 : consumer + 1;
  if (Config::kPingPong && consumer == kLastConsumer) named_barrier_arrive<256>(kSchedulerBarrier + 0);

  PipelineState q_state, k_state;
  for_each_tile([&](const Tile& tile) {
    Element* const q_tile = smem.q[q_state.stage][consumer];
    const int batch = tile.coord.batch;
    const int head = tile.coord.head;
    const int seqlen_q = tile.span.seqlen_q;
    const int seqlen_k = tile.span.seqlen_k;
    // The variant as this entry's own lengths make it (mask/variant.cuh, for_sequence).
    const Variant variant = variant_for_sequence(unbound_variant, seqlen_q, seqlen_k);
    const int group_q0 = tile.q_begin + consumer * kRows;
    const int warp_q0 = group_q0 + warp_row;
    const auto walk = walk_of(tile);
    const int n_blocks = warp_uniform(walk.size());  // a block mask's count is loaded

    typename Config::OutputTile o;
    o.fill(0.f);
    OnlineSoftmax<Config::OutputTile::kThreadRows> softmax;
    softmax.reset();

    const bool ping_pong = Config::kPingPong && n_blocks > 0;
    auto wait_turn = [&] {
      if (ping_pong) named_barrier_sync<256>(kSchedulerBarrier + consumer);
    };
    auto pass_turn = [&] {
      if (ping_pong) named_barrier_arrive<256>(kSchedulerBarrier + next);
    };

    // Score tiles: with ScoresAhead two, S of block i in one while block i + 1's is computed
    // into the other (their roles swap every block); otherwise one, S becoming P in place.
    using ScoreTile = typename Config::ScoreTile;
    ScoreTile s0, s1;  // s1: ScoresAhead only
    auto issue_scores = [&](ScoreTile& s, const Element* k_tile) {
      warpgroup_gemm_a_bt<Element, kRows, kBlockN, Config::kHeadDim / 16>(s, q_tile, k_tile, false);
    };
    // Pins the register tiles a GEMM batch reads before its wgmma_fence: without it the compiler
    // may sink their last writes (the rescale of O, the P conversion) below the fence, and ptxas
    // then has to insert a second fence of its own.
    auto pin_operands = [&](auto&... tiles) { (fence_operands(tiles), ...); };
    // score_mod, the mask on partial tiles, the online softmax: S becomes P in place.
    auto softmax_block = [&](ScoreTile& s, int i, int n_block, float (&o_rescale)[Config::OutputTile::kThreadRows]) {
      const int k_begin = n_block * kBlockN;
      if constexpr (Variant::has_score_mod) {
        s.for_each(lane, [&](int row, int col, float& score) {
          score = variant.score_mod(score * scale, batch, head, warp_q0 + row, k_begin + col);
        });
      }
      const TileClass tile_class = walk.classify(i, band, variant, batch, head,
                                                 TileBounds{group_q0, group_q0 + kRows, k_begin, k_begin + kBlockN},
                                                 seqlen_q, seqlen_k);
      if (tile_class != TileClass::full)
        mask_score_tile(s, band, variant, batch, head, warp_q0, k_begin, seqlen_q, seqlen_k, lane);
      softmax.absorb(s, scale_log2, o_rescale, AccumulatorRowReduce{});
    };

    if (n_blocks > 0) {
      smem.q_pipe[consumer].consumer_wait(q_state);
      float o_rescale[Config::OutputTile::kThreadRows];
      // K stages are consumed by the S GEMMs in order (k_state: the next one to compute on), V
      // stages by the P·V GEMMs (v_state), one or (ScoresAhead) two blocks behind.
      PipelineState v_state = k_state;
      // S of block i is in: its K stage is free and, after the tile's last S GEMM, the Q tile
      // (where O has tiles of its own).
      auto scores_retired = [&](int i) {
        release(smem.k_pipe, k_state);
        if (Config::kSeparateOutput && i == n_blocks - 1) release(smem.q_pipe[consumer], q_state);
        k_state.advance<kStages>();
      };
      // With ScoresAhead the first turn issues the first two blocks' S GEMMs (as two groups),
      // so block 1's runs beside block 0's softmax. Where there is no block to compute ahead,
      // a GEMM on a tile that stays loaded until it retires (its result unused) takes its
      // place: ptxas serializes every wgmma of a kernel whose wgmma issue is conditional
      // (C7514/C7515: the accumulator registers are then also written by other instructions).
      const bool second_ahead = Config::kScoresAhead && n_blocks > 1;
      smem.k_pipe.consumer_wait(k_state);
      PipelineState k_ahead = k_state;
      if (second_ahead) {
        k_ahead.advance<kStages>();
        smem.k_pipe.consumer_wait(k_ahead);
      }
      wait_turn();
      pin_operands(s0);
      if constexpr (Config::kScoresAhead) pin_operands(s1);
      wgmma_fence();
      issue_scores(s0, smem.k[k_state.stage]);
      wgmma_commit_group();
      if constexpr (Config::kScoresAhead) {
        issue_scores(s1, smem.k[(second_ahead ? k_ahead : k_state).stage]);
        wgmma_commit_group();
      }
      pass_turn();
      if constexpr (Config::kScoresAhead)
        wgmma_wait_group<1>();
      else
        wgmma_wait_group<0>();
      fence_operands(s0);
      if (!Config::kScoresAhead || second_ahead) scores_retired(0);  // else the stand-in still reads K
      int n_block = walk.block(0);
      // The row sums need every exponential: a wait after hold_softmax stays after the whole
      // softmax (ptxas would otherwise hoist it, serializing the softmax and the GEMMs).
      auto hold_softmax = [&] {
        float sums = 0.f;
#pragma unroll
        for (int r = 0; r < Config::OutputTile::kThreadRows; ++r) sums += softmax.row_sum[r];
        hold_wait_after(sums, &smem.wait_anchor);
      };
      softmax_block(s0, 0, n_block, o_rescale);  // O is still zero: rescaling it changes nothing
      if constexpr (Config::kScoresAhead) {
        hold_softmax();
        wgmma_wait_group<0>();
        fence_operands(s1);
        scores_retired(second_ahead ? 1 : 0);
      }
      auto p = to_operand_a<Element>(s0);

      // O, with the previous block's P·V in, takes this block's factors (skipped while no
      // row's maximum moved).
      auto rescale_output = [&] {
        bool rescale_needed = false;
#pragma unroll
        for (int r = 0; r < Config::OutputTile::kThreadRows; ++r) rescale_needed |= o_rescale[r] != 1.f;
        if (__any_sync(0xffffffffu, rescale_needed)) o.scale_rows(o_rescale);
      };
      auto issue_output = [&] {
        smem.v_pipe.consumer_wait(v_state);
        pin_operands(o, p);
        wgmma_fence();
        warpgroup_gemm_regs_b<Element, kBlockN>(o, p, smem.v[v_state.stage]);
        wgmma_commit_group();
      };
      // Block i: its P·V of block i - 1 issued beside the S GEMM of block i (then waited for
      // before the softmax) or, with ScoresAhead, of block i + 1 (S of block i is already in
      // `s`; the next one goes to `s_next`, waited for after the softmax).
      auto block = [&](int i, ScoreTile& s, ScoreTile& s_next) {
        n_block = walk.next(n_block, i - 1);
        const bool issue_next = Config::kScoresAhead && i + 1 < n_blocks;
        if (!Config::kScoresAhead || issue_next) smem.k_pipe.consumer_wait(k_state);
        wait_turn();
        if constexpr (Config::kScoresAhead) {
          // P·V first: the batch's issue returns once its last wgmma is queued, so the short
          // P·V wgmmas ahead of the S ones shorten the stall. On the last block the stand-in
          // S GEMM reads the V tile of the P·V beside it.
          issue_output();
          pin_operands(s_next);
          wgmma_fence();
          issue_scores(s_next, issue_next ? smem.k[k_state.stage] : smem.v[v_state.stage]);
          wgmma_commit_group();
          pass_turn();
        } else {
          pin_operands(s);
          wgmma_fence();
          issue_scores(s, smem.k[k_state.stage]);
          wgmma_commit_group();
          issue_output();
          pass_turn();
          wgmma_wait_group<1>();  // S of this block is in; P·V of the previous one still runs
          fence_operands(s);
          scores_retired(i);
        }
        softmax_block(s, i, n_block, o_rescale);
        hold_softmax();

        wgmma_wait_group<0>();
        fence_operands(o);
        fence_operands(p);
        fence_operands(s_next);
        if (issue_next) scores_retired(i + 1);
        rescale_output();
        release(smem.v_pipe, v_state);
        v_state.advance<kStages>();
        p = to_operand_a<Element>(s);
      };
      if constexpr (Config::kScoresAhead) {
        // Unrolled by two so that each score tile stays in registers of its own.
        for (int i = 1; i < n_blocks; i += 2) {
          block(i, s1, s0);
          if (i + 1 < n_blocks) block(i + 1, s0, s1);
        }
      } else {
        for (int i = 1; i < n_blocks; ++i) block(i, s0, s0);
      }

      issue_output();
      wgmma_wait_group<0>();
      fence_operands(o);
      fence_operands(p);
      release(smem.v_pipe, v_state);
    }

    float o_normalizer[Config::OutputTile::kThreadRows];
    float lse[Config::OutputTile::kThreadRows];
    softmax.finalize(scale_log2, AccumulatorRowReduce{}, o_normalizer, lse);
    o.scale_rows(o_normalizer);

    // O leaves through this warp's own 16 rows of the output tile (its own, or the Q tile whose
    // wgmmas have retired): lane 0 stores them with the TMA (tma_store.cuh), and the warp goes
    // on to the next tile while the copy runs. Where the TMA could write rows that are not
    // this tile's (a varlen entry ending inside the warp's rows: the next entry's rows follow
    // in the map's view), the warp stores its valid rows itself, as 16-byte rows.
    Element* const o_global = sequence_start<Element>(problem.o, tile.span.q_row_offset, batch, head, varlen) +
                              group_q0 * problem.o.row_stride;
    const int valid_rows = tile.q_end - group_q0;
    if (n_blocks > 0) {
      // The rows are rewritten only after the previous tile's copy (or, on the other path,
      // every lane's reads of them) is done with them.
      if (lane == 0) tma_store_wait_read();
      __syncwarp();
      store_accumulator_stmatrix<Element, QLayout>(o, o_tile, warp_row, lane);
      // Generic-proxy writes of the tile, then async-proxy reads of it (the TMA store, or the
      // producer's next load of the Q tile the rows were staged in): fence, then sync.
      cuda::ptx::fence_proxy_async(cuda::ptx::space_shared);
      __syncwarp();
      if (!varlen || valid_rows >= warp_row + 16) {
        if (lane == 0)
          tma_store_panels<Config::kHeadDim, kRows * 64>(o_tile + warp_row * 64, maps.o,
                                                         static_cast<int>(tile.span.q_row_offset) + warp_q0, head,
                                                         varlen ? 0 : batch);
      } else {
        store_rows<QLayout, 16, 32>(o_tile, o_global, problem.o.row_stride, warp_row, valid_rows, lane);
      }
      if constexpr (!Config::kSeparateOutput) {
        // The producer refills this Q tile once every warp has released it: by then the copy
        // must have read the rows, and the other path's generic reads of them must be ordered
        // before the refill's async-proxy writes.
        if (lane == 0) tma_store_wait_read();
        cuda::ptx::fence_proxy_async(cuda::ptx::space_shared);
        __syncwarp();
        release(smem.q_pipe[consumer], q_state);
      }
      q_state.advance<Config::kQStages>();
    } else {
      // No key visited, no Q loaded: the producer may already be filling the Q tile for a
      // later tile, so O = 0 goes straight to global memory.
      store_zero_rows<QLayout, 16, 32>(o_global, problem.o.row_stride, warp_row, valid_rows, lane);
    }

    if (problem.lse != nullptr && layout::lane_in_group(lane) == 0) {
      float* const lse_global = lse_start(problem, tile.span, batch, head);
#pragma unroll
      for (int r = 0; r < Config::OutputTile::kThreadRows; ++r) {
        const int q = warp_q0 + Config::OutputTile::tile_row(lane, r);
        if (q < tile.q_end) lse_global[q] = lse[r];
      }
    }
  });
  if (Config::kPingPong && consumer == 0) named_barrier_sync<256>(kSchedulerBarrier + 0);
  if (lane == 0) tma_store_wait();  // shared memory must outlive the copies' reads
#elif defined(__CUDA_ARCH__)
  __trap();  // compiled without sm_90a: the launcher never runs this on such a build
#endif
}

}  // namespace attnkit::hopper
