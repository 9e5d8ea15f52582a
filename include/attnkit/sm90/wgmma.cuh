#pragma once
// Warpgroup matrix multiply (sm_90a): the ordering instructions every wgmma needs, and the two
// products attention is made of, over attnkit's tile types.
//
//   S(64 × N)  = A(64 × K) · B(N × K)ᵀ     A, B in shared memory, K-major (Q, K as stored)
//   O(64 × N) += P(64 × K) · V(K × N)      P in registers, V in shared memory, MN-major
//   C(64 × N)  = A(64 × K) · B(K × N)      A stored transposed (K × 64), B as stored (K × N),
//                                          both MN-major in shared memory (the backward's dQ)
//
// Both tiles are 128-byte swizzled, 64-column panels (layout/wgmma_layout.cuh), as the TMA
// writes them. A warpgroup's accumulator is one AccumulatorTile<1, N/8> per warp (its 16 rows);
// the A operand from registers is one OperandTileA<1, K/16> per warp.
//
// wgmma runs asynchronously: its accumulator and A registers belong to the tensor core from
// issue until wgmma_wait retires the group. Around that window:
//   wgmma_fence()           before the first wgmma that reads registers ordinary code wrote;
//   wgmma_commit_group()    closes the wgmmas issued so far into a group;
//   wgmma_wait_group<N>()   until at most N groups are in flight;
//   fence_operands(tile)    after the wait (and before the issue) on every register tile the
//                           group uses, so the compiler neither moves reads of the result above
//                           the wait nor reuses an operand register while the group runs.

#include <cstdint>

#include "../layout/wgmma_layout.cuh"
#include "../mma/register_tile.cuh"
#include "wgmma_ops.cuh"

namespace attnkit::hopper {

ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void wgmma_fence() {
#if ATTNKIT_DEVICE_SM90A
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}

ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void wgmma_commit_group() {
#if ATTNKIT_DEVICE_SM90A
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#endif
}

template <int InFlight>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void wgmma_wait_group() {
#if ATTNKIT_DEVICE_SM90A
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(InFlight) : "memory");
#endif
}

template <int MTiles, int NTiles>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void fence_operands(AccumulatorTile<MTiles, NTiles>& tile) {
#pragma unroll
  for (int m = 0; m < MTiles; ++m)
#pragma unroll
    for (int n = 0; n < NTiles; ++n)
#pragma unroll
      for (int i = 0; i < 4; ++i) asm volatile("" : "+f"(tile.v[m][n][i])::"memory");
}

template <int MTiles, int KTiles>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void fence_operands(OperandTileA<MTiles, KTiles>& tile) {
#pragma unroll
  for (int m = 0; m < MTiles; ++m)
#pragma unroll
    for (int k = 0; k < KTiles; ++k)
#pragma unroll
      for (int i = 0; i < 4; ++i) asm volatile("" : "+r"(tile.v[m][k][i])::"memory");
}

ATTNKIT_DEVICE ATTNKIT_FORCEINLINE uint32_t shared_address(const void* pointer) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(pointer));
}

// Keeps the next wgmma_wait_group behind the computation of `value`. ptxas schedules a wait as
// early as it may: above any arithmetic that does not depend on it, up to the last memory
// access before it. Work meant to run while a wgmma is in flight (the softmax beside the P·V)
// can so end up after the wait, serialized with the GEMM, whenever something after the wait
// (the conversion of P into the registers the wgmma reads) pulls the wait up to interleave with
// it. A shared-memory store of a value that depends on all that work is such a memory access:
// the wait stays after it. `anchor` is a word of shared memory nothing reads, this thread's
// own (one word for several threads would be a write-write race to racecheck).
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void hold_wait_after(float value, float* anchor) {
  asm volatile("st.shared.f32 [%0], %1;\n" ::"r"(shared_address(anchor)), "f"(value) : "memory");
}

