#pragma once
// Device side of TMA stores: one thread copies 64-column panels of a 128-byte-swizzled shared
// tile (sm90/tensor_map.cuh) to a tensor as one bulk async group, and the threads go on while the
// copy engine reads the tile and writes global memory. Rows past the end of the map's view are
// not written.
//
// The protocol around a store, for the shared tile's rows:
//   - writes to the rows by other threads (generic proxy) are ordered before the copy, which
//     reads through the async proxy: fence_proxy_async(space_shared), then a barrier over the
//     writers, then the issue;
//   - before the rows are written again, the issuing thread waits until the copy has read them
//     (tma_store_wait_read), then a barrier lets the other writers go;
//   - before the CTA exits, the issuing thread waits for its stores (tma_store_wait): shared
//     memory must outlive the copy's reads.

#include <cstdint>

#include <cuda.h>
#include <cuda/ptx>

#include "../core/config.cuh"
#include "tensor_map.cuh"

namespace attnkit::hopper {

// Stores panels of columns [0, Columns) from `shared_tile` (panel p at p · PanelStride
// elements, `map`'s box of rows each) to rows [row, row + box rows) of (head, batch), and
// commits them as one bulk group.
template <int Columns, int PanelStride, class Element>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void tma_store_panels(const Element* shared_tile, const CUtensorMap& map, int row,
                                                         int head, int batch) {
#if ATTNKIT_DEVICE_SM90A
#pragma unroll
  for (int panel = 0; panel < Columns / kTmaPanelColumns; ++panel) {
    const int32_t coords[4] = {panel * kTmaPanelColumns, row, head, batch};
    cuda::ptx::cp_async_bulk_tensor(cuda::ptx::space_global, cuda::ptx::space_shared, &map, coords,
                                    shared_tile + panel * PanelStride);
  }
  cuda::ptx::cp_async_bulk_commit_group();
#endif
}

// Waits until this thread's stores have read their shared memory (the tile may be rewritten).
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void tma_store_wait_read() {
#if ATTNKIT_DEVICE_SM90A
  cuda::ptx::cp_async_bulk_wait_group_read(cuda::ptx::n32_t<0>{});
#endif
}

// Waits until this thread's stores are complete.
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void tma_store_wait() {
#if ATTNKIT_DEVICE_SM90A
  cuda::ptx::cp_async_bulk_wait_group(cuda::ptx::n32_t<0>{});
#endif
}

}  // namespace attnkit::hopper
