#pragma once
// Role: the Hopper backward's consumer main loop. Two consumer warpgroups, 64 keys of the
// tile each (wgmma's M), per step (one query block of one query head):
//
//   Sᵀ  = K Qᵀ,  dPᵀ = V dOᵀ                   (wgmma, both operands from shared memory)
//   Pᵀ  = exp2(score_mod(Sᵀ·scale)·log2e − LSE·log2e),  dSᵀ = Pᵀ ∘ (dPᵀ − D) ∘ score_mod'
//   dV += Pᵀ dO,  dK += dSᵀ Q                  (Pᵀ, dSᵀ from registers; dK, dV stay there)
//   dSᵀ → shared memory; both groups' halves in, then dQ += dS K, each group its half
//                                                (config: rows or columns), added to the
//                                                fp32 accumulator with vector reductions
//
//   BackwardMainloop<Config, Variant> mainloop(smem, problem, tile, variant, scratch, consumer);
//   mainloop.run(walk);            // dK (unscaled) and dV in mainloop.dk, mainloop.dv

#include <type_traits>

#include <cuda/ptx>

#include "../core/math.cuh"
#include "../backward/scratch.cuh"
#include "../layout/mma_fragment.cuh"
#include "../mask/attention_mask.cuh"
#include "../mask/mask_score_tile.cuh"
#include "../mma/accumulator_store.cuh"
#include "../sm90/mbarrier_pipeline.cuh"
#include "../sm90/warp_specialization.cuh"
#include "../sm90/wgmma.cuh"
#include "../tile/atomic_accumulate.cuh"
#include "backward_tile.cuh"

namespace attnkit::hopper {

// Named barrier ids of the two consumer warpgroups (256 threads).
inline constexpr int kDsReadyBarrier = 1;  // both halves of dSᵀ are in shared memory
inline constexpr int kKeysFreeBarrier = 2; // no dQ GEMM reads K any more: dK, dV may take its place

template <class Config, class Variant>
class BackwardMainloop {
 public:
  using Element = typename Config::Element;
  using Storage = typename Config::SharedStorage;
  using ScoreTile = typename Config::ScoreTile;
  using GradTile = typename Config::GradTile;

  GradTile dk, dv;  // this warp's 16 keys; dK not yet multiplied by the softmax scale

  // Waits for the tile's K and V.
  ATTNKIT_DEVICE BackwardMainloop(Storage& smem, const AttentionProblem& problem, const BackwardTile<Config>& tile,
                                  const Variant& variant, const BackwardScratch& scratch, int consumer)
      : smem_(smem),
        problem_(problem),
        tile_(tile),
        variant_(variant),
        scratch_(scratch),
        lane_(static_cast<int>(threadIdx.x % 128) % 32),
        warp_row_((static_cast<int>(threadIdx.x % 128) / 32) * 16),
        key_row0_(consumer * Config::kWarpgroupKeys),
        dq_row0_(Config::kDqSplitsRows ? consumer * 64 : 0),
        dq_col0_(Config::kDqSplitsRows ? 0 : consumer * Config::kDqCols) {
    dk.fill(0.f);
    dv.fill(0.f);
    smem.kv_pipe.consumer_wait(PipelineState{});
  }

  // This warp's first key row within the tile (its dK, dV rows).
  ATTNKIT_DEVICE int key_row() const { return key_row0_ + warp_row_; }