// acc (+)= A · Bᵀ over K = 16·KSteps. `a_tile` and `b_tile` are 128B-swizzled tiles of ARows
// and BRows rows (the warpgroup's A rows start at a_tile's row 0, B's N rows at b_tile's row 0),
// 1024-byte aligned. accumulate = false overwrites acc.
template <class Element, int ARows, int BRows, int KSteps, int NTiles>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void warpgroup_gemm_a_bt(AccumulatorTile<1, NTiles>& acc, const Element* a_tile,
                                                            const Element* b_tile, bool accumulate) {
  constexpr int kPanelElements = layout::kSwizzle128Bytes / 2;
  const uint32_t a_base = shared_address(a_tile);
  const uint32_t b_base = shared_address(b_tile);
#pragma unroll
  for (int k = 0; k < KSteps; ++k) {
    const int panel = k * 16 / kPanelElements;
    const uint32_t in_panel = (k * 16 % kPanelElements) * 2;
    const uint64_t a_desc =
        layout::kmajor_swizzle128_descriptor(a_base + panel * ARows * layout::kSwizzle128Bytes + in_panel);
    const uint64_t b_desc =
        layout::kmajor_swizzle128_descriptor(b_base + panel * BRows * layout::kSwizzle128Bytes + in_panel);
    WgmmaOp<Element, 8 * NTiles>::template shared_a<0, 0>(acc.v[0], a_desc, b_desc, (k > 0 || accumulate) ? 1 : 0);
  }
}

// acc += P · B over K = 16·KTiles keys: P from registers, B (K rows × N columns, N contiguous)
// a 128B-swizzled tile of BRows rows in shared memory, transposed by the instruction.
template <class Element, int BRows, int KTiles, int NTiles>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void warpgroup_gemm_regs_b(AccumulatorTile<1, NTiles>& acc,
                                                              const OperandTileA<1, KTiles>& p, const Element* b_tile) {
  constexpr uint32_t kPanelBytes = BRows * layout::kSwizzle128Bytes;
  const uint32_t b_base = shared_address(b_tile);
#pragma unroll
  for (int k = 0; k < KTiles; ++k) {
    const uint64_t b_desc = layout::mnmajor_swizzle128_descriptor(b_base + k * 16 * layout::kSwizzle128Bytes, kPanelBytes);
    WgmmaOp<Element, 8 * NTiles>::template register_a<1>(acc.v[0], p.v[0][k], b_desc, 1);
  }
}

// acc (+)= A · B over K = 16·KSteps with both operands MN-major in shared memory, transposed by
// the instruction: `a_tile` holds Aᵀ (K rows × the warpgroup's 64 M columns, one 64-column
// panel), `b_tile` B (K rows × N columns from its column 0, in panels of BRows rows). Each
// k-step of 16 is 16 rows further into both tiles.
template <class Element, int BRows, int KSteps, int NTiles>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void warpgroup_gemm_at_b(AccumulatorTile<1, NTiles>& acc, const Element* a_tile,
                                                            const Element* b_tile, bool accumulate) {
  constexpr uint32_t kPanelBytes = BRows * layout::kSwizzle128Bytes;
  const uint32_t a_base = shared_address(a_tile);
  const uint32_t b_base = shared_address(b_tile);
#pragma unroll
  for (int k = 0; k < KSteps; ++k) {
    const uint32_t step = k * 16 * layout::kSwizzle128Bytes;
    // A spans one panel along M, so its panel distance is never used.
    const uint64_t a_desc = layout::mnmajor_swizzle128_descriptor(a_base + step, kPanelBytes);
    const uint64_t b_desc = layout::mnmajor_swizzle128_descriptor(b_base + step, kPanelBytes);
    WgmmaOp<Element, 8 * NTiles>::template shared_a<1, 1>(acc.v[0], a_desc, b_desc, (k > 0 || accumulate) ? 1 : 0);
  }
}

}  // namespace attnkit::hopper
