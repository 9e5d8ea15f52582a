#pragma once
// Shared→register loads of mma operands: ldmatrix.sync.aligned.m8n8.x4[.trans].shared.b16.
// Which lane must point at which row is in layout/mma_fragment.cuh (ldmatrix_*_source).

#include <cstdint>

#include "cp_async.cuh"

namespace attnkit {

// ldmatrix.sync.aligned.m8n8.x4.shared.b16 {d0, d1, d2, d3}, [row address of this lane]
// `row_address` is this lane's row, as a shared-state-space address (shared_address()).
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void ldmatrix_x4(uint32_t (&fragment)[4], uint32_t row_address) {
#if ATTNKIT_DEVICE_SM80
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(fragment[0]), "=r"(fragment[1]), "=r"(fragment[2]), "=r"(fragment[3])
               : "r"(row_address));
#endif
}

// ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16: each 8 × 8 matrix arrives transposed, so a
// k-major tile (V stored keys × head dim) yields the B operand of P·V.
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void ldmatrix_x4_trans(uint32_t (&fragment)[4], uint32_t row_address) {
#if ATTNKIT_DEVICE_SM80
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(fragment[0]), "=r"(fragment[1]), "=r"(fragment[2]), "=r"(fragment[3])
               : "r"(row_address));
#endif
}

}  // namespace attnkit
