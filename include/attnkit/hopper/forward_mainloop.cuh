#pragma once
// Role: the Hopper forward's consumer main loop. One consumer warpgroup's 64 query rows of a
// tile against the K/V blocks of the tile's walk, as the pipelines deliver them: the GEMMs
// (wgmma, async), the variant's score_mod, the mask on partial tiles and the online softmax,
// leaving O unnormalized and the softmax's row statistics for the epilogue.
//
//     S₀ = Q K₀ᵀ; P₀ = softmax(S₀)                                  (j: position in the walk)
//     for j = 1 ..:   issue Sⱼ = Q Kⱼᵀ and O += Pⱼ₋₁ Vⱼ₋₁ together      (wgmma, async)
//                     wait for Sⱼ; release Kⱼ; mask, online softmax → Pⱼ, rescale factors
//                     (the P·V runs beside the softmax)
//                     wait for the P·V; release Vⱼ₋₁; O *= rescale
//     O += P_last V_last
//
//   Config::kScoresAhead: S runs a block further ahead, into a second score tile:
//
//     S₀, S₁ issued; wait for S₀; P₀ = softmax(S₀); wait for S₁
//     for j = 1 ..:   issue O += Pⱼ₋₁ Vⱼ₋₁ and Sⱼ₊₁ = Q Kⱼ₊₁ᵀ together
//                     mask, online softmax of Sⱼ (in since the previous block) → Pⱼ
//                     wait for both; O *= rescale
//
//   so no consumer waits for its own S GEMM between two softmaxes.
//   Config::kPingPong: the consumers take turns issuing their GEMMs (named barriers, round
//   robin), so one's softmax overlaps another's GEMMs as well.
//
//   ForwardMainloop<Config, Variant> mainloop(smem, consumer, scale, band);
//   mainloop.begin();                                        // before the first tile
//   mainloop.compute(tile, walk, n_blocks, variant, o, softmax, q_state, k_state);
//   mainloop.end();                                          // after the last
//
// The per-warp register tiles, masks and online softmax are the mma.sync path's: a wgmma
// accumulator is, warp by warp, an AccumulatorTile (layout/wgmma_layout.cuh).

#include "../core/config.cuh"
#include "../core/math.cuh"
#include "../core/warp_uniform.cuh"
#include "../mask/attention_mask.cuh"
#include "../mask/mask_score_tile.cuh"
#include "../mma/row_reduce.cuh"
#include "../sm90/mbarrier_pipeline.cuh"
#include "../sm90/warp_specialization.cuh"
#include "../sm90/wgmma.cuh"
#include "../softmax/online_softmax.cuh"
#include "forward_tile_scheduler.cuh"

namespace attnkit::hopper {

// Named barrier ids: consumer c waits on kSchedulerBarrier + c for its turn to issue GEMMs.
inline constexpr int kSchedulerBarrier = 1;

template <class Config, class Variant>
class ForwardMainloop {
 public:
  using Element = typename Config::Element;
  using Storage = typename Config::SharedStorage;
  using OutputTile = typename Config::OutputTile;
  using ScoreTile = typename Config::ScoreTile;
  using Softmax = OnlineSoftmax<OutputTile::kThreadRows>;

  // `scale` is the resolved softmax scale.
  ATTNKIT_DEVICE ForwardMainloop(Storage& smem, int consumer, float scale, const BandMask& band)
      : smem_(smem),
        consumer_(consumer),
        lane_(static_cast<int>(threadIdx.x % 128) % 32),
        warp_row_((static_cast<int>(threadIdx.x % 128) / 32) * 16),
        scale_(scale),
        scale_log2_(Variant::has_score_mod ? kLog2e : scale * kLog2e),
        band_(band) {}

