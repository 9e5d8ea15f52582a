#pragma once
// The variant interface: what a user changes to make a new attention from the same kernel.
//
// A variant is a struct, passed by value to the kernel, with these hooks (all optional: derive
// from VariantBase and override what you need; a hook you leave alone costs nothing because the
// kernel tests `has_score_mod` / `has_mask_mod` / `has_for_sequence` with `if constexpr`):
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
//   Variant for_sequence(int seqlen_q, int seqlen_k) const
//       the variant for one batch entry, given that entry's own lengths; every kernel calls it
//       (through variant_for_sequence) before the other hooks see the entry's positions.
//       Whatever depends on the lengths belongs here: aligning a query with its key from the
//       end (q + s_k − s_q), a distance to the last key. With varlen the entries' lengths
//       differ, and a value set once from the problem's seqlen_q / seqlen_k (the longest
//       entry's) is wrong for every shorter entry.
//
// q and k are positions within the (batch entry's) sequence. The band mask (causal, window)
// and key padding are applied by the kernel on top of the variant.

#include <type_traits>

#include "../core/config.cuh"
#include "tile_class.cuh"

namespace attnkit {

struct VariantBase {
  static constexpr bool has_score_mod = false;
  static constexpr bool has_mask_mod = false;
  static constexpr bool has_for_sequence = false;

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

// `variant` for the batch entry of lengths (seqlen_q, seqlen_k): its for_sequence where it has
// one, else itself.
template <class Variant>
ATTNKIT_HOST_DEVICE Variant variant_for_sequence(const Variant& variant, int seqlen_q, int seqlen_k) {
  if constexpr (Variant::has_for_sequence) {
    static_assert(std::is_same_v<decltype(variant.for_sequence(seqlen_q, seqlen_k)), Variant>,
                  "for_sequence must return the variant's own type: a variant derived from one that has "
                  "for_sequence (Alibi) needs its own");
    return variant.for_sequence(seqlen_q, seqlen_k);
  } else {
    return variant;
  }
}

}  // namespace attnkit
