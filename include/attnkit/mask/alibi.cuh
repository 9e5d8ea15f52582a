#pragma once
// ALiBi (Press et al., 2022): a per-head linear penalty on the distance between a query and
// the key aligned with it,
//   score − slope[batch, head] · |diag(q) − k|,   diag(q) = q + key_offset,
// with one row of slopes shared by every batch entry, or one row per entry (a varlen entry is a
// sequence); flash-attn takes both.
// `alignment` says which key that is, per batch entry and from that entry's own lengths (the
// band mask's rule, band.cuh): bottom_right, q + s_k − s_q (flash-attn's, and the default),
// or top_left, q. for_sequence sets key_offset for each entry; with varlen the entries differ,
// so one offset for the whole batch would shift every shorter entry's bias. Its derivative is 1.

#include <cstdint>

#include "band.cuh"
#include "variant.cuh"

namespace attnkit {

struct Alibi : VariantBase {
  static constexpr bool has_score_mod = true;
  static constexpr bool has_for_sequence = true;

  const float* slopes = nullptr;  // [heads_q] or [batch][heads_q], readable where the kernel runs
  int64_t slopes_batch_stride = 0;  // between batch entries' rows of slopes; 0: one row for every entry
  MaskAlignment alignment = MaskAlignment::bottom_right;
  int key_offset = 0;  // the entry's diag(q) − q: set by for_sequence

  ATTNKIT_HOST_DEVICE Alibi for_sequence(int seqlen_q, int seqlen_k) const {
    Alibi entry = *this;
    entry.key_offset = alignment == MaskAlignment::bottom_right ? seqlen_k - seqlen_q : 0;
    return entry;
  }

  template <class T>
  ATTNKIT_HOST_DEVICE T score_mod(T score, int batch, int head, int q, int k) const {
    const int distance = q + key_offset - k;
    const float slope = slopes[batch * slopes_batch_stride + head];
    return score - static_cast<T>(slope) * static_cast<T>(distance < 0 ? -distance : distance);
  }
};

}  // namespace attnkit