  // Turn-taking: consumer c issues after a sync on its barrier; consumer c - 1 arrives there
  // once it has issued. The turns run on from one tile to the next: the last consumer's last
  // turn of a tile hands consumer 0 the first of the next, so consumer 0 can issue it while the
  // others still finish this tile. The last consumer gives the very first turn (begin), and
  // consumer 0 takes the arrival left after the last tile (end), so each barrier's arrivals
  // match its syncs.
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void begin() const {
    if (Config::kPingPong && consumer_ == kLastConsumer) named_barrier_arrive<256>(kSchedulerBarrier + 0);
  }
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void end() const {
    if (Config::kPingPong && consumer_ == 0) named_barrier_sync<256>(kSchedulerBarrier + 0);
  }

  // The log2-domain factor the softmax applied to the scores (for the epilogue's finalize).
  ATTNKIT_DEVICE float scale_log2() const { return scale_log2_; }

  // O (unnormalized) and the softmax statistics of this consumer's rows of `tile`, over the
  // `n_blocks` (> 0) blocks of `walk`. q_state and k_state are the consumer's positions in the
  // Q and K/V pipelines, carried from tile to tile; `o` is zero and `softmax` reset.
  template <class Walk>
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void compute(const ForwardTile& tile, const Walk& walk, int n_blocks,
                                                  const Variant& variant, OutputTile& o, Softmax& softmax,
                                                  PipelineState& q_state, PipelineState& k_state) {
    constexpr int kBlockN = Config::kBlockN;
    constexpr int kStages = Config::kStages;
    constexpr int kRows = Config::kWarpgroupRows;
    Element* const q_tile = smem_.q[q_state.stage][consumer_];
    const int batch = tile.coord.batch;
    const int head = tile.coord.head;
    const int seqlen_q = tile.span.seqlen_q;
    const int seqlen_k = tile.span.seqlen_k;
    const int group_q0 = tile.q_begin + consumer_ * kRows;
    const int warp_q0 = group_q0 + warp_row_;
    const int lane = lane_;
    const float scale = scale_;
    const BandMask band = band_;

    const int next = consumer_ == kLastConsumer ? 0 : consumer_ + 1;
    const bool ping_pong = Config::kPingPong && n_blocks > 0;
    auto wait_turn = [&] {
      if (ping_pong) named_barrier_sync<256>(kSchedulerBarrier + consumer_);
    };
    auto pass_turn = [&] {
      if (ping_pong) named_barrier_arrive<256>(kSchedulerBarrier + next);
    };
    // Every consumer warp releases a stage once its wgmmas reading it have retired.
    auto release = [&](auto& pipe, const PipelineState& state) { pipe.consumer_release(state, lane == 0); };

    // Score tiles: with ScoresAhead two, S of block i in one while block i + 1's is computed
    // into the other (their roles swap every block); otherwise one, S becoming P in place.
    ScoreTile s0, s1;  // s1: ScoresAhead only
    auto issue_scores = [&](ScoreTile& s, const Element* k_tile) {
      warpgroup_gemm_a_bt<Element, kRows, kBlockN, Config::kHeadDim / 16>(s, q_tile, k_tile, false);
    };
    // Pins the register tiles a GEMM batch reads before its wgmma_fence: without it the compiler
    // may sink their last writes (the rescale of O, the P conversion) below the fence, and ptxas
    // then has to insert a second fence of its own.
    auto pin_operands = [&](auto&... tiles) { (fence_operands(tiles), ...); };
    // score_mod, the mask on partial tiles, the online softmax: S becomes P in place.
    auto softmax_block = [&](ScoreTile& s, int i, int n_block, float (&o_rescale)[OutputTile::kThreadRows]) {
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
      softmax.absorb(s, scale_log2_, o_rescale, AccumulatorRowReduce{});
    };

    smem_.q_pipe[consumer_].consumer_wait(q_state);
    float o_rescale[OutputTile::kThreadRows];
    // K stages are consumed by the S GEMMs in order (k_state: the next one to compute on), V
    // stages by the P·V GEMMs (v_state), one or (ScoresAhead) two blocks behind.
    PipelineState v_state = k_state;
    // S of block i is in: its K stage is free and, after the tile's last S GEMM, the Q tile
    // (where O has tiles of its own).
    auto scores_retired = [&](int i) {
      release(smem_.k_pipe, k_state);
      if (Config::kSeparateOutput && i == n_blocks - 1) release(smem_.q_pipe[consumer_], q_state);
      k_state.advance<kStages>();
    };
    // With ScoresAhead the first turn issues the first two blocks' S GEMMs (as two groups),
    // so block 1's runs beside block 0's softmax. Where there is no block to compute ahead,
    // a GEMM on a tile that stays loaded until it retires (its result unused) takes its
    // place: ptxas serializes every wgmma of a kernel whose wgmma issue is conditional
    // (C7514/C7515: the accumulator registers are then also written by other instructions).
    const bool second_ahead = Config::kScoresAhead && n_blocks > 1;
    smem_.k_pipe.consumer_wait(k_state);
    PipelineState k_ahead = k_state;
    if (second_ahead) {
      k_ahead.advance<kStages>();
      smem_.k_pipe.consumer_wait(k_ahead);
    }
    wait_turn();
    pin_operands(s0);
    if constexpr (Config::kScoresAhead) pin_operands(s1);
    wgmma_fence();
    issue_scores(s0, smem_.k[k_state.stage]);
    wgmma_commit_group();
    if constexpr (Config::kScoresAhead) {
      issue_scores(s1, smem_.k[(second_ahead ? k_ahead : k_state).stage]);
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
      for (int r = 0; r < OutputTile::kThreadRows; ++r) sums += softmax.row_sum[r];
      hold_wait_after(sums, &smem_.wait_anchor[consumer_ * 128 + static_cast<int>(threadIdx.x % 128)]);
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
      for (int r = 0; r < OutputTile::kThreadRows; ++r) rescale_needed |= o_rescale[r] != 1.f;
      if (__any_sync(0xffffffffu, rescale_needed)) o.scale_rows(o_rescale);
    };
    auto issue_output = [&] {
      smem_.v_pipe.consumer_wait(v_state);
      pin_operands(o, p);
      wgmma_fence();
      warpgroup_gemm_regs_b<Element, kBlockN>(o, p, smem_.v[v_state.stage]);
      wgmma_commit_group();
    };
    // Block i: its P·V of block i - 1 issued beside the S GEMM of block i (then waited for
    // before the softmax) or, with ScoresAhead, of block i + 1 (S of block i is already in
    // `s`; the next one goes to `s_next`, waited for after the softmax).
    auto block = [&](int i, ScoreTile& s, ScoreTile& s_next) {
      n_block = walk.next(n_block, i - 1);
      const bool issue_next = Config::kScoresAhead && i + 1 < n_blocks;
      if (!Config::kScoresAhead || issue_next) smem_.k_pipe.consumer_wait(k_state);
      wait_turn();
      if constexpr (Config::kScoresAhead) {
        // P·V first: the batch's issue returns once its last wgmma is queued, so the short
        // P·V wgmmas ahead of the S ones shorten the stall. On the last block the stand-in
        // S GEMM reads the V tile of the P·V beside it.
        issue_output();
        pin_operands(s_next);
        wgmma_fence();
        issue_scores(s_next, issue_next ? smem_.k[k_state.stage] : smem_.v[v_state.stage]);
        wgmma_commit_group();
        pass_turn();
      } else {
        pin_operands(s);
        wgmma_fence();
        issue_scores(s, smem_.k[k_state.stage]);
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
      release(smem_.v_pipe, v_state);
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
    release(smem_.v_pipe, v_state);
  }

 private:
  static constexpr int kLastConsumer = Config::kConsumerWarpgroups - 1;

  Storage& smem_;
  int consumer_;
  int lane_;
  int warp_row_;  // this warp's first row within the warpgroup's 64
  float scale_;
  float scale_log2_;  // with a score_mod the logits are scaled before the hook: only log2(e)
  BandMask band_;
};

}  // namespace attnkit::hopper
