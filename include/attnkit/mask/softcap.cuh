#pragma once
// Tanh soft-capping (Gemma 2, Grok): squashes logits into (-cap, cap) before the softmax,
//   cap · tanh(score / cap), with derivative 1 - tanh²(score / cap).

#include <cmath>

#include "variant.cuh"

namespace attnkit {

struct SoftCap : VariantBase {
  static constexpr bool has_score_mod = true;

  float cap = 30.f;

  template <class T>
  ATTNKIT_HOST_DEVICE T score_mod(T score, int, int, int, int) const {
    using std::tanh;
    return static_cast<T>(cap) * tanh(score / static_cast<T>(cap));
  }
  template <class T>
  ATTNKIT_HOST_DEVICE T score_mod_grad(T score, int, int, int, int) const {
    using std::tanh;
    const T t = tanh(score / static_cast<T>(cap));
    return T(1) - t * t;
  }
};

}  // namespace attnkit
