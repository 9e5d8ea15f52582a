#pragma once
// Ordered accumulation across CTAs: a counter in global memory says whose turn it is to add
// into a shared fp32 buffer, so the additions happen in a fixed order and the sum is the same
// bits on every run (the backward's deterministic dQ). The CTAs that take turns on one counter
// must take them in increasing order of their linear block index and never wait on a CTA
// with a larger index: the hardware dispatches CTAs in increasing index order, so a CTA only
// ever waits for one that is already resident or finished, and the wait cannot deadlock.
//
//   wait_turn(counter, my_turn, thread);    // every thread of the CTA calls it
//   ... each thread adds its elements (atomic reductions are fine: they are ordered now) ...
//   pass_turn(counter, my_turn + 1, thread);
//
// The additions may stay fire-and-forget reductions (red.global.add): the release in pass_turn
// is a gpu-scope fence that orders them before the counter store, and the next CTA's acquire
// orders its own reductions after it, so each element receives them in turn order.

#include <cuda/atomic>

#include "../core/config.cuh"

namespace attnkit {

// Returns once *counter == turn. One thread polls with acquire loads; the barrier then orders
// every thread's later reads after the acquire (the previous CTA's additions are visible).
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void wait_turn(int* counter, int turn, int thread) {
  if (thread == 0) {
    cuda::atomic_ref<int, cuda::thread_scope_device> flag(*counter);
    while (flag.load(cuda::memory_order_acquire) != turn) __nanosleep(64);
  }
  __syncthreads();
}

// Hands the turn on once every thread's additions are done: the barrier orders them before
// thread 0's release store, which makes them visible to whoever acquires the counter next.
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void pass_turn(int* counter, int next_turn, int thread) {
  __syncthreads();
  if (thread == 0) {
    cuda::atomic_ref<int, cuda::thread_scope_device> flag(*counter);
    flag.store(next_turn, cuda::memory_order_release);
  }
}

}  // namespace attnkit
