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

// ALiBi reads its slopes through a pointer: a host copy drives the reference, a device copy the
// kernels. Slopes for 4 query heads; key_offset aligns the last query with the last key.
class AlibiPair {
 public:
  explicit AlibiPair(const ForwardCase& c) : slopes_{0.5f, 0.25f, 0.125f, 0.0625f}, device_slopes_(slopes_) {
    host.slopes = slopes_.data();
    host.key_offset = c.seqlen_k - c.seqlen_q;
    device = host;
    device.slopes = device_slopes_.get();
  }
  Alibi host, device;

 private:
  std::vector<float> slopes_;
  DeviceArray<float> device_slopes_;
};

// GQA with s_q != s_k, unmasked, causal, and causal with scores up to about ±30.
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
  return cases;
}

}  // namespace attnkit::testing
