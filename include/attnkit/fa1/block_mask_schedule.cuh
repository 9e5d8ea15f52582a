#pragma once
// The steps of FlashAttention-1's double loop over a block mask (mask/block_mask.cuh): the
// block-sparse form of fa1/schedule.cuh (Dao et al., 2022, Algorithm 5). K/V blocks j stay
// outermost, ascending; for each, only the query blocks the mask's *transposed* lists give for
// j's mask block, its partial ones first, then its full ones:
//
//   for j over the kernel's K/V blocks                     (a mask block of block_n keys is
//     for i in partial_q_indices[j], then full_q_indices[j]   block_n / BlockN of them, and a
//       if band.classify(i, j) != skip: step (i, j)           mask query block of block_m rows
//                                                             block_m / BlockM kernel blocks)
//
// A listed-partial tile is partial (the kernel applies the element mask: band and mask_mod); a
// listed-full one takes the band's class alone, so it runs with no element test unless the
// band (padding at the sequence end, a window) cuts it. The band also drops the kernel blocks
// of the last mask blocks that lie past the sequence. The variant's own classify is not asked:
// the mask replaces it, and should have been built from the same pattern as its mask_mod.
//
// Steps cost in proportion to the blocks the mask keeps; a mask K/V block with empty lists
// costs only the read of its two counts. Host-testable over a HostBlockMask's view.

#include "../core/math.cuh"
#include "../mask/band.cuh"
#include "../mask/block_mask.cuh"

namespace attnkit::fa1 {

// A step of the block-sparse schedule: fa1::Step's three fields, and where the step lies in its
// K/V block's list of kernel query blocks (so next() needs no search and no reread of counts).
struct BlockMaskStep {
  int q_block;           // i: query rows [i · BlockM, (i + 1) · BlockM)
  int kv_block;          // j: keys [j · BlockN, (j + 1) · BlockN)
  TileClass tile_class;  // full or partial, never skip
  int position;          // in j's list: [0, partial_end) partial kernel blocks, [partial_end, end) full
  int partial_end, end;
};

template <int BlockM, int BlockN>
class BlockMaskStepSchedule {
 public:
  using Step = BlockMaskStep;

  // The mask's block sizes are multiples of (BlockM, BlockN) (the launcher checks).
  ATTNKIT_HOST_DEVICE BlockMaskStepSchedule(const BlockMaskView& mask, const BandMask& band, int batch, int head,
                                            int seqlen_q, int seqlen_k)
      : partial_counts_(mask.partial_q_counts),
        full_counts_(mask.full_q_counts),
        partial_indices_(mask.partial_q_indices),
        full_indices_(mask.full_q_indices),
        first_row_(mask.kv_row(batch, head, 0)),
        list_stride_(mask.q_blocks),
        q_split_(mask.block_m / BlockM),
        kv_split_(mask.block_n / BlockN),
        band_(band),
        seqlen_q_(seqlen_q),
        seqlen_k_(seqlen_k) {
    const int sequence_blocks = seqlen_q > 0 && seqlen_k > 0 ? ceil_div(seqlen_k, BlockN) : 0;
    const int mask_blocks = mask.kv_blocks * kv_split_;
    kv_end_ = sequence_blocks < mask_blocks ? sequence_blocks : mask_blocks;
  }

  // The first step; false when the mask and the band keep no tile (every row then finishes
  // with O = 0 and LSE = −inf).
  ATTNKIT_HOST_DEVICE bool first(Step& step) const {
    if (kv_end_ <= 0) return false;
    step.kv_block = 0;
    count_lists(step);
    return find(step, 0);
  }

  // Advances `step` to the step after it; false when `step` was the last.
  ATTNKIT_HOST_DEVICE bool next(Step& step) const { return find(step, step.position + 1); }

 private:
  // The transposed lists' row of the mask block holding kernel K/V block `kv_block`.
  ATTNKIT_HOST_DEVICE int64_t mask_row(int kv_block) const { return first_row_ + kv_block / kv_split_; }
  // step.kv_block's list lengths, in kernel query blocks.
  ATTNKIT_HOST_DEVICE void count_lists(Step& step) const {
    const int64_t row = mask_row(step.kv_block);
    step.partial_end = partial_counts_[row] * q_split_;
    step.end = step.partial_end + full_counts_[row] * q_split_;
  }

  // The first step at or after `position` of step.kv_block's list, else of the K/V blocks after it.
  ATTNKIT_HOST_DEVICE bool find(Step& step, int position) const {
    for (;;) {
      for (; position < step.end; ++position) {
        const bool listed_partial = position < step.partial_end;
        const int listed = listed_partial ? position : position - step.partial_end;
        const int* const list = (listed_partial ? partial_indices_ : full_indices_) +
                                mask_row(step.kv_block) * list_stride_;
        const int q_block = list[listed / q_split_] * q_split_ + listed % q_split_;
        const TileClass by_band = band_.classify(
            TileBounds{q_block * BlockM, (q_block + 1) * BlockM, step.kv_block * BlockN, (step.kv_block + 1) * BlockN},
            seqlen_q_, seqlen_k_);
        const TileClass tile_class = listed_partial ? intersect(TileClass::partial, by_band) : by_band;
        if (tile_class != TileClass::skip) {
          step.q_block = q_block;
          step.tile_class = tile_class;
          step.position = position;
          return true;
        }
      }
      if (++step.kv_block >= kv_end_) return false;
      count_lists(step);
      position = 0;
    }
  }

  const int* partial_counts_;
  const int* full_counts_;
  const int* partial_indices_;
  const int* full_indices_;
  int64_t first_row_;       // the transposed lists' row of mask K/V block 0 for this (batch, head)
  int64_t list_stride_;     // ints from one row's indices to the next (the mask's q_blocks)
  int q_split_, kv_split_;  // kernel blocks per mask block
  BandMask band_;
  int seqlen_q_, seqlen_k_;
  int kv_end_;  // the kernel K/V blocks [0, kv_end_) both the sequence and the mask reach
};

// The block-sparse query-block walk (fa1/schedule.cuh explains the interface): each K/V block
// visits the query blocks `mask` lists for it. The variant is not consulted for tile classes.
struct BlockMaskQueryBlocks {
  BlockMaskView mask;

  template <int BlockM, int BlockN, class Variant>
  ATTNKIT_HOST_DEVICE BlockMaskStepSchedule<BlockM, BlockN> schedule(const BandMask& band, const Variant&, int batch,
                                                                     int head, int seqlen_q, int seqlen_k) const {
    return {mask, band, batch, head, seqlen_q, seqlen_k};
  }
};

}  // namespace attnkit::fa1
