#pragma once
// The mask a kernel applies: the band (causal / window, with key padding) and the variant's
// mask_mod, combined at tile level and at element level. Kernels call only these two.

#include "band.cuh"
#include "variant.cuh"

namespace attnkit {

template <class Variant>
ATTNKIT_HOST_DEVICE ATTNKIT_FORCEINLINE TileClass classify_tile(const BandMask& band, const Variant& variant, int batch,
                                                                int head, TileBounds tile, int seqlen_q,
                                                                int seqlen_k) {
  TileClass result = band.classify(tile, seqlen_q, seqlen_k);
  if constexpr (Variant::has_mask_mod) {
    if (result != TileClass::skip) result = intersect(result, variant.classify(batch, head, tile));
  }
  return result;
}

template <class Variant>
ATTNKIT_HOST_DEVICE ATTNKIT_FORCEINLINE bool keep_element(const BandMask& band, const Variant& variant, int batch,
                                                          int head, int q, int k, int seqlen_q, int seqlen_k) {
  if (!band.keep(q, k, seqlen_q, seqlen_k)) return false;
  if constexpr (Variant::has_mask_mod) return variant.mask_mod(batch, head, q, k);
  return true;
}

}  // namespace attnkit
