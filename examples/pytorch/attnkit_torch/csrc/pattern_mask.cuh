// The element mask of a block-sparse call as an attnkit variant: PatternMask (block_sparse.h),
// the patterns of attnkit/mask/mask_patterns.cuh chosen at run time, so that one kernel per
// (head dim, score modification) serves them all. The kernels apply it on partial blocks only
// (full ones have no element test, skipped ones are never loaded); the mask builder evaluates
// the same struct, so blocks and elements cannot disagree.
#pragma once

#include <cstdint>

#include <attnkit/mask/variant.cuh>

#include "block_sparse.h"

namespace attnkit_torch {

// Every pattern of block_sparse.h folded into one test with parameters, so the kernels' element
// loop carries no switch (a switch over five inlined patterns there cost the FA2 forward 500 B
// of register spills at head dim 64). With d = q + key_offset − k:
//   keep = (lo <= d <= hi  or  q < globals  or  k < globals)
//          and (d < stride  or  d % stride == 0)
//          and (no ids  or  ids[q] == ids[k], both within the ids)
// which is mask_patterns.cuh's definition of each pattern for the bounds that from() picks.
struct RuntimePattern : attnkit::VariantBase {
  static constexpr bool has_mask_mod = true;
  static constexpr int kUnbounded = 1 << 30;  // beyond any distance between two positions

  int lo = -kUnbounded, hi = kUnbounded;  // kept distances d
  int globals = 0;
  int stride = kUnbounded;  // d < stride always holds: no stride test
  int key_offset = 0;
  const int* document_ids = nullptr;
  int64_t document_row_stride = 0;  // 0: one row of ids shared by every batch entry
  int length = 0;

  static RuntimePattern from(const PatternMask& pattern) {
    RuntimePattern r;
    r.key_offset = pattern.key_offset;
    switch (pattern.kind) {
      case PatternKind::causal:
        r.lo = 0;
        break;
      case PatternKind::sliding_window:
        r.lo = 0;
        r.hi = pattern.window;
        break;
      case PatternKind::local_global:
        r.lo = -pattern.window;
        r.hi = pattern.window;
        r.globals = pattern.globals;
        break;
      case PatternKind::strided:
        r.lo = 0;
        r.stride = pattern.stride;
        break;
      case PatternKind::document:
        if (pattern.causal) r.lo = 0;
        r.document_ids = pattern.document_ids;
        r.document_row_stride = pattern.document_rows == 1 ? 0 : pattern.length;
        r.length = pattern.length;
        break;
      case PatternKind::blocks:  // kept blocks are full: never asked
        break;
    }
    return r;
  }

  ATTNKIT_HOST_DEVICE bool mask_mod(int batch, int, int q, int k) const {
    const int d = q + key_offset - k;
    const bool near = (d >= lo && d <= hi) || q < globals || k < globals;
    const bool on_stride = d < stride || d % stride == 0;
    if (document_ids == nullptr) return near && on_stride;
    // The kernels also ask about the padding rows of a last tile: never read past the ids.
    const int* ids = document_ids + batch * document_row_stride;
    return near && on_stride && q < length && k < length && ids[q] == ids[k];
  }
};

// The score modification of ScoreVariant (NoVariant, SoftCap, Alibi) under the pattern's mask.
template <class ScoreVariant>
struct PatternWithScore : ScoreVariant {
  static constexpr bool has_mask_mod = true;
  RuntimePattern mask;

  ATTNKIT_HOST_DEVICE bool mask_mod(int batch, int head, int q, int k) const {
    return mask.mask_mod(batch, head, q, k);
  }
  // The score modification's own per-entry setup (ALiBi's alignment); the pattern has none.
  ATTNKIT_HOST_DEVICE PatternWithScore for_sequence(int seqlen_q, int seqlen_k) const {
    PatternWithScore entry = *this;
    static_cast<ScoreVariant&>(entry) =
        attnkit::variant_for_sequence(static_cast<const ScoreVariant&>(*this), seqlen_q, seqlen_k);
    return entry;
  }
};

template <class ScoreVariant>
PatternWithScore<ScoreVariant> with_pattern(const ScoreVariant& score, const PatternMask& pattern) {
  PatternWithScore<ScoreVariant> variant;
  static_cast<ScoreVariant&>(variant) = score;
  variant.mask = RuntimePattern::from(pattern);
  return variant;
}

}  // namespace attnkit_torch
