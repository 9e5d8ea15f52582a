#pragma once
// Which query blocks a key block's backward pass visits, in what order, how each meets the
// mask, and (for the deterministic dQ) which turn the key block takes at each: the part of the
// backward schedule that dense and block-sparse attention do differently. The forward's
// counterpart, over key blocks, is key_block_walk.cuh.
//
// A pass owns one key block of one KV head and visits query blocks for every query head of the
// GQA group. It takes a walk source (a small struct, passed by value) and asks it for a Walk:
//   size()                          how many (query head, query block) steps
//   start(), advance(position)      the first step, the next one
//   head_offset(position)           the step's query head, counted from the group's first
//   block(position)                 its query block (in units of the kernel's BlockM)
//   classify(position, tile, ...)   skip / full / partial
//   turn(band, head, q_begin, ...)  deterministic dQ: how many key blocks add to that query
//                                   block's dQ before this one (the key blocks that visit a
//                                   query block take turns in increasing order;
//                                   tile/turn_semaphore.cuh)
// With Descending the query blocks come last one first (what the ordered dQ wants: see
// fa2/backward_key_block.cuh).
//
//   BandQueryWalk       every query block with a row that the band (causal, window, padding)
//                       lets keep one of the block's keys, the same for every head, each
//                       classified by the band and the variant's classify
//   BlockMaskQueryWalk  only the query blocks a block mask (mask/block_mask.cuh) lists for the
//                       key block in its transposed lists, per query head: partial ones, then
//                       full ones. Listed-full blocks run without the element mask (the band
//                       still applies), listed-partial ones with the variant's mask_mod. A mask
//                       block of block_m queries is block_m / BlockM kernel blocks; those past
//                       the sequence's end are left out of the walk.

#include <cstdint>

#include "../core/math.cuh"
#include "../mask/attention_mask.cuh"
#include "../mask/block_mask.cuh"

namespace attnkit {

struct BandQueryWalk {
  template <int BlockN, bool Descending>
  struct Walk {
    int first = 0, count = 0;  // the visible query blocks: [first, first + count), for each head
    int group = 1;             // query heads per KV head
    int n_block = 0;

    // Step (head_offset, m): the m-th visible query block of the group's head_offset-th head.
    struct Position {
      int head_offset = 0, m = 0;
    };

    ATTNKIT_DEVICE ATTNKIT_FORCEINLINE int size() const { return group * count; }
    ATTNKIT_DEVICE ATTNKIT_FORCEINLINE Position start() const { return {}; }
    // Counts instead of dividing the step index: an integer division is ~20 instructions, and
    // the loop needs the current and the next step's position.
    ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void advance(Position& position) const {
      if (++position.m == count) {
        position.m = 0;
        ++position.head_offset;
      }
    }
    ATTNKIT_DEVICE ATTNKIT_FORCEINLINE int head_offset(const Position& position) const { return position.head_offset; }
    ATTNKIT_DEVICE ATTNKIT_FORCEINLINE int block(const Position& position) const {
      return first + (Descending ? count - 1 - position.m : position.m);
    }
    template <class Variant>
    ATTNKIT_DEVICE ATTNKIT_FORCEINLINE TileClass classify(const Position&, const BandMask& band, const Variant& variant,
                                                          int batch, int head, TileBounds tile, int seqlen_q,
                                                          int seqlen_k) const {
      return classify_tile(band, variant, batch, head, tile, seqlen_q, seqlen_k);
    }
    // The key blocks that see the query block at q_begin are consecutive (the band's query
    // range only moves forward with the key block), so this block's turn is its distance from
    // the first of them: the smallest n whose query range reaches past q_begin, found by
    // bisection over the (monotone) range ends.
    ATTNKIT_DEVICE ATTNKIT_FORCEINLINE int turn(const BandMask& band, int, int q_begin, int seqlen_q,
                                                int seqlen_k) const {
      int lo = 0, hi = n_block;
      while (lo < hi) {
        const int mid = (lo + hi) / 2;
        if (band.end_query((mid + 1) * BlockN, seqlen_q, seqlen_k) > q_begin) hi = mid;
        else lo = mid + 1;
      }
      return n_block - lo;
    }
  };

  // The query blocks of BlockM rows that keep any key of key block `n_block` (BlockN keys)
  // under `band`.
  template <int BlockM, int BlockN, bool Descending>
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE Walk<BlockN, Descending> walk(const BandMask& band, int, int, int group,
                                                                   int n_block, int seqlen_q, int seqlen_k) const {
    const int k_begin = n_block * BlockN;
    const int q_first = band.first_query(k_begin, seqlen_q, seqlen_k);
    const int q_last_end = band.end_query(k_begin + BlockN, seqlen_q, seqlen_k);
    Walk<BlockN, Descending> w;
    w.first = q_first / BlockM;
    w.count = q_last_end > q_first ? ceil_div(q_last_end, BlockM) - w.first : 0;
    w.group = group;
    w.n_block = n_block;
    return w;
  }
};

struct BlockMaskQueryWalk {
  BlockMaskView mask;

  template <bool Descending>
  struct Walk {
    BlockMaskView mask;
    int batch = 0, first_head = 0, group = 1;
    int kv_block = 0;                 // the mask block holding the kernel's key block
    int key_part = 0;                 // the kernel block's place in it
    int split_m = 1, split_n = 1;     // kernel blocks per mask block: of queries, of keys
    int end_whole = 0, end_rest = 0;  // the sequence's kernel query blocks: whole mask blocks, and the rest
    int steps = 0;

