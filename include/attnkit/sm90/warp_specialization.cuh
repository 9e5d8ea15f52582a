#pragma once
// Warp specialization on sm_90a: a CTA split into warpgroups (4 consecutive warps, the unit
// that issues wgmma) with different roles, register budgets moved between them, and named
// barriers that let two groups take turns.
//
// setmaxnreg changes the registers of every warp of the executing warpgroup; all its warps
// must execute the same one. It only takes effect when the kernel was compiled with a register
// cap (__launch_bounds__(threads, 1)), and each role must be one branch of a single if/else.
// The budget is per thread and a multiple of 8: a producer drops to few registers so that the
// consumers can take the rest of the register file.

#include "../core/config.cuh"
#include "../core/warp_uniform.cuh"
#include "../layout/wgmma_layout.cuh"

namespace attnkit::hopper {

ATTNKIT_DEVICE ATTNKIT_FORCEINLINE int warpgroup_index() {
  return warp_uniform(static_cast<int>(threadIdx.x) / layout::kWarpgroupThreads);
}

template <int Registers>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void warpgroup_release_registers() {
  static_assert(Registers % 8 == 0 && Registers >= 24 && Registers <= 256, "setmaxnreg takes 24..256, multiple of 8");
#if ATTNKIT_DEVICE_SM90A
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(Registers));
#endif
}

template <int Registers>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void warpgroup_claim_registers() {
  static_assert(Registers % 8 == 0 && Registers >= 24 && Registers <= 256, "setmaxnreg takes 24..256, multiple of 8");
#if ATTNKIT_DEVICE_SM90A
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(Registers));
#endif
}

// Named CTA barriers (ids 1..15; 0 is __syncthreads). `Threads` counts every participant, the
// ones that only arrive included, and is a multiple of 32.
template <int Threads>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void named_barrier_sync(int id) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "n"(Threads) : "memory");
}

template <int Threads>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void named_barrier_arrive(int id) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "n"(Threads) : "memory");
}

}  // namespace attnkit::hopper
