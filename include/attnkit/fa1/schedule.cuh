#pragma once
// The steps of FlashAttention-1's double loop (Dao et al., 2022, Algorithm 1) for one
// (batch, head): K/V blocks j outermost, and for each, the query blocks i whose rows can see
// it, in ascending order. A step (i, j) is listed only when the band and the variant keep at
// least part of the tile; it carries the tile's class so the kernel masks only partial tiles.
//
//   for j over the K/V blocks any query keeps           (band: first_key .. end_key)
//     for i over the query blocks that keep a key of j  (band: first_query .. end_query)
//       if classify(i, j) != skip: step (i, j)
//
// The kernel walks the steps with first() / next(), one step ahead of its work, so it knows
// which Q block to prefetch and when the K/V block changes. Host-testable.
//
// Which query blocks each K/V block visits is the part of the schedule that dense and
// block-sparse attention do differently, so the kernel takes it as a parameter, a small struct
// passed by value (a query-block walk) that gives each CTA its schedule:
//   schedule<BlockM, BlockN>(band, variant, batch, head, seqlen_q, seqlen_k)
// returning an object with first(step) / next(step) and a `Step` type holding at least
// q_block, kv_block and tile_class. BandQueryBlocks below is the dense walk (StepSchedule);
// fa1/block_mask_schedule.cuh has the block-sparse one.

#include "../core/math.cuh"
#include "../mask/attention_mask.cuh"

namespace attnkit::fa1 {

struct Step {
  int q_block;           // i: query rows [i · BlockM, (i + 1) · BlockM)
  int kv_block;          // j: keys [j · BlockN, (j + 1) · BlockN)
  TileClass tile_class;  // full or partial, never skip
};

template <int BlockM, int BlockN, class Variant>
class StepSchedule {
 public:
  using Step = fa1::Step;

  ATTNKIT_HOST_DEVICE StepSchedule(const BandMask& band, const Variant& variant, int batch, int head, int seqlen_q,
                                   int seqlen_k)
      : band_(band), variant_(variant), batch_(batch), head_(head), seqlen_q_(seqlen_q), seqlen_k_(seqlen_k) {
    const int key_begin = band.first_key(0, seqlen_q, seqlen_k);
    const int key_end = band.end_key(seqlen_q, seqlen_q, seqlen_k);
    const bool any_key = seqlen_q > 0 && seqlen_k > 0 && key_end > key_begin;
    kv_begin_ = any_key ? key_begin / BlockN : 0;
    kv_end_ = any_key ? ceil_div(key_end, BlockN) : 0;
  }

  // The first step; false when no tile keeps anything (every row then finishes with O = 0).
  ATTNKIT_HOST_DEVICE bool first(Step& step) const {
    if (kv_begin_ >= kv_end_) return false;
    step.kv_block = kv_begin_;
    step.q_block = q_block_begin(kv_begin_) - 1;
    return next(step);
  }

  // Advances `step` to the step after it; false when `step` was the last.
  ATTNKIT_HOST_DEVICE bool next(Step& step) const {
    int i = step.q_block + 1;
    int j = step.kv_block;
    while (j < kv_end_) {
      if (i < q_block_end(j)) {
        const TileClass tile_class =
            classify_tile(band_, variant_, batch_, head_,
                          TileBounds{i * BlockM, (i + 1) * BlockM, j * BlockN, (j + 1) * BlockN}, seqlen_q_, seqlen_k_);
        if (tile_class != TileClass::skip) {
          step = {i, j, tile_class};
          return true;
        }
        ++i;
      } else if (++j < kv_end_) {
        i = q_block_begin(j);
      }
    }
    return false;
  }

  // The query blocks [begin, end) whose rows keep some key of K/V block j (empty: begin >= end).
  ATTNKIT_HOST_DEVICE int q_block_begin(int j) const {
    return band_.first_query(j * BlockN, seqlen_q_, seqlen_k_) / BlockM;
  }
  ATTNKIT_HOST_DEVICE int q_block_end(int j) const {
    const int k_end = (j + 1) * BlockN < seqlen_k_ ? (j + 1) * BlockN : seqlen_k_;
    const int q_first = band_.first_query(j * BlockN, seqlen_q_, seqlen_k_);
    const int q_end = band_.end_query(k_end, seqlen_q_, seqlen_k_);
    return q_end > q_first ? ceil_div(q_end, BlockM) : 0;
  }

 private:
  BandMask band_;
  Variant variant_;
  int batch_, head_;
  int seqlen_q_, seqlen_k_;
  int kv_begin_, kv_end_;  // the K/V blocks any query keeps a key of
};

// The dense query-block walk: every tile the band and the variant's classify keep.
struct BandQueryBlocks {
  template <int BlockM, int BlockN, class Variant>
  ATTNKIT_HOST_DEVICE StepSchedule<BlockM, BlockN, Variant> schedule(const BandMask& band, const Variant& variant,
                                                                     int batch, int head, int seqlen_q,
                                                                     int seqlen_k) const {
    return {band, variant, batch, head, seqlen_q, seqlen_k};
  }
};

}  // namespace attnkit::fa1