  template <class Walk>
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void run(const Walk& walk) {
    constexpr int kBlockM = Config::kBlockM;
    constexpr int kBlockN = Config::kBlockN;
    constexpr int kHeadDim = Config::kHeadDim;
    constexpr int kKeys = Config::kWarpgroupKeys;
    using DSLayout = typename Config::DSLayout;
    const int lane = lane_;
    const int batch = tile_.batch;
    const int seqlen_q = tile_.span.seqlen_q;
    const int seqlen_k = tile_.span.seqlen_k;
    const int k_begin = tile_.k_begin;
    const BandMask band = problem_.band;
    const int warp_key0 = k_begin + key_row0_ + warp_row_;
    // The group's keys: rows key_row0.. of each 64-column panel of K and V.
    const Element* const k_rows = smem_.k + key_row0_ * 64;
    const Element* const v_rows = smem_.v + key_row0_ * 64;
    const float scale = problem_.softmax_scale;
    const float score_to_log2 = Variant::has_score_mod ? kLog2e : scale * kLog2e;
    // The group's part of dQ: the A operand is dSᵀ's 64-column panel of its rows, B the
    // 64-column panels of K from its columns.
    const Element* const k_dq_panels = smem_.k + dq_col0_ * kBlockN;  // panel dq_col0 / 64

    PipelineState state;
    typename Walk::Position position = walk.start();
    for (int step = 0; step < walk.size(); ++step) {
      const int head = tile_.head(walk, position);
      const int q_begin = tile_.q_begin(walk, position);
      const int stage = state.stage;
      // Reused two steps later: by then both groups have retired this step's dQ GEMM (each
      // retires it before its next arrival at kDsReadyBarrier, and writes only after that).
      Element* const ds_tile = smem_.ds[step % 2];

      smem_.q_pipe.consumer_wait(state);
      ScoreTile s, dp;
      wgmma_fence();
      warpgroup_gemm_a_bt<Element, kBlockN, kBlockM, kHeadDim / 16>(s, k_rows, smem_.q[stage], false);
      wgmma_commit_group();
      warpgroup_gemm_a_bt<Element, kBlockN, kBlockM, kHeadDim / 16>(dp, v_rows, smem_.d_o[stage], false);
      wgmma_commit_group();

      // A block hanging over the end of the queries is masked too: its rows past the sequence
      // hold another sequence's Q and dO (varlen), which must not count.
      TileClass tile_class = walk.classify(position, band, variant_, batch, head,
                                           TileBounds{q_begin, q_begin + kBlockM, k_begin + key_row0_,
                                                      k_begin + key_row0_ + kKeys},
                                           seqlen_q, seqlen_k);
      if (q_begin + kBlockM > seqlen_q) tile_class = TileClass::partial;

      wgmma_wait_group<1>();
      fence_operands(s);
      // With a score_mod, its derivative at each score, kept for dSᵀ (the tile becomes Pᵀ).
      ScoreTile score_grad;
      if constexpr (Variant::has_score_mod) {
#pragma unroll
        for (int r = 0; r < ScoreTile::kThreadRows; ++r)
#pragma unroll
          for (int c = 0; c < ScoreTile::kThreadCols; ++c) {
            const int q = q_begin + ScoreTile::tile_col(lane, c);
            const int key = warp_key0 + ScoreTile::tile_row(lane, r);
            const float score = s.at(r, c) * scale;
            score_grad.at(r, c) = variant_.score_mod_grad(score, batch, head, q, key);
            s.at(r, c) = variant_.score_mod(score, batch, head, q, key);
          }
      }
      // Pᵀ in place of Sᵀ, then dSᵀ in place of dPᵀ. This lane's columns are queries, in
      // adjacent pairs: their LSE and D are read as one float2 each. On masked tiles the
      // dropped elements are set to zero outright rather than through exp2(−inf − LSE), so no
      // value of a dropped element's LSE or D (a row that kept no key, a row past the
      // sequence) reaches dSᵀ.
      const float* const lse_log2 = smem_.lse_log2[stage];
      const float* const d_rows = smem_.d[stage];
      auto to_gradients = [&](auto masked) {
#pragma unroll
        for (int r = 0; r < ScoreTile::kThreadRows; ++r)
#pragma unroll
          for (int c = 0; c < ScoreTile::kThreadCols; c += 2) {
            const float2 lse_pair = *reinterpret_cast<const float2*>(lse_log2 + ScoreTile::tile_col(lane, c));
#pragma unroll
            for (int half = 0; half < 2; ++half) {
              float& score = s.at(r, c + half);
              const float p = fast_exp2(fmaf(score, score_to_log2, -(half ? lse_pair.y : lse_pair.x)));
              score = decltype(masked)::value && score == negative_infinity() ? 0.f : p;
            }
          }
        wgmma_wait_group<0>();
        fence_operands(dp);
#pragma unroll
        for (int r = 0; r < ScoreTile::kThreadRows; ++r)
#pragma unroll
          for (int c = 0; c < ScoreTile::kThreadCols; c += 2) {
            const float2 d_pair = *reinterpret_cast<const float2*>(d_rows + ScoreTile::tile_col(lane, c));
#pragma unroll
            for (int half = 0; half < 2; ++half) {
              const float p = s.at(r, c + half);
              float d_score = p * (dp.at(r, c + half) - (half ? d_pair.y : d_pair.x));
              if constexpr (Variant::has_score_mod) d_score *= score_grad.at(r, c + half);
              // A dropped element's P is 0; a kept one's D is a real row's, so 0 there is exact.
              if constexpr (decltype(masked)::value) d_score = p == 0.f ? 0.f : d_score;
              dp.at(r, c + half) = d_score;
            }
          }
      };
      if (tile_class == TileClass::full) {
        to_gradients(std::false_type{});
      } else {
        mask_transposed_score_tile(s, band, variant_, batch, head, warp_key0, q_begin, seqlen_q, seqlen_k, lane);
        to_gradients(std::true_type{});
      }

      auto p = to_operand_a<Element>(s);
      auto ds = to_operand_a<Element>(dp);
      // dSᵀ for the dQ GEMM, which reads it through the async proxy: the generic-proxy writes
      // are fenced for it before the barrier that tells the other group they are in.
      store_accumulator<Element, DSLayout>(dp, ds_tile, key_row0_ + warp_row_, lane);
      cuda::ptx::fence_proxy_async(cuda::ptx::space_shared);
      fence_operands(p);
      fence_operands(ds);

      // dQ first (it needs both groups' dSᵀ), then dV and dK: dQ's part is added to the
      // accumulator while they run.
      named_barrier_sync<256>(kDsReadyBarrier);
      typename Config::DqTile dq;
      wgmma_fence();
      warpgroup_gemm_at_b<Element, kBlockN, kBlockN / 16>(dq, ds_tile + dq_row0_ * kBlockN, k_dq_panels, false);
      wgmma_commit_group();
      warpgroup_gemm_regs_b<Element, kBlockM>(dv, p, smem_.d_o[stage]);
      warpgroup_gemm_regs_b<Element, kBlockM>(dk, ds, smem_.q[stage]);
      wgmma_commit_group();

      wgmma_wait_group<1>();
      fence_operands(dq);
      add_dq(dq, head, q_begin);

      wgmma_wait_group<0>();  // dV and dK are in: Q and dO of this stage are free
      fence_operands(dv);
      fence_operands(dk);
      fence_operands(p);
      fence_operands(ds);
      // A branch around the arrive, not its predicate as in the forward: here the predicated
      // form measured 1-5% slower (bench/README.md, Hopper backward decisions).
      if (lane == 0) smem_.q_pipe.consumer_release(state, true);

      state.advance<Config::kStages>();
      walk.advance(position);
    }
  }

