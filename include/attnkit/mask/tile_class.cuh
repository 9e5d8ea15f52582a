#pragma once
// How a mask meets one (query tile × key tile) block of the score matrix. Kernels skip
// `skip` tiles entirely, run `full` tiles with no per-element test, and apply the element
// predicate only on `partial` tiles.

#include "../core/config.cuh"

namespace attnkit {

enum class TileClass : int { skip = 0, full = 1, partial = 2 };

// Combines two masks applied together (an element is kept only if both keep it).
ATTNKIT_HOST_DEVICE constexpr TileClass intersect(TileClass a, TileClass b) {
  if (a == TileClass::skip || b == TileClass::skip) return TileClass::skip;
  if (a == TileClass::partial || b == TileClass::partial) return TileClass::partial;
  return TileClass::full;
}

// A rectangle of the score matrix: query rows [q_begin, q_end) × key columns [k_begin, k_end),
// in positions within one sequence.
struct TileBounds {
  int q_begin, q_end, k_begin, k_end;
};

}  // namespace attnkit