    // Step i of the head_offset-th head's lists, and how many kernel query blocks those lists
    // give (partial ones, all) once cut at the sequence's end.
    struct Position {
      int head_offset = 0, i = 0;
      int partial_count = 0, count = 0;
    };

    ATTNKIT_DEVICE ATTNKIT_FORCEINLINE int size() const { return steps; }
    ATTNKIT_DEVICE ATTNKIT_FORCEINLINE Position start() const {
      Position position;
      settle(position);
      return position;
    }
    ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void advance(Position& position) const {
      if (++position.i == position.count) {
        position.i = 0;
        ++position.head_offset;
        settle(position);
      }
    }
    ATTNKIT_DEVICE ATTNKIT_FORCEINLINE int head_offset(const Position& position) const { return position.head_offset; }
    ATTNKIT_DEVICE ATTNKIT_FORCEINLINE int block(const Position& position) const {
      const int at = listed(position);
      const bool in_partial = at < position.partial_count;
      const int j = in_partial ? at : at - position.partial_count;
      const int* const list = (in_partial ? mask.partial_q_indices : mask.full_q_indices) + list_start(position);
      return list[j / split_m] * split_m + j % split_m;
    }
    template <class Variant>
    ATTNKIT_DEVICE ATTNKIT_FORCEINLINE TileClass classify(const Position& position, const BandMask& band,
                                                          const Variant&, int, int, TileBounds tile, int seqlen_q,
                                                          int seqlen_k) const {
      const TileClass by_band = band.classify(tile, seqlen_q, seqlen_k);
      return listed(position) < position.partial_count ? intersect(TileClass::partial, by_band) : by_band;
    }
    // The key blocks that visit the query block at q_begin are the kernel blocks of the mask
    // blocks its forward lists hold: this one's turn is the number of those before it. The
    // lists must ascend (the builders' do).
    ATTNKIT_DEVICE ATTNKIT_FORCEINLINE int turn(const BandMask&, int head, int q_begin, int, int) const {
      const int64_t row = mask.q_row(batch, head, q_begin / mask.block_m);
      const int64_t start = row * mask.kv_blocks;
      const int before = count_below(mask.partial_indices + start, mask.partial_counts[row], kv_block) +
                         count_below(mask.full_indices + start, mask.full_counts[row], kv_block);
      return before * split_n + key_part;
    }

    // Entries of the ascending `list` (`count` of them) below `value`, by bisection.
    ATTNKIT_DEVICE ATTNKIT_FORCEINLINE static int count_below(const int* list, int count, int value) {
      int lo = 0, hi = count;
      while (lo < hi) {
        const int mid = (lo + hi) / 2;
        if (list[mid] < value) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    }
    // Kernel query blocks that the ascending mask-block `list` expands to within the sequence.
    // The expansion ascends, so those are a prefix of it: split_m for each mask block wholly
    // inside, end_rest for the one the sequence ends in.
    ATTNKIT_DEVICE ATTNKIT_FORCEINLINE int kernel_blocks_within(const int* list, int count) const {
      const int whole = count_below(list, count, end_whole);
      const bool cut = end_rest != 0 && whole < count && list[whole] == end_whole;
      return whole * split_m + (cut ? end_rest : 0);
    }
    ATTNKIT_DEVICE ATTNKIT_FORCEINLINE int64_t list_start(const Position& position) const {
      return mask.kv_row(batch, first_head + position.head_offset, kv_block) * mask.q_blocks;
    }
    // The step's place in its head's partial-then-full lists.
    ATTNKIT_DEVICE ATTNKIT_FORCEINLINE int listed(const Position& position) const {
      return Descending ? position.count - 1 - position.i : position.i;
    }
    // Reads the lists' lengths of the head at position.head_offset.
    ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void enter_head(Position& position) const {
      const int64_t row = mask.kv_row(batch, first_head + position.head_offset, kv_block);
      const int64_t start = row * mask.q_blocks;
      position.partial_count = kernel_blocks_within(mask.partial_q_indices + start, mask.partial_q_counts[row]);
      position.count = position.partial_count + kernel_blocks_within(mask.full_q_indices + start, mask.full_q_counts[row]);
    }
    // Moves past the heads whose lists are empty, from position.head_offset on.
    ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void settle(Position& position) const {
      for (; position.head_offset < group; ++position.head_offset) {
        enter_head(position);
        if (position.count > 0) break;
      }
    }
  };

  // The listed query blocks of key block `n_block` (BlockN keys) for each query head of the
  // group (the kernel's BlockM divides mask.block_m, its BlockN mask.block_n).
  template <int BlockM, int BlockN, bool Descending>
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE Walk<Descending> walk(const BandMask&, int batch, int head_kv, int group,
                                                           int n_block, int seqlen_q, int) const {
    Walk<Descending> w;
    w.mask = mask;
    w.batch = batch;
    w.first_head = head_kv * group;
    w.group = group;
    w.split_m = mask.block_m / BlockM;
    w.split_n = mask.block_n / BlockN;
    w.kv_block = n_block / w.split_n;
    w.key_part = n_block % w.split_n;
    const int kernel_q_blocks = ceil_div(seqlen_q, BlockM);
    w.end_whole = kernel_q_blocks / w.split_m;
    w.end_rest = kernel_q_blocks % w.split_m;
    for (int head_offset = 0; head_offset < group; ++head_offset) {
      typename Walk<Descending>::Position position;
      position.head_offset = head_offset;
      w.enter_head(position);
      w.steps += position.count;
    }
    return w;
  }
};

}  // namespace attnkit
