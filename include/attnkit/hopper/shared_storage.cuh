#pragma once
// A kernel's shared-memory layout, a struct, placed on the dynamic shared memory at a 1024-byte
// boundary: the TMA's 128-byte swizzle takes its pattern from address bits 4..9, so every
// swizzled tile must start on one, and the dynamic base is only guaranteed 16-byte aligned.
// Launch with sizeof(Storage) + 1024 bytes.

#include <cstdint>

#include "../core/config.cuh"
#include "../tile/cp_async.cuh"

namespace attnkit::hopper {

template <class Storage>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE Storage& aligned_shared_storage() {
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  const uint32_t misalignment = shared_address(shared_bytes) % 1024;
  return *reinterpret_cast<Storage*>(shared_bytes + (misalignment ? 1024 - misalignment : 0));
}

}  // namespace attnkit::hopper
