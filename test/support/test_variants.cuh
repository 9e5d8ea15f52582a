#pragma once
// Test support: variants shared by the forward and backward tests, and the cases they run on.

#include <cstdint>
#include <vector>

#include "attnkit/mask/alibi.cuh"
#include "attnkit/mask/variant.cuh"
#include "support/device_array.cuh"
#include "support/forward_check.cuh"

namespace attnkit::testing {

// Drops a scattered third of the scores, so rows see holes no band produces, and says so per
// tile only when it must (always partial): tests the mask_mod path.
struct DropEveryThird : VariantBase {
  static constexpr bool has_mask_mod = true;
  ATTNKIT_HOST_DEVICE bool mask_mod(int batch, int head, int q, int k) const {
    return (q + 2 * k + batch + head) % 3 != 0;
  }
  ATTNKIT_HOST_DEVICE TileClass classify(int, int, TileBounds) const { return TileClass::partial; }
};

// A user's variant whose score_mod depends on each entry's own lengths: a bias that grows with
// the key's distance from the entry's last key, score − rate · (s_k − 1 − k). Only for_sequence
// knows s_k; a version reading the problem's seqlen_k would be off on every shorter entry.
struct RecencyBias : VariantBase {
  static constexpr bool has_score_mod = true;
  static constexpr bool has_for_sequence = true;
  float rate = 0.02f;
  int last_key = 0;

  ATTNKIT_HOST_DEVICE RecencyBias for_sequence(int, int seqlen_k) const {
    RecencyBias entry = *this;
    entry.last_key = seqlen_k - 1;
    return entry;
  }
  template <class T>
  ATTNKIT_HOST_DEVICE T score_mod(T score, int, int, int, int k) const {
    return score - static_cast<T>(rate) * static_cast<T>(last_key - k);
  }
};

// ALiBi as flash-attn defines it, written out for the reference without for_sequence: entry b's
// bias is slope · |q + s_k(b) − s_q(b) − k|, its offset looked up by batch index. The kernels'
// Alibi checked against it would show one offset for the whole batch (from the longest entries).
struct AlibiByEntry : VariantBase {
  static constexpr bool has_score_mod = true;
  const float* slopes = nullptr;       // [heads_q], host
  const int* key_offsets = nullptr;    // [batch], host: s_k(b) − s_q(b)

  template <class T>
  T score_mod(T score, int batch, int head, int q, int k) const {
    const int distance = q + key_offsets[batch] - k;
    return score - static_cast<T>(slopes[head]) * static_cast<T>(distance < 0 ? -distance : distance);
  }
};

// ALiBi reads its slopes through a pointer: the kernels get attnkit::Alibi with device slopes
// (bottom-right aligned per entry by its for_sequence), the reference AlibiByEntry with host
// slopes and each entry's offset. Slopes for 4 query heads.
class AlibiPair {
 public:
  explicit AlibiPair(const ForwardCase& c) : slopes_{0.5f, 0.25f, 0.125f, 0.0625f}, device_slopes_(slopes_) {
    for (int b = 0; b < c.batch; ++b)
      key_offsets_.push_back(c.varlen_q.empty() ? c.seqlen_k - c.seqlen_q : c.varlen_k[b] - c.varlen_q[b]);
    host.slopes = slopes_.data();
    host.key_offsets = key_offsets_.data();
    device.slopes = device_slopes_.get();
  }
  AlibiPair(const AlibiPair&) = delete;
  AlibiPair& operator=(const AlibiPair&) = delete;
  AlibiByEntry host;
  Alibi device;

 private:
  std::vector<float> slopes_;
  std::vector<int> key_offsets_;
  DeviceArray<float> device_slopes_;
};

// GQA with s_q != s_k, unmasked, causal, and causal with scores up to about ±30; then varlen
// batches whose entries differ in length and in s_k − s_q (positive, negative, zero; a single
// query), unmasked and causal, where a variant aligned once for the whole batch goes wrong.
inline std::vector<ForwardCase> variant_cases(uint64_t first_seed) {
  std::vector<ForwardCase> cases;
  ForwardCase c;
  c.batch = 2;
  c.heads_q = 4;
  c.heads_kv = 2;
  c.seqlen_q = 300;
  c.seqlen_k = 333;
  c.seed = first_seed;
  cases.push_back(c);
  c.band = BandMask::causal();
  c.seed = first_seed + 1;
  cases.push_back(c);
  c.input_stddev = 3.0;
  c.seed = first_seed + 2;
  cases.push_back(c);

  ForwardCase uneven;
  uneven.heads_q = 4;
  uneven.heads_kv = 2;
  uneven.varlen_q = {300, 17, 129, 1, 64};
  uneven.varlen_k = {333, 250, 64, 90, 64};
  uneven.batch = static_cast<int>(uneven.varlen_q.size());
  uneven.seqlen_q = 300;  // the longest entries
  uneven.seqlen_k = 333;
  uneven.seed = first_seed + 3;
  cases.push_back(uneven);
  uneven.band = BandMask::causal();
  uneven.seed = first_seed + 4;
  cases.push_back(uneven);
  return cases;
}

}  // namespace attnkit::testing
