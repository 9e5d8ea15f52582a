#pragma once
// A pattern's element mask evaluated on the host and read by kernels from a device table: one
// variant type for every pattern, so a test matrix over many patterns compiles one set of
// kernels per element type and head dim, each as cheap as a plain one (a run-time switch over
// the patterns costs about ten times the compile time: every pattern's test in each unrolled
// element of the score tile). The block lists still come from the patterns themselves.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "attnkit/attention/problem.cuh"
#include "attnkit/mask/variant.cuh"
#include "support/device_array.cuh"

namespace attnkit::testing {

struct MaskTable : VariantBase {
  static constexpr bool has_mask_mod = true;
  const uint8_t* kept = nullptr;  // [batch][heads_q][seqlen_q][seqlen_k]
  int heads = 0, seqlen_q = 0, seqlen_k = 0;

  // Kernels may ask about the padding rows of a sequence's last tile.
  ATTNKIT_HOST_DEVICE bool mask_mod(int batch, int head, int q, int k) const {
    return q < seqlen_q && k < seqlen_k && kept[((int64_t(batch) * heads + head) * seqlen_q + q) * seqlen_k + k] != 0;
  }
};

// The device table of `host_pattern.mask_mod` over the problem's (batch, query head, query,
// key) pairs; variant() is valid while this lives.
class DeviceMaskTable {
 public:
  template <class Pattern>
  DeviceMaskTable(const Pattern& host_pattern, const AttentionProblem& problem)
      : table_(evaluate(host_pattern, problem)),
        variant_{{}, table_.get(), problem.heads_q, problem.seqlen_q, problem.seqlen_k} {}

  const MaskTable& variant() const { return variant_; }

 private:
  template <class Pattern>
  static std::vector<uint8_t> evaluate(const Pattern& pattern, const AttentionProblem& problem) {
    std::vector<uint8_t> kept(std::size_t(problem.batch) * problem.heads_q * problem.seqlen_q * problem.seqlen_k);
    std::size_t at = 0;
    for (int b = 0; b < problem.batch; ++b)
      for (int h = 0; h < problem.heads_q; ++h)
        for (int q = 0; q < problem.seqlen_q; ++q)
          for (int k = 0; k < problem.seqlen_k; ++k) kept[at++] = pattern.mask_mod(b, h, q, k) ? 1 : 0;
    return kept;
  }

  DeviceArray<uint8_t> table_;
  MaskTable variant_;
};

}  // namespace attnkit::testing
