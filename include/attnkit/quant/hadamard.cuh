#pragma once
// Incoherent processing for FP8 attention (FlashAttention-3, §3.3): Q and K are both multiplied
// by one random orthogonal matrix M = D·H/√n (D a diagonal of random signs, H the n × n
// Hadamard matrix), which leaves every score unchanged, (QM)(KM)ᵀ = QKᵀ, while spreading an
// outlier feature over all n features, so per-tensor or per-block FP8 scales lose less to it.
// n is the head dim and must be a power of two (64, 128, 256). The transform of one row is a
// fast Walsh-Hadamard transform, n·log2(n) additions, in place, on host or device.

#include <cmath>
#include <cstdint>

#include "../core/config.cuh"
#include "../core/hash.cuh"

namespace attnkit {

// The diagonal D: feature i is negated or kept, by a hash of (seed, i).
struct RandomSigns {
  uint64_t seed = 0;
  ATTNKIT_HOST_DEVICE float operator()(int feature) const {
    return (mix64(seed ^ mix64(static_cast<uint64_t>(feature))) & 1) ? -1.f : 1.f;
  }
};

ATTNKIT_HOST_DEVICE constexpr bool is_hadamard_size(int n) { return n > 0 && (n & (n - 1)) == 0; }

namespace detail {
// row ← row·H, unnormalized (H symmetric, H·H = n·I).
template <class T>
ATTNKIT_HOST_DEVICE void walsh_hadamard(T* row, int n) {
  for (int half = 1; half < n; half *= 2)
    for (int block = 0; block < n; block += 2 * half)
      for (int i = block; i < block + half; ++i) {
        const T a = row[i], b = row[i + half];
        row[i] = a + b;
        row[i + half] = a - b;
      }
}
}  // namespace detail

// row ← row·M = (row ∘ signs)·H/√n.
template <class T>
ATTNKIT_HOST_DEVICE void random_hadamard(T* row, int n, RandomSigns signs) {
  for (int i = 0; i < n; ++i) row[i] *= static_cast<T>(signs(i));
  detail::walsh_hadamard(row, n);
  const T norm = static_cast<T>(1) / std::sqrt(static_cast<T>(n));
  for (int i = 0; i < n; ++i) row[i] *= norm;
}

// row ← row·Mᵀ, the inverse: (row·H/√n) ∘ signs.
template <class T>
ATTNKIT_HOST_DEVICE void inverse_random_hadamard(T* row, int n, RandomSigns signs) {
  detail::walsh_hadamard(row, n);
  const T norm = static_cast<T>(1) / std::sqrt(static_cast<T>(n));
  for (int i = 0; i < n; ++i) row[i] *= norm * static_cast<T>(signs(i));
}

}  // namespace attnkit