 private:
  // Adds a step's dQ part to the fp32 accumulator. This lane's dQ elements: rows g and g + 8 of
  // its warp's 16, two adjacent columns per n-tile.
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void add_dq(const typename Config::DqTile& dq, int head, int q_begin) const {
    const int64_t dq_row_stride = int64_t(problem_.heads_q) * Config::kHeadDim;
    const layout::Coord first = layout::mma_c_coord(lane_, 0);
    const int q_first = q_begin + dq_row0_ + warp_row_ + first.row;
    float* const dq_first_row = scratch_.dq_accumulator +
                                scratch_row(problem_, tile_.span, tile_.batch, q_first) * dq_row_stride +
                                head * Config::kHeadDim + dq_col0_ + first.col;
    const bool first_valid = q_first < tile_.span.seqlen_q;
    const bool second_valid = q_first + 8 < tile_.span.seqlen_q;
#pragma unroll
    for (int n = 0; n < Config::DqTile::kNTiles; ++n) {
      if (first_valid) atomic_add_pair(dq_first_row + n * 8, dq.v[0][n][0], dq.v[0][n][1]);
      if (second_valid) atomic_add_pair(dq_first_row + 8 * dq_row_stride + n * 8, dq.v[0][n][2], dq.v[0][n][3]);
    }
  }

  Storage& smem_;
  const AttentionProblem& problem_;
  const BackwardTile<Config>& tile_;
  const Variant& variant_;
  const BackwardScratch& scratch_;
  int lane_, warp_row_, key_row0_, dq_row0_, dq_col0_;
};

}  // namespace attnkit::hopper
