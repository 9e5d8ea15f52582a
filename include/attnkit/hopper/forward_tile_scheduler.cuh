#pragma once
// Role: the Hopper forward's tile scheduler. Which tiles (query block, head, batch) a CTA
// computes and in what order, as every warpgroup of the CTA walks them: the producer to load
// them, the consumers to compute and store them. Persistent (Config::kPersistent): the CTA's
// slots blockIdx.x, + gridDim.x, ... of the TileSchedule (tile_schedule.cuh), two tiles a
// slot; otherwise the one tile blockIdx.x (two CTAs a slot).
//
//   const ForwardTileScheduler<Config> scheduler(problem, schedule);
//   scheduler.for_each_tile([&](const ForwardTile& tile) { ... });
//   key_block_walk<Config>(key_blocks, problem.band, tile)   // the K/V blocks its rows visit

#include "../attention/sequence.cuh"
#include "../core/config.cuh"
#include "../core/warp_uniform.cuh"
#include "../mask/band.cuh"
#include "tile_schedule.cuh"

namespace attnkit::hopper {

// One tile: its coordinates, where its batch entry's sequences lie, and its query rows.
struct ForwardTile {
  TileCoord coord;
  SequenceSpan span;
  int q_begin, q_end;
};

template <class Config>
class ForwardTileScheduler {
 public:
  ATTNKIT_DEVICE ForwardTileScheduler(const AttentionProblem& problem, const TileSchedule& schedule)
      : problem_(problem), schedule_(schedule) {}

  // Calls visit(tile) for this CTA's tiles in order, the same on every warpgroup. Persistent:
  // one flat loop over (slot, half) (with the two tiles of a slot as a loop of their own, ptxas
  // spilled and moved the wgmma descriptors through vector registers in the d = 256 kernel).
  template <class Visit>
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void for_each_tile(Visit&& visit) const {
    TileCoord coord;
    ForwardTile tile;
    if constexpr (Config::kPersistent) {
      for (int slot = blockIdx.x, half = 0; slot < schedule_.slots();) {
        if (schedule_.tile(slot, half, coord) && locate(coord, tile)) visit(tile);
        if (++half == 2) {
          half = 0;
          slot += gridDim.x;
        }
      }
    } else {
      if (schedule_.tile(blockIdx.x / 2, blockIdx.x % 2, coord) && locate(coord, tile)) visit(tile);
    }
  }

 private:
  // False when the tile's rows lie past its entry's sequence (varlen: an entry shorter than
  // the longest).
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE bool locate(const TileCoord& coord, ForwardTile& tile) const {
    tile.coord = coord;
    // Varlen spans are loaded: broadcast, so that the tile loop's control flow (and the
    // pipeline state it carries) stays provably warp-uniform (core/warp_uniform.cuh).
    const SequenceSpan span = locate_sequence(problem_, coord.batch);
    tile.span = {warp_uniform(span.q_row_offset), warp_uniform(span.k_row_offset), warp_uniform(span.seqlen_q),
                 warp_uniform(span.seqlen_k)};
    tile.q_begin = coord.m_block * Config::kBlockM;
    tile.q_end = min(tile.q_begin + Config::kBlockM, tile.span.seqlen_q);
    return tile.q_begin < tile.span.seqlen_q;
  }

  const AttentionProblem& problem_;
  const TileSchedule& schedule_;
};

// The K/V blocks a tile's rows visit (attention/key_block_walk.cuh): the band's, or a block
// mask's; tiles outside the walk are never loaded.
template <class Config, class KeyBlocks>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE auto key_block_walk(const KeyBlocks& key_blocks, const BandMask& band,
                                                       const ForwardTile& tile) {
  return key_blocks.template walk<Config::kBlockN>(band, tile.coord.batch, tile.coord.head, tile.q_begin, tile.q_end,
                                                   tile.span.seqlen_q, tile.span.seqlen_k);
}

}  // namespace attnkit::hopper
