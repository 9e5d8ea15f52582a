#pragma once
// The warp-wide tensor-core instruction of sm_80+: D = A·B + C with 16-bit A, B and fp32 C, D.
// Operand ownership (which lane holds what) is in layout/mma_fragment.cuh.

#include <cstdint>

#include "../core/element.cuh"

namespace attnkit {

// mma.sync.aligned.m16n8k16.row.col.f32.{bf16,f16}.{bf16,f16}.f32 {d0..d3}, {a0..a3}, {b0, b1}, {c0..c3}
// (accumulates in place: C = D)
template <class Element>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void mma_m16n8k16(float (&accumulator)[4], const uint32_t (&a)[4], uint32_t b0,
                                                     uint32_t b1) {
#if ATTNKIT_DEVICE_SM80
  if constexpr (ElementTraits<Element>::dtype == DType::bf16) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(accumulator[0]), "+f"(accumulator[1]), "+f"(accumulator[2]), "+f"(accumulator[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(accumulator[0]), "+f"(accumulator[1]), "+f"(accumulator[2]), "+f"(accumulator[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
#endif
}

}  // namespace attnkit
