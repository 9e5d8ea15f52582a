#pragma once
// The diagonal-band mask: causal attention and sliding windows are both "keep key k for query
// q when k lies within [diag - left, diag + right]", where diag is the key aligned with q.
//
// Alignment when s_q != s_k:
//   top_left      diag = q                 (PyTorch's is_causal)
//   bottom_right  diag = q + s_k - s_q     (the last query sees every key; FlashAttention >= 2.1)
// Causal is {left = unbounded, right = 0}. Any negative bound, not only flash-attn's -1 of
// window_size = (-1, -1), means unbounded on that side.
// Keys past the sequence (k >= s_k) are never kept; that padding test is part of this mask.

#include "../core/config.cuh"
#include "tile_class.cuh"

namespace attnkit {

enum class MaskAlignment : int { top_left = 0, bottom_right = 1 };

struct BandMask {
  int left = -1;   // keys more than `left` positions before the diagonal are dropped; < 0: none
  int right = -1;  // keys more than `right` positions after the diagonal are dropped; < 0: none
  MaskAlignment alignment = MaskAlignment::bottom_right;

  static constexpr BandMask none() { return {}; }
  static constexpr BandMask causal(MaskAlignment alignment = MaskAlignment::bottom_right) {
    return {-1, 0, alignment};
  }
  static constexpr BandMask window(int left, int right, MaskAlignment alignment = MaskAlignment::bottom_right) {
    return {left, right, alignment};
  }

  ATTNKIT_HOST_DEVICE constexpr bool is_causal() const { return right == 0 && left < 0; }
  ATTNKIT_HOST_DEVICE constexpr bool bounded() const { return left >= 0 || right >= 0; }

  // The key position aligned with query q.
  ATTNKIT_HOST_DEVICE constexpr int diagonal(int q, int seqlen_q, int seqlen_k) const {
    return alignment == MaskAlignment::bottom_right ? q + seqlen_k - seqlen_q : q;
  }

  ATTNKIT_HOST_DEVICE constexpr bool keep(int q, int k, int seqlen_q, int seqlen_k) const {
    const int diag = diagonal(q, seqlen_q, seqlen_k);
    if (k < 0 || k >= seqlen_k) return false;
    if (left >= 0 && k < diag - left) return false;
    if (right >= 0 && k > diag + right) return false;
    return true;
  }

  // Keys [first, end) that query q keeps: the band is an interval in each row.
  ATTNKIT_HOST_DEVICE constexpr int row_first_key(int q, int seqlen_q, int seqlen_k) const {
    return first_key(q, seqlen_q, seqlen_k);
  }
  ATTNKIT_HOST_DEVICE constexpr int row_end_key(int q, int seqlen_q, int seqlen_k) const {
    return end_key(q + 1, seqlen_q, seqlen_k);
  }

  // Keys [first, last) that any query in [q_begin, q_end) may keep, clipped to [0, s_k).
  // Empty (first >= last) when the band misses the sequence for all these rows.
  ATTNKIT_HOST_DEVICE constexpr int first_key(int q_begin, int seqlen_q, int seqlen_k) const {
    const int lo = left >= 0 ? diagonal(q_begin, seqlen_q, seqlen_k) - left : 0;
    return lo < 0 ? 0 : lo;
  }
  ATTNKIT_HOST_DEVICE constexpr int end_key(int q_end, int seqlen_q, int seqlen_k) const {
    const int hi = right >= 0 ? diagonal(q_end - 1, seqlen_q, seqlen_k) + right + 1 : seqlen_k;
    return hi > seqlen_k ? seqlen_k : hi;
  }

  // Queries [first, end) that keep at least one key of [k_begin, k_end) (the backward pass
  // walks the query blocks of one key block). Empty when first >= end.
  ATTNKIT_HOST_DEVICE constexpr int first_query(int k_begin, int seqlen_q, int seqlen_k) const {
    const int offset = alignment == MaskAlignment::bottom_right ? seqlen_k - seqlen_q : 0;
    const int lo = right >= 0 ? k_begin - right - offset : 0;  // k <= diag(q) + right
    return lo < 0 ? 0 : lo;
  }
  ATTNKIT_HOST_DEVICE constexpr int end_query(int k_end, int seqlen_q, int seqlen_k) const {
    const int offset = alignment == MaskAlignment::bottom_right ? seqlen_k - seqlen_q : 0;
    const int last_key = (k_end < seqlen_k ? k_end : seqlen_k) - 1;
    const int hi = left >= 0 ? last_key + left - offset + 1 : seqlen_q;  // k >= diag(q) - left
    return hi > seqlen_q ? seqlen_q : hi;
  }

  // Tile classification. Full needs every (q, k) of the tile kept: the tile's corners bound
  // the band test because diag grows with q, and the keys must lie inside the sequence.
  // Query rows past s_q are ignored (their outputs are never stored), so a tile hanging over
  // the end of the queries can still be full.
  ATTNKIT_HOST_DEVICE constexpr TileClass classify(TileBounds t, int seqlen_q, int seqlen_k) const {
    const int q_end = t.q_end < seqlen_q ? t.q_end : seqlen_q;
    const int k_last = t.k_end - 1;
    const int first = first_key(t.q_begin, seqlen_q, seqlen_k);
    const int end = end_key(q_end, seqlen_q, seqlen_k);
    if (q_end <= t.q_begin || first >= end || t.k_begin >= end || k_last < first) return TileClass::skip;
    if (t.k_end > seqlen_k) return TileClass::partial;
    const int diag_first = diagonal(t.q_begin, seqlen_q, seqlen_k);
    const int diag_last = diagonal(q_end - 1, seqlen_q, seqlen_k);
    if (left >= 0 && t.k_begin < diag_last - left) return TileClass::partial;
    if (right >= 0 && k_last > diag_first + right) return TileClass::partial;
    return TileClass::full;
  }
};

}  // namespace attnkit
