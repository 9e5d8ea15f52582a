#pragma once
// Which K/V blocks a query block's CTA visits, in what order, and how each meets the mask:
// the part of a forward schedule that dense and block-sparse attention do differently. A
// kernel takes a walk source (a small struct, passed by value) and asks it, per CTA, for a
// Walk:
//   size()                       how many K/V blocks this query block visits
//   block(i)                     the i-th one (a block index in units of the kernel's BlockN)
//   next(block(i), i)            block(i + 1), cheaper when block(i) tells it
//   classify(i, tile, ...)       skip / full / partial for the i-th one
//
//   BandWalk       every block the band (causal, window, key padding) lets the rows see, the
//                  last one first, each classified by the band and the variant's classify
//   BlockMaskWalk  only the blocks a block mask (mask/block_mask.cuh) lists for this query
//                  block: its partial blocks first, then its full ones. Listed-full blocks run
//                  without the element mask (the band's padding and window still apply);
//                  listed-partial ones with the variant's mask_mod. A mask block of block_n
//                  keys is block_n / BlockN kernel blocks.
// The backward's walks, over the query blocks that see one key block, are in
// query_block_walk.cuh.

#include "../core/math.cuh"
#include "../mask/attention_mask.cuh"
#include "../mask/block_mask.cuh"

namespace attnkit {

struct BandWalk {
  struct Walk {
    int first = 0, count = 0;

    ATTNKIT_DEVICE ATTNKIT_FORCEINLINE int size() const { return count; }
    ATTNKIT_DEVICE ATTNKIT_FORCEINLINE int block(int i) const { return first + count - 1 - i; }
    // block(i + 1), given block(i): the one below it.
    ATTNKIT_DEVICE ATTNKIT_FORCEINLINE int next(int block_i, int) const { return block_i - 1; }
    template <class Variant>
    ATTNKIT_DEVICE ATTNKIT_FORCEINLINE TileClass classify(int, const BandMask& band, const Variant& variant, int batch,
                                                          int head, TileBounds tile, int seqlen_q,
                                                          int seqlen_k) const {
      return classify_tile(band, variant, batch, head, tile, seqlen_q, seqlen_k);
    }
  };

  // The K/V blocks of BlockN keys that rows [q_begin, q_end) can see under `band`.
  template <int BlockN>
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE Walk walk(const BandMask& band, int, int, int q_begin, int q_end, int seqlen_q,
                                               int seqlen_k) const {
    const int key_begin = band.first_key(q_begin, seqlen_q, seqlen_k);
    const int key_end = band.end_key(q_end, seqlen_q, seqlen_k);
    Walk w;
    w.first = key_begin / BlockN;
    w.count = key_end > key_begin ? ceil_div(key_end, BlockN) - w.first : 0;
    return w;
  }
};

struct BlockMaskWalk {
  BlockMaskView mask;

  struct Walk {
    const int* partial;  // this query block's partial mask blocks, then
    const int* full;     // its full ones
    int partial_count = 0, count = 0;  // kernel blocks: partial ones, all
    int split = 1;                     // kernel blocks per mask block

    ATTNKIT_DEVICE ATTNKIT_FORCEINLINE int size() const { return count; }
    ATTNKIT_DEVICE ATTNKIT_FORCEINLINE int block(int i) const {
      const bool in_partial = i < partial_count;
      const int j = in_partial ? i : i - partial_count;
      return (in_partial ? partial : full)[j / split] * split + j % split;
    }
    ATTNKIT_DEVICE ATTNKIT_FORCEINLINE int next(int, int i) const { return block(i + 1); }
    template <class Variant>
    ATTNKIT_DEVICE ATTNKIT_FORCEINLINE TileClass classify(int i, const BandMask& band, const Variant&, int, int,
                                                          TileBounds tile, int seqlen_q, int seqlen_k) const {
      const TileClass by_band = band.classify(tile, seqlen_q, seqlen_k);
      return i < partial_count ? intersect(TileClass::partial, by_band) : by_band;
    }
  };

  // The listed blocks of the mask query block holding rows [q_begin, q_end) (the kernel's
  // BlockM divides mask.block_m, so they are all in one mask block).
  template <int BlockN>
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE Walk walk(const BandMask&, int batch, int head, int q_begin, int, int,
                                               int) const {
    const int64_t row = mask.q_row(batch, head, q_begin / mask.block_m);
    Walk w;
    w.split = mask.block_n / BlockN;
    w.partial = mask.partial_indices + row * mask.kv_blocks;
    w.full = mask.full_indices + row * mask.kv_blocks;
    w.partial_count = mask.partial_counts[row] * w.split;
    w.count = w.partial_count + mask.full_counts[row] * w.split;
    return w;
  }
};

}  // namespace attnkit
