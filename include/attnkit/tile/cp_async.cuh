#pragma once
// Ampere's asynchronous global→shared copy (cp.async), 16 bytes per thread, with the commit /
// wait-group protocol that lets a multi-stage pipeline keep several tiles in flight.

#include <cstdint>

#include "../core/config.cuh"

namespace attnkit {

ATTNKIT_DEVICE ATTNKIT_FORCEINLINE uint32_t shared_address(const void* pointer) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(pointer));
}

// cp.async.cg.shared.global [dst], [src], 16, src_size
// .cg caches in L2 only: each tile is read once per CTA, so L1 would only be polluted.
// With `valid` false the source size is 0 and the 16 destination bytes are zero-filled: rows
// past the end of a sequence read as zeros (V must not hold garbage that 0 · NaN would spread).
// `global` must still be a valid address when !valid; callers pass the tile's base.
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void cp_async_16(void* shared, const void* global, bool valid) {
#if ATTNKIT_DEVICE_SM80
  const int source_bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(shared_address(shared)), "l"(global),
               "r"(source_bytes)
               : "memory");
#endif
}

// cp.async.ca.shared.global [dst], [src], 4, src_size: one 4-byte word (per-row statistics such
// as LSE, whose rows need not be 16-byte aligned), zero-filled when !valid.
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void cp_async_4(void* shared, const void* global, bool valid) {
#if ATTNKIT_DEVICE_SM80
  const int source_bytes = valid ? 4 : 0;
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(shared_address(shared)), "l"(global),
               "r"(source_bytes)
               : "memory");
#endif
}

// Arrives on the mbarrier at `barrier` (shared memory) once every cp.async this thread issued
// before has landed; .noinc: the arrival is one of those the barrier was initialized to expect.
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void cp_async_arrive_on(uint64_t* barrier) {
#if ATTNKIT_DEVICE_SM80
  asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(shared_address(barrier)) : "memory");
#endif
}

// Closes the group of copies issued since the last commit.
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void cp_async_commit() {
#if ATTNKIT_DEVICE_SM80
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}

// Waits until at most `Pending` committed groups are still in flight (this thread's copies
// only: a __syncthreads must follow before other threads read the tile).
template <int Pending>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void cp_async_wait() {
#if ATTNKIT_DEVICE_SM80
  asm volatile("cp.async.wait_group %0;\n" ::"n"(Pending) : "memory");
#endif
}

}  // namespace attnkit
