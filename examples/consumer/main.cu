// Counts, on the GPU, the scores a causal mask keeps in a 64 x 64 attention matrix and checks
// the count on the host. Small on purpose: it shows an installed attnkit compiling into a
// user's own kernel through find_package(attnkit) alone.

#include <cstdio>
#include <vector>

#include <cuda_runtime.h>

#include <attnkit/attnkit.cuh>

namespace {

constexpr int kSeqlenQ = 64;
constexpr int kSeqlenK = 64;

// The same predicate the kernel evaluates, run by the host compiler.
constexpr int count_kept_on_host(attnkit::BandMask mask, int seqlen_q, int seqlen_k) {
  int kept = 0;
  for (int q = 0; q < seqlen_q; ++q)
    for (int k = 0; k < seqlen_k; ++k) kept += mask.keep(q, k, seqlen_q, seqlen_k) ? 1 : 0;
  return kept;
}

// A square causal mask is the lower triangle including the diagonal: s (s + 1) / 2 scores.
static_assert(count_kept_on_host(attnkit::BandMask::causal(), kSeqlenQ, kSeqlenK) == kSeqlenQ * (kSeqlenQ + 1) / 2,
              "a square causal mask keeps the lower triangle and the diagonal");

// One block per query row, one thread per key. A block-wide vote counts the row, so only one
// atomic per row reaches global memory.
__global__ void count_kept_on_device(attnkit::BandMask mask, int seqlen_q, int seqlen_k, int* kept_total) {
  const int q = static_cast<int>(blockIdx.x);
  const int k = static_cast<int>(threadIdx.x);
  const int kept_in_row = __syncthreads_count(mask.keep(q, k, seqlen_q, seqlen_k));
  if (threadIdx.x == 0) atomicAdd(kept_total, kept_in_row);
}

int count_kept_on_gpu(attnkit::BandMask mask, int seqlen_q, int seqlen_k) {
  const attnkit::DeviceBuffer<int> kept_total(std::vector<int>{0});
  count_kept_on_device<<<seqlen_q, seqlen_k>>>(mask, seqlen_q, seqlen_k, kept_total.get());
  ATTNKIT_CHECK_LAUNCH();
  return kept_total.download()[0];
}

}  // namespace

int main() {
  int device_count = 0;
  const cudaError_t status = cudaGetDeviceCount(&device_count);
  if (status != cudaSuccess || device_count == 0) {
    // Building this file against the installed package is the point; the kernel is a bonus.
    std::printf("attnkit consumer: built; GPU part skipped: no CUDA device (%s)\n",
                status != cudaSuccess ? cudaGetErrorString(status) : "device count is 0");
    return 0;
  }

  try {
    const auto mask = attnkit::BandMask::causal();
    const int expected = count_kept_on_host(mask, kSeqlenQ, kSeqlenK);
    const int kept = count_kept_on_gpu(mask, kSeqlenQ, kSeqlenK);
    std::printf("attnkit consumer: causal %d x %d mask keeps %d of %d scores on the GPU (host count: %d)\n",
                kSeqlenQ, kSeqlenK, kept, kSeqlenQ * kSeqlenK, expected);
    if (kept != expected) {
      std::printf("attnkit consumer: MISMATCH\n");
      return 1;
    }
  } catch (const attnkit::error& failure) {
    std::printf("%s\n", failure.what());
    return 1;
  }
  return 0;
}
