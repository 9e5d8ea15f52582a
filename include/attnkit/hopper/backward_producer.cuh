#pragma once
// Role: the Hopper backward's producers (warpgroup 0). One thread loads the tile's K and V
// once, then Q and dO of every step into a Config::kStages ring (TMA, completion counted on the
// stage's `full` mbarrier); one warp copies each step's LSE·log2(e) and D rows beside them
// (cp.async, arriving on the same barrier). D and LSE·log2(e) come from the FA2 backward's
// preprocess (backward/pre_post.cuh), in its scratch rows.
//
//   BackwardProducer<Config> producer(smem, problem, tile, walk);
//   producer.copy_row_statistics(scratch, lane);   // warp 1
//   producer.load(maps);                           // thread 0

#include "../core/config.cuh"
#include "../backward/scratch.cuh"
#include "../sm90/mbarrier_pipeline.cuh"
#include "../sm90/tma_load.cuh"
#include "../tile/cp_async.cuh"
#include "backward_tensor_maps.cuh"
#include "backward_tile.cuh"

namespace attnkit::hopper {

template <class Config, class Walk>
class BackwardProducer {
 public:
  using Storage = typename Config::SharedStorage;

  ATTNKIT_DEVICE BackwardProducer(Storage& smem, const AttentionProblem& problem, const BackwardTile<Config>& tile,
                                  const Walk& walk)
      : smem_(smem), problem_(problem), tile_(tile), walk_(walk) {}

  // Each step's LSE·log2(e) and D rows; rows past the sequence read as zeros (never used: the
  // consumers mask them).
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void copy_row_statistics(const BackwardScratch& scratch, int lane) const {
    const int64_t scratch_rows = int64_t(problem_.batch) * problem_.seqlen_q;
    PipelineState state;
    typename Walk::Position position = walk_.start();
    for (int step = 0; step < walk_.size(); ++step) {
      const int head = tile_.head(walk_, position);
      const int q_begin = tile_.q_begin(walk_, position);
      // Packed scratch order: (query head, row).
      const int64_t first_row = head * scratch_rows + scratch_row(problem_, tile_.span, tile_.batch, q_begin);
      mbarrier_wait(&smem_.q_pipe.empty[state.stage], state.parity ^ 1u);
      for (int row = lane; row < Config::kBlockM; row += 32) {
        const bool valid = q_begin + row < tile_.span.seqlen_q;
        const int64_t at = valid ? first_row + row : first_row;
        cp_async_4(&smem_.lse_log2[state.stage][row], scratch.lse_log2_rows + at, valid);
        cp_async_4(&smem_.d[state.stage][row], scratch.d_rows + at, valid);
      }
      cp_async_arrive_on(&smem_.q_pipe.full[state.stage]);
      state.advance<Config::kStages>();
      walk_.advance(position);
    }
  }

  // K and V, then each step's Q and dO.
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void load(const BackwardTensorMaps& maps) const {
    constexpr int kHeadDim = Config::kHeadDim;
    tma_prefetch_map(maps.q);
    tma_prefetch_map(maps.d_o);
    // Tensor coordinates: varlen rows are packed, with one "batch" in the map.
    const int map_batch = problem_.cu_seqlens_q != nullptr ? 0 : tile_.batch;
    const int q_row0 = static_cast<int>(tile_.span.q_row_offset);
    uint64_t* kv_full = smem_.kv_pipe.producer_acquire(PipelineState{}, 2 * Config::kKVBytes);
    const int k_row = static_cast<int>(tile_.span.k_row_offset) + tile_.k_begin;
    tma_load_panels<kHeadDim, Config::kBlockN * 64>(smem_.k, maps.k, k_row, tile_.head_kv, map_batch, kv_full);
    tma_load_panels<kHeadDim, Config::kBlockN * 64>(smem_.v, maps.v, k_row, tile_.head_kv, map_batch, kv_full);
    PipelineState state;
    typename Walk::Position position = walk_.start();
    for (int step = 0; step < walk_.size(); ++step) {
      const int head = tile_.head(walk_, position);
      const int q_row = q_row0 + tile_.q_begin(walk_, position);
      uint64_t* full = smem_.q_pipe.producer_acquire(state, 2 * Config::kQBytes);
      tma_load_panels<kHeadDim, Config::kBlockM * 64>(smem_.q[state.stage], maps.q, q_row, head, map_batch, full);
      tma_load_panels<kHeadDim, Config::kBlockM * 64>(smem_.d_o[state.stage], maps.d_o, q_row, head, map_batch, full);
      state.advance<Config::kStages>();
      walk_.advance(position);
    }
  }

 private:
  Storage& smem_;
  const AttentionProblem& problem_;
  const BackwardTile<Config>& tile_;
  const Walk& walk_;
};

}  // namespace attnkit::hopper
