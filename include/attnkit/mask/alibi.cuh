#pragma once
// ALiBi (Press et al., 2022): a per-head linear penalty on the distance between query and key,
//   score + slope[head] · -|q + key_offset - k|
// key_offset aligns query and key positions when s_q != s_k (use s_k - s_q to align the last
// query with the last key, as bottom-right causal masking does). Its derivative is 1.

#include "variant.cuh"

namespace attnkit {

struct Alibi : VariantBase {
  static constexpr bool has_score_mod = true;

  const float* slopes = nullptr;  // [heads_q], readable where the kernel runs
  int key_offset = 0;

  template <class T>
  ATTNKIT_HOST_DEVICE T score_mod(T score, int, int head, int q, int k) const {
    const int distance = q + key_offset - k;
    return score - static_cast<T>(slopes[head]) * static_cast<T>(distance < 0 ? -distance : distance);
  }
};

}  // namespace attnkit
