#pragma once
// Role: the Hopper forward's producer. One thread loads each tile's Q (one 64-row box per
// consumer warpgroup, into that group's Q pipeline) and the K and V blocks the tile's walk
// visits, into a Config::kStages ring that runs on from one tile to the next (TMA copies,
// completion counted on each stage's `full` mbarrier; sm90/mbarrier_pipeline.cuh).
//
//   ForwardProducer<Config> producer(smem, maps, varlen);
//   scheduler.for_each_tile([&](const ForwardTile& tile) { producer.load(tile, walk_of(tile)); });

#include "../core/config.cuh"
#include "../sm90/mbarrier_pipeline.cuh"
#include "../sm90/tma_load.cuh"
#include "forward_tensor_maps.cuh"
#include "forward_tile_scheduler.cuh"

namespace attnkit::hopper {

template <class Config>
class ForwardProducer {
 public:
  using Storage = typename Config::SharedStorage;

  // Issues the descriptor prefetches: the first loads then find them cached.
  ATTNKIT_DEVICE ForwardProducer(Storage& smem, const ForwardTensorMaps& maps, bool varlen)
      : smem_(smem), maps_(maps), varlen_(varlen) {
    tma_prefetch_map(maps.q);
    tma_prefetch_map(maps.k);
    tma_prefetch_map(maps.v);
  }

  template <class Walk>
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void load(const ForwardTile& tile, const Walk& walk) {
    constexpr int kBlockN = Config::kBlockN;
    constexpr int kRows = Config::kWarpgroupRows;
    const int n_blocks = walk.size();
    if (n_blocks == 0) return;
    // Tensor coordinates: varlen rows are packed, with one "batch" in the map.
    const int map_batch = varlen_ ? 0 : tile.coord.batch;
    const int q_row = static_cast<int>(tile.span.q_row_offset) + tile.q_begin;
    const int k_row = static_cast<int>(tile.span.k_row_offset);
    for (int i = 0, n_block = walk.block(0); i < n_blocks; ++i) {
      const int row = k_row + n_block * kBlockN;
      uint64_t* k_full = smem_.k_pipe.producer_acquire(kv_state_, Config::kKVBytes);
      tma_load_panels<Config::kHeadDim, kBlockN * 64>(smem_.k[kv_state_.stage], maps_.k, row, tile.coord.head_kv,
                                                      map_batch, k_full);
      // Q after the first K block: that stage frees during the previous tile's last blocks,
      // Q only once its consumers are done with the previous tile's Q.
      if (i == 0) {
#pragma unroll
        for (int c = 0; c < Config::kConsumerWarpgroups; ++c) {
          uint64_t* q_full = smem_.q_pipe[c].producer_acquire(q_state_, Config::kQBytes);
          tma_load_panels<Config::kHeadDim, kRows * 64>(smem_.q[q_state_.stage][c], maps_.q, q_row + c * kRows,
                                                        tile.coord.head, map_batch, q_full);
        }
        q_state_.advance<Config::kQStages>();
      }
      uint64_t* v_full = smem_.v_pipe.producer_acquire(kv_state_, Config::kKVBytes);
      tma_load_panels<Config::kHeadDim, kBlockN * 64>(smem_.v[kv_state_.stage], maps_.v, row, tile.coord.head_kv,
                                                      map_batch, v_full);
      kv_state_.advance<Config::kStages>();
      if (i + 1 < n_blocks) n_block = walk.next(n_block, i);
    }
  }

 private:
  Storage& smem_;
  const ForwardTensorMaps& maps_;
  bool varlen_;
  PipelineState q_state_, kv_state_;
};

}  // namespace attnkit::hopper
