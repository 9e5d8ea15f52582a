#pragma once
// Device side of the tensor-memory accelerator: one elected thread issues a bulk tensor copy
// of a 64-column panel (sm90/tensor_map.cuh) into shared memory; its completion is counted in bytes
// on an mbarrier (sm90/mbarrier_pipeline.cuh), which the consumers wait on. The map lives in
// the kernel's parameter space (a __grid_constant__ argument), where the TMA unit reads it.

#include <cstdint>

#include <cuda.h>
#include <cuda/ptx>

#include "../core/config.cuh"
#include "tensor_map.cuh"

namespace attnkit::hopper {

// Copies panels of columns [0, Columns) of rows [row, row + box_rows) of (head, batch) into
// `shared_tile`, panel p at p · PanelElements (PanelElements = box_rows · 64).
template <int Columns, int PanelElements, class Element>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void tma_load_panels(Element* shared_tile, const CUtensorMap& map, int row, int head,
                                                        int batch, uint64_t* barrier) {
#if ATTNKIT_DEVICE_SM90A
#pragma unroll
  for (int panel = 0; panel < Columns / kTmaPanelColumns; ++panel) {
    const int32_t coords[4] = {panel * kTmaPanelColumns, row, head, batch};
    cuda::ptx::cp_async_bulk_tensor(cuda::ptx::space_cluster, cuda::ptx::space_global,
                                    shared_tile + panel * PanelElements, &map, coords, barrier);
  }
#endif
}

// Fetches the map into the TMA unit's cache ahead of the first copy.
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void tma_prefetch_map(const CUtensorMap& map) {
#if ATTNKIT_DEVICE_SM90A
  asm volatile("prefetch.tensormap [%0];\n" ::"l"(reinterpret_cast<uint64_t>(&map)) : "memory");
#endif
}

}  // namespace attnkit::hopper
