#pragma once
// Test support: the dropout mask a problem's (seed, offset) selects, evaluated element by
// element on the GPU with DropoutMask::keep (independently of the fused kernels' per-fragment
// paths), downloaded, and handed to the CPU reference as its factor Z_ij (0 or 1/(1 − p)).

#include <cstdint>
#include <memory>
#include <vector>

#include "attnkit/attention/problem.cuh"
#include "attnkit/attention/sequence.cuh"
#include "attnkit/reference/cpu_attention.cuh"
#include "support/device_array.cuh"

namespace attnkit::testing {

// Grid (seqlen_q, heads_q, batch) of the longest lengths; keep[((b·H + h)·Sq + i)·Sk + j].
// (A template only so that every test translation unit may include it.)
template <class Flag>
__global__ void dropout_keep_kernel(const __grid_constant__ AttentionProblem problem, Flag* keep) {
  const int query = blockIdx.x, head = blockIdx.y, batch = blockIdx.z;
  const DropoutMask mask(problem.dropout.seed, problem.dropout.offset, dropout_threshold(problem.dropout.probability),
                         static_cast<uint32_t>(batch * problem.heads_q + head));
  uint8_t* const row =
      keep + ((int64_t(batch) * problem.heads_q + head) * problem.seqlen_q + query) * problem.seqlen_k;
  for (int key = threadIdx.x; key < problem.seqlen_k; key += blockDim.x) row[key] = mask.keep(query, key) ? 1 : 0;
}

class DropoutFactors {
 public:
  explicit DropoutFactors(const AttentionProblem& problem)
      : heads_(problem.heads_q),
        seqlen_q_(problem.seqlen_q),
        seqlen_k_(problem.seqlen_k),
        keep_scale_(dropout_keep_scale(problem.dropout.probability)) {
    DeviceArray<uint8_t> keep(std::size_t(problem.batch) * heads_ * seqlen_q_ * seqlen_k_);
    dropout_keep_kernel<uint8_t><<<dim3(seqlen_q_, heads_, problem.batch), 128>>>(problem, keep.get());
    ATTNKIT_CHECK_LAUNCH();
    keep_ = keep.download();
  }

  bool keep(int b, int h, int i, int j) const {
    return keep_[((std::size_t(b) * heads_ + h) * seqlen_q_ + i) * seqlen_k_ + j] != 0;
  }
  double operator()(int b, int h, int i, int j) const { return keep(b, h, i, j) ? keep_scale_ : 0.0; }
  const std::vector<uint8_t>& flags() const { return keep_; }

  // Gives `shape` (the CPU reference's) this mask when the problem has dropout.
  static void attach(const AttentionProblem& problem, reference::Shape& shape) {
    if (!problem.dropout.enabled()) return;
    auto factors = std::make_shared<const DropoutFactors>(problem);
    shape.dropout = [factors](int b, int h, int i, int j) { return (*factors)(b, h, i, j); };
  }

 private:
  int heads_, seqlen_q_, seqlen_k_;
  double keep_scale_;
  std::vector<uint8_t> keep_;
};

}  // namespace attnkit::testing
