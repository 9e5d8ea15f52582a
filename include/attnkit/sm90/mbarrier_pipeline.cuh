#pragma once
// A multi-stage producer/consumer pipeline on shared-memory mbarriers (sm_90), for any kernel
// whose producer fills stages with asynchronous copies (TMA) and whose consumers read them.
//
// Each stage has two barriers:
//   full[s]   the producer arms it with the bytes it expects (arrive.expect_tx), the copies
//             complete it; consumers wait on it before reading stage s. With ProducerArrivals
//             > 1 it also waits for that many more arrivals (e.g. of threads whose cp.async
//             copies fill part of the stage: cp_async_arrive_on).
//   empty[s]  each consumer arrives when done reading stage s (`ConsumerArrivals` arrivals per
//             round); the producer waits on it before refilling the stage.
// A barrier completes phase after phase; waiters name the parity of the phase they wait for.
// PipelineState walks (stage, parity) the same way on both sides: after the last stage it
// wraps to stage 0 and flips the parity. The producer waits on `empty` with the flipped parity,
// which a fresh barrier counts as already complete, so the first round never blocks.
//
// Built on libcu++'s cuda::ptx wrappers of the mbarrier instructions, except the consumers'
// predicated arrive (inline PTX: the wrappers have no predicate operand).

#include <cstdint>

#include <cuda/ptx>

#include "../core/config.cuh"

namespace attnkit::hopper {

struct PipelineState {
  int stage = 0;
  uint32_t parity = 0;

  template <int Stages>
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void advance() {
    if (++stage == Stages) {
      stage = 0;
      parity ^= 1u;
    }
  }
};

ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void mbarrier_wait(uint64_t* barrier, uint32_t parity) {
#if ATTNKIT_DEVICE_SM90A
  while (!cuda::ptx::mbarrier_try_wait_parity(barrier, parity)) {
  }
#endif
}

template <int Stages, int ConsumerArrivals, int ProducerArrivals = 1>
struct PipelineBarriers {
  uint64_t full[Stages];
  uint64_t empty[Stages];

  // One thread, before any use; a CTA barrier must follow (the init is published by
  // fence.mbarrier_init to the copy engine and by the barrier to the other threads).
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void init() {
#if ATTNKIT_DEVICE_SM90A
#pragma unroll
    for (int s = 0; s < Stages; ++s) {
      cuda::ptx::mbarrier_init(&full[s], ProducerArrivals);
      cuda::ptx::mbarrier_init(&empty[s], ConsumerArrivals);
    }
    cuda::ptx::fence_mbarrier_init(cuda::ptx::sem_release, cuda::ptx::scope_cluster);
#endif
  }

  // Producer (one thread): waits until the stage is free, then arms `full` with the bytes the
  // copies it is about to issue will deliver.
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE uint64_t* producer_acquire(const PipelineState& state, uint32_t bytes) {
#if ATTNKIT_DEVICE_SM90A
    mbarrier_wait(&empty[state.stage], state.parity ^ 1u);
    cuda::ptx::mbarrier_arrive_expect_tx(cuda::ptx::sem_release, cuda::ptx::scope_cta, cuda::ptx::space_shared,
                                         &full[state.stage], bytes);
#endif
    return &full[state.stage];
  }

  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void consumer_wait(const PipelineState& state) {
    mbarrier_wait(&full[state.stage], state.parity);
  }

  // Called by every thread of a warp whose reads of the stage are done; those with `arrive`
  // (one per arriving warp, ConsumerArrivals per round) arrive. A predicate on the arrive
  // instruction, not a branch around it: with a lane-dependent branch in the loop that carries
  // the pipeline state, ptxas kept the state (and the wgmma descriptors computed from the
  // stage) in vector registers in the persistent forward, with a move to uniform registers
  // before every wgmma (bench/README.md, Hopper forward: a warp-uniform pipeline state).
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void consumer_release(const PipelineState& state, bool arrive) {
#if ATTNKIT_DEVICE_SM90A
    const uint32_t barrier = static_cast<uint32_t>(__cvta_generic_to_shared(&empty[state.stage]));
    asm volatile(
        "{\n"
        " .reg .pred p;\n"
        " .reg .b64 phase_state;\n"
        " setp.ne.u32 p, %1, 0;\n"
        " @p mbarrier.arrive.shared::cta.b64 phase_state, [%0];\n"
        "}\n" ::"r"(barrier),
        "r"(static_cast<uint32_t>(arrive))
        : "memory");
#endif
  }
};

}  // namespace attnkit::hopper
