#pragma once
// splitmix64: a well-mixed 64-bit hash, for values that depend on (seed, index) only (random
// fills, random signs), the same on host and device.

#include <cstdint>

#include "config.cuh"

namespace attnkit {

ATTNKIT_HOST_DEVICE inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace attnkit
