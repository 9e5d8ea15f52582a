#pragma once
// Role: the Hopper backward's epilogue. After the main loop: dK ·= scale; dK and dV leave
// through the K and V tiles in shared memory, once no dQ GEMM of either consumer group reads
// K, and each warp stores its own 16 rows.
//
//   BackwardEpilogue<Config>::store(smem, problem, tile, d_k, d_v, mainloop.dk, mainloop.dv, mainloop.key_row());

#include "../attention/sequence.cuh"
#include "../core/config.cuh"
#include "../mma/accumulator_store.cuh"
#include "../sm90/warp_specialization.cuh"
#include "../tile/shared_to_global.cuh"
#include "backward_mainloop.cuh"
#include "backward_tile.cuh"

namespace attnkit::hopper {

template <class Config>
struct BackwardEpilogue {
  using Element = typename Config::Element;
  using KVLayout = typename Config::KVLayout;

  // `dk` is scaled in place. `key_row`: the warp's first row within the tile.
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE static void store(typename Config::SharedStorage& smem,
                                                       const AttentionProblem& problem,
                                                       const BackwardTile<Config>& tile, const TensorRef& d_k,
                                                       const TensorRef& d_v, typename Config::GradTile& dk,
                                                       const typename Config::GradTile& dv, int key_row) {
    const int lane = static_cast<int>(threadIdx.x % 32);
    const bool varlen = problem.cu_seqlens_q != nullptr;
    named_barrier_sync<256>(kKeysFreeBarrier);
    const float scale = problem.softmax_scale;
    dk.for_each(lane, [&](int, int, float& value) { value *= scale; });
    store_accumulator<Element, KVLayout>(dk, smem.k, key_row, lane);
    store_accumulator<Element, KVLayout>(dv, smem.v, key_row, lane);
    __syncwarp();
    Element* const dk_global =
        sequence_start<Element>(d_k, tile.span.k_row_offset, tile.batch, tile.head_kv, varlen) +
        tile.k_begin * d_k.row_stride;
    Element* const dv_global =
        sequence_start<Element>(d_v, tile.span.k_row_offset, tile.batch, tile.head_kv, varlen) +
        tile.k_begin * d_v.row_stride;
    const int valid_rows = tile.span.seqlen_k - tile.k_begin;
    store_rows<KVLayout, 16, 32>(smem.k, dk_global, d_k.row_stride, key_row, valid_rows, lane);
    store_rows<KVLayout, 16, 32>(smem.v, dv_global, d_v.row_stride, key_row, valid_rows, lane);
  }
};

}  // namespace attnkit::hopper
