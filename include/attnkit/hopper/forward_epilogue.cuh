#pragma once
// Role: the Hopper forward's epilogue. A consumer warpgroup's rows of a tile after the main
// loop: O /= l, O out, LSE = m + log l out.
//
// O leaves through each warp's own 16 rows of an output tile in shared memory (stmatrix): the
// config's own O tiles, or the Q tile once its wgmmas have retired. Lane 0 stores them with the
// TMA (sm90/tma_store.cuh), and the warp goes on to the next tile while the copy runs. Where the TMA
// could write rows that are not this tile's (a varlen entry ending inside the warp's rows: the
// next entry's rows follow in the map's view), the warp stores its valid rows itself.
//
//   ForwardEpilogue<Config> epilogue(smem, maps, problem, consumer);
//   epilogue.store(tile, n_blocks, o, softmax, scale_log2, q_state);   // per tile
//   epilogue.finish();                                                  // after the last

#include <cuda/ptx>

#include "../attention/sequence.cuh"
#include "../core/config.cuh"
#include "../layout/mma_fragment.cuh"
#include "../mma/row_reduce.cuh"
#include "../sm90/mbarrier_pipeline.cuh"
#include "../sm90/stmatrix_store.cuh"
#include "../sm90/tma_store.cuh"
#include "../softmax/online_softmax.cuh"
#include "../tile/shared_to_global.cuh"
#include "forward_tensor_maps.cuh"
#include "forward_tile_scheduler.cuh"

namespace attnkit::hopper {

template <class Config>
class ForwardEpilogue {
 public:
  using Element = typename Config::Element;
  using Storage = typename Config::SharedStorage;
  using OutputTile = typename Config::OutputTile;
  using Softmax = OnlineSoftmax<OutputTile::kThreadRows>;

  ATTNKIT_DEVICE ForwardEpilogue(Storage& smem, const ForwardTensorMaps& maps, const AttentionProblem& problem,
                                 int consumer)
      : smem_(smem),
        maps_(maps),
        problem_(problem),
        consumer_(consumer),
        lane_(static_cast<int>(threadIdx.x % 128) % 32),
        warp_row_((static_cast<int>(threadIdx.x % 128) / 32) * 16),
        o_tile_(Config::output_tile(smem, consumer)) {}

  // Normalizes and stores this consumer's rows of `tile`: `o` and `softmax` as the main loop
  // left them after `n_blocks` blocks (0: no key visited, O = 0 and LSE = −inf), `scale_log2`
  // the factor its softmax applied. Where O is staged in the Q tile, releases that tile (the
  // consumer's Q pipeline at q_state) once the copy has read it; advances q_state past a tile
  // whose Q was loaded.
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void store(const ForwardTile& tile, int n_blocks, OutputTile& o, Softmax& softmax,
                                                float scale_log2, PipelineState& q_state) {
    constexpr int kRows = Config::kWarpgroupRows;
    using QLayout = typename Config::QLayout;
    const int lane = lane_;
    const int batch = tile.coord.batch;
    const int head = tile.coord.head;
    const bool varlen = problem_.cu_seqlens_q != nullptr;
    const int group_q0 = tile.q_begin + consumer_ * kRows;
    const int warp_q0 = group_q0 + warp_row_;

    float o_normalizer[OutputTile::kThreadRows];
    float lse[OutputTile::kThreadRows];
    softmax.finalize(scale_log2, AccumulatorRowReduce{}, o_normalizer, lse);
    o.scale_rows(o_normalizer);

    Element* const o_global = sequence_start<Element>(problem_.o, tile.span.q_row_offset, batch, head, varlen) +
                              group_q0 * problem_.o.row_stride;
    const int valid_rows = tile.q_end - group_q0;
    if (n_blocks > 0) {
      // The rows are rewritten only after the previous tile's copy (or, on the other path,
      // every lane's reads of them) is done with them.
      if (lane == 0) tma_store_wait_read();
      __syncwarp();
      store_accumulator_stmatrix<Element, QLayout>(o, o_tile_, warp_row_, lane);
      // Generic-proxy writes of the tile, then async-proxy reads of it (the TMA store, or the
      // producer's next load of the Q tile the rows were staged in): fence, then sync.
      cuda::ptx::fence_proxy_async(cuda::ptx::space_shared);
      __syncwarp();
      if (!varlen || valid_rows >= warp_row_ + 16) {
        if (lane == 0)
          tma_store_panels<Config::kHeadDim, kRows * 64>(o_tile_ + warp_row_ * 64, maps_.o,
                                                         static_cast<int>(tile.span.q_row_offset) + warp_q0, head,
                                                         varlen ? 0 : batch);
      } else {
        store_rows<QLayout, 16, 32>(o_tile_, o_global, problem_.o.row_stride, warp_row_, valid_rows, lane);
      }
      if constexpr (!Config::kSeparateOutput) {
        // The producer refills this Q tile once every warp has released it: by then the copy
        // must have read the rows, and the other path's generic reads of them must be ordered
        // before the refill's async-proxy writes.
        if (lane == 0) tma_store_wait_read();
        cuda::ptx::fence_proxy_async(cuda::ptx::space_shared);
        __syncwarp();
        smem_.q_pipe[consumer_].consumer_release(q_state, lane == 0);
      }
      q_state.advance<Config::kQStages>();
    } else {
      // No key visited, no Q loaded: the producer may already be filling the Q tile for a
      // later tile, so O = 0 goes straight to global memory.
      store_zero_rows<QLayout, 16, 32>(o_global, problem_.o.row_stride, warp_row_, valid_rows, lane);
    }

    if (problem_.lse != nullptr && layout::lane_in_group(lane) == 0) {
      float* const lse_global = lse_start(problem_, tile.span, batch, head);
#pragma unroll
      for (int r = 0; r < OutputTile::kThreadRows; ++r) {
        const int q = warp_q0 + OutputTile::tile_row(lane, r);
        if (q < tile.q_end) lse_global[q] = lse[r];
      }
    }
  }

  // Shared memory must outlive the last copies' reads of it.
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void finish() const {
    if (lane_ == 0) tma_store_wait();
  }

 private:
  Storage& smem_;
  const ForwardTensorMaps& maps_;
  const AttentionProblem& problem_;
  int consumer_;
  int lane_;
  int warp_row_;  // this warp's first row within the warpgroup's 64
  Element* o_tile_;
};

}  // namespace attnkit::hopper
