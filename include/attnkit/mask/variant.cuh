#pragma once
// The variant interface: what a user changes to make a new attention from the same kernel.
//
// A variant is a struct, passed by value to the kernel, with three hooks (all optional: derive
// from VariantBase and override what you need; a hook you leave alone costs nothing because the
// kernel tests `has_score_mod` / `has_mask_mod` with `if constexpr`):
//
//   template <class T> T score_mod(T score, int batch, int head, int q, int k) const
//       `score` is the scaled logit (q·k · softmax_scale); the result is what the softmax sees.
//       Return -INFINITY to drop the element. A template over the score type so the float64
//       reference evaluates exactly what the kernel evaluates in float.
//   template <class T> T score_mod_grad(T score, int batch, int head, int q, int k) const
//       d(score_mod)/d(score), for the backward pass.
//   bool mask_mod(int batch, int head, int q, int k) const
//       false drops the element (as -INFINITY before the softmax).
//   TileClass classify(int batch, int head, TileBounds tile) const
//       what mask_mod does on a whole tile: skip (all dropped), full (all kept) or partial.
//       The default says `partial` whenever has_mask_mod, which is always correct.
//
// q and k are positions within the (batch entry's) sequence. The band mask (causal, window)
// and key padding are applied by the kernel on top of the variant.

#include "../core/config.cuh"
#include "tile_class.cuh"

namespace attnkit {

struct VariantBase {
  static constexpr bool has_score_mod = false;
  static constexpr bool has_mask_mod = false;

  template <class T>
  ATTNKIT_HOST_DEVICE T score_mod(T score, int, int, int, int) const { return score; }
  template <class T>
  ATTNKIT_HOST_DEVICE T score_mod_grad(T, int, int, int, int) const { return T(1); }
  ATTNKIT_HOST_DEVICE bool mask_mod(int, int, int, int) const { return true; }
  // Only consulted when has_mask_mod: without knowledge of the mask every tile needs the test.
  ATTNKIT_HOST_DEVICE TileClass classify(int, int, TileBounds) const { return TileClass::partial; }
};

// Plain softmax attention: no score or mask modification.
struct NoVariant : VariantBase {};

}  // namespace attnkit
