#pragma once
// Ready-made attention patterns as mask_mod variants (mask/variant.cuh): each keeps a set of
// (query, key) pairs through mask_mod and says what it does on whole tiles through classify,
// so kernels skip the tiles it drops and run the tiles it keeps whole without per-element
// tests; the block-mask builders (mask/block_mask.cuh) turn the same classify into block lists.
//
// Positions are within one sequence. `key_offset` aligns queries with keys as the band mask's
// bottom-right alignment does: query q sits at key position q + key_offset (use
// seqlen_k - seqlen_q; 0 for equal lengths). Let diag = q + key_offset:
//
//   CausalPattern               k <= diag
//   SlidingWindowPattern        diag - left <= k <= diag
//   LocalGlobalPattern          |k - diag| <= window, or k < globals, or q < globals
//                               (Longformer: a symmetric local window plus global tokens
//                               that see and are seen by every position)
//   StridedPattern              k <= diag and (diag - k < stride or (diag - k) % stride == 0)
//                               (Sparse Transformer's strided pattern: the last `stride`
//                               positions and every stride-th one before them)
//   DocumentPattern             document[q] == document[k] (and k <= diag when causal), for
//                               per-token document ids that never decrease along the sequence
//                               (packed documents), readable where the kernel runs
//
// classify is exact for the first three and for DocumentPattern without causality (partial
// only when the tile holds both kept and dropped pairs); for StridedPattern it may say partial
// for a tile whose pairs are all kept (never the reverse), which costs the element test only.

#include "variant.cuh"

namespace attnkit {

namespace detail {
// The range of diag - k over a tile: [min_distance, max_distance].
struct TileDistances {
  int min_distance, max_distance;
};
ATTNKIT_HOST_DEVICE constexpr TileDistances tile_distances(TileBounds t, int key_offset) {
  return {t.q_begin + key_offset - (t.k_end - 1), t.q_end - 1 + key_offset - t.k_begin};
}
// Tile class of "keep when lo <= diag - k <= hi" (hi may be huge for "no bound").
ATTNKIT_HOST_DEVICE constexpr TileClass classify_distance_band(TileDistances d, long long lo, long long hi) {
  if (d.max_distance < lo || d.min_distance > hi) return TileClass::skip;
  if (d.min_distance >= lo && d.max_distance <= hi) return TileClass::full;
  return TileClass::partial;
}
inline constexpr long long kNoBound = 1ll << 40;
}  // namespace detail

struct CausalPattern : VariantBase {
  static constexpr bool has_mask_mod = true;
  int key_offset = 0;

  ATTNKIT_HOST_DEVICE bool mask_mod(int, int, int q, int k) const { return k <= q + key_offset; }
  ATTNKIT_HOST_DEVICE TileClass classify(int, int, TileBounds t) const {
    return detail::classify_distance_band(detail::tile_distances(t, key_offset), 0, detail::kNoBound);
  }
};

struct SlidingWindowPattern : VariantBase {
  static constexpr bool has_mask_mod = true;
  int left = 0;  // keys before the diagonal kept (>= 0)
  int key_offset = 0;

  ATTNKIT_HOST_DEVICE bool mask_mod(int, int, int q, int k) const {
    const int distance = q + key_offset - k;
    return distance >= 0 && distance <= left;
  }
  ATTNKIT_HOST_DEVICE TileClass classify(int, int, TileBounds t) const {
    return detail::classify_distance_band(detail::tile_distances(t, key_offset), 0, left);
  }
};

struct LocalGlobalPattern : VariantBase {
  static constexpr bool has_mask_mod = true;
  int window = 0;   // keys kept on each side of the diagonal
  int globals = 0;  // positions [0, globals) are global tokens
  int key_offset = 0;

  ATTNKIT_HOST_DEVICE bool mask_mod(int, int, int q, int k) const {
    const int distance = q + key_offset - k;
    return k < globals || q < globals || (distance >= -window && distance <= window);
  }
  ATTNKIT_HOST_DEVICE TileClass classify(int, int, TileBounds t) const {
    if (t.q_end <= globals || t.k_end <= globals) return TileClass::full;  // every pair has a global end
    // The pairs with no global end form the sub-tile past the global rows and columns; the tile
    // is full when the window keeps all of those, skipped when it keeps none and there are no
    // global pairs either.
    const TileBounds rest{t.q_begin > globals ? t.q_begin : globals, t.q_end,
                          t.k_begin > globals ? t.k_begin : globals, t.k_end};
    const TileClass local = detail::classify_distance_band(detail::tile_distances(rest, key_offset), -window, window);
    if (local == TileClass::full) return TileClass::full;
    if (local == TileClass::skip && t.q_begin >= globals && t.k_begin >= globals) return TileClass::skip;
    return TileClass::partial;
  }
};

struct StridedPattern : VariantBase {
  static constexpr bool has_mask_mod = true;
  int stride = 1;  // > 0
  int key_offset = 0;

  ATTNKIT_HOST_DEVICE bool mask_mod(int, int, int q, int k) const {
    const int distance = q + key_offset - k;
    return distance >= 0 && (distance < stride || distance % stride == 0);
  }
  ATTNKIT_HOST_DEVICE TileClass classify(int, int, TileBounds t) const {
    const detail::TileDistances d = detail::tile_distances(t, key_offset);
    if (d.max_distance < 0) return TileClass::skip;                                 // all after the diagonal
    if (d.min_distance >= 0 && d.max_distance < stride) return TileClass::full;    // all local
    // All past the local part and no multiple of the stride among the distances: nothing kept.
    if (d.min_distance >= stride && d.max_distance / stride == (d.min_distance - 1) / stride) return TileClass::skip;
    return TileClass::partial;
  }
};

struct DocumentPattern : VariantBase {
  static constexpr bool has_mask_mod = true;
  const int* document = nullptr;  // [length], non-decreasing; queries and keys share it
  int length = 0;                 // tokens in the sequence; positions past it are never kept
  bool causal = false;
  int key_offset = 0;  // with causal

  ATTNKIT_HOST_DEVICE bool mask_mod(int, int, int q, int k) const {
    // Kernels may ask about the padding rows of a sequence's last tile: never read past the ids.
    return q < length && k < length && document[q] == document[k] && (!causal || k <= q + key_offset);
  }
  ATTNKIT_HOST_DEVICE TileClass classify(int, int, TileBounds t) const {
    if (t.q_begin >= length || t.k_begin >= length) return TileClass::skip;
    const int q_end = t.q_end < length ? t.q_end : length, k_end = t.k_end < length ? t.k_end : length;
    // Ids never decrease, so a tile's documents are the ranges between its first and last row.
    const int q_first = document[t.q_begin], q_last = document[q_end - 1];
    const int k_first = document[t.k_begin], k_last = document[k_end - 1];
    TileClass result = TileClass::partial;
    if (q_last < k_first || k_last < q_first) result = TileClass::skip;
    else if (q_first == q_last && k_first == k_last && q_end == t.q_end && k_end == t.k_end)
      result = TileClass::full;  // one document on both sides, no padding
    if (causal && result != TileClass::skip)
      result = intersect(result, detail::classify_distance_band(detail::tile_distances(t, key_offset), 0,
                                                                detail::kNoBound));
    return result;
  }
};

}  // namespace attnkit
