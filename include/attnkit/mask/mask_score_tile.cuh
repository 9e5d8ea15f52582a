#pragma once
// The element-level mask on a warp's register tile of scores: every score whose (query, key)
// the band (causal, window, key padding) or the variant's mask_mod drops becomes −inf. Kernels
// call it only on tiles classify_tile() calls partial.
//
// The band keeps an interval of keys per row, so each row costs two key bounds and then two
// compares per element; mask_mod, when the variant has one, is evaluated per element.
//
// `ScoreTile` is an mma accumulator tile (mma/register_tile.cuh: kThreadRows, kThreadCols,
// tile_row, tile_col, at); tile row 0 is query `q_row0`, tile column 0 is key `key0`.

#include "../core/math.cuh"
#include "attention_mask.cuh"

namespace attnkit {

// A tile row's query position and head.
struct ScoreRow {
  int q;
  int head;
};

// The mask on a tile whose rows need not be consecutive queries of one head (a decode tile
// packs a GQA group's query heads and the new tokens as its rows): `row_of(tile_row)` gives
// each row's ScoreRow; tile column 0 is key `key0`.
template <class ScoreTile, class Variant, class RowOf>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void mask_score_rows(ScoreTile& scores, const BandMask& band, const Variant& variant,
                                                        int batch, const RowOf& row_of, int key0, int seqlen_q,
                                                        int seqlen_k, int lane) {
#pragma unroll
  for (int r = 0; r < ScoreTile::kThreadRows; ++r) {
    const ScoreRow row = row_of(ScoreTile::tile_row(lane, r));
    const int first_col = band.row_first_key(row.q, seqlen_q, seqlen_k) - key0;
    const int end_col = band.row_end_key(row.q, seqlen_q, seqlen_k) - key0;
#pragma unroll
    for (int c = 0; c < ScoreTile::kThreadCols; ++c) {
      const int col = ScoreTile::tile_col(lane, c);
      bool keep = col >= first_col && col < end_col;
      if constexpr (Variant::has_mask_mod) keep = keep && variant.mask_mod(batch, row.head, row.q, key0 + col);
      if (!keep) scores.at(r, c) = negative_infinity();
    }
  }
}

// Rows q_row0, q_row0 + 1, ... of head `head`.
template <class ScoreTile, class Variant>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void mask_score_tile(ScoreTile& scores, const BandMask& band, const Variant& variant,
                                                        int batch, int head, int q_row0, int key0, int seqlen_q,
                                                        int seqlen_k, int lane) {
  mask_score_rows(scores, band, variant, batch, [&](int row) { return ScoreRow{q_row0 + row, head}; }, key0, seqlen_q,
                  seqlen_k, lane);
}

// The same mask on a transposed tile (the backward's Sᵀ): tile row 0 is key `key_row0`, tile
// column 0 is query `q0`. The band keeps an interval of queries per key; keys past the sequence
// keep none.
template <class ScoreTile, class Variant>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void mask_transposed_score_tile(ScoreTile& scores, const BandMask& band,
                                                                   const Variant& variant, int batch, int head,
                                                                   int key_row0, int q0, int seqlen_q, int seqlen_k,
                                                                   int lane) {
#pragma unroll
  for (int r = 0; r < ScoreTile::kThreadRows; ++r) {
    const int key = key_row0 + ScoreTile::tile_row(lane, r);
    const int first_col = band.first_query(key, seqlen_q, seqlen_k) - q0;
    const int end_col = key < seqlen_k ? band.end_query(key + 1, seqlen_q, seqlen_k) - q0 : 0;
#pragma unroll
    for (int c = 0; c < ScoreTile::kThreadCols; ++c) {
      const int col = ScoreTile::tile_col(lane, c);
      bool keep = col >= first_col && col < end_col;
      if constexpr (Variant::has_mask_mod) keep = keep && variant.mask_mod(batch, head, q0 + col, key);
      if (!keep) scores.at(r, c) = negative_infinity();
    }
  }
}

}  // namespace attnkit
