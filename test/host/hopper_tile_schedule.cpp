// Tests of hopper/tile_schedule.cuh: every (query block, head, batch) tile is in exactly one
// slot, a slot pairs query block M−1−p with block p of one head, so under a causal mask (query
// block m visits m + 1 key blocks) every slot but an odd M's middle one has the same work, and
// the round robin over the CTAs of a persistent grid stays balanced where taking the tiles in
// order would not.

#include <algorithm>
#include <vector>

#include <catch2/catch_test_macros.hpp>

#include "attnkit/hopper/tile_schedule.cuh"

using attnkit::hopper::TileCoord;
using attnkit::hopper::TileSchedule;

namespace {

// The tiles of each slot, in the order the kernel visits them.
std::vector<std::vector<TileCoord>> slot_tiles(const TileSchedule& schedule) {
  std::vector<std::vector<TileCoord>> slots(schedule.slots());
  for (int slot = 0; slot < schedule.slots(); ++slot)
    for (int half = 0; half < 2; ++half) {
      TileCoord coord;
      if (schedule.tile(slot, half, coord)) slots[slot].push_back(coord);
    }
  return slots;
}

int causal_work(const std::vector<TileCoord>& tiles) {
  int work = 0;
  for (const TileCoord& t : tiles) work += t.m_block + 1;
  return work;
}

}  // namespace

TEST_CASE("every tile is in exactly one slot, long block first") {
  for (int m_blocks : {1, 2, 3, 8, 13, 86})
    for (int heads : {1, 3, 16})
      for (int batches : {1, 2}) {
        const TileSchedule schedule{m_blocks, heads, heads, batches};
        std::vector<int> seen(m_blocks * heads * batches, 0);
        for (const auto& tiles : slot_tiles(schedule)) {
          REQUIRE(!tiles.empty());
          REQUIRE(tiles.size() <= 2);
          for (const TileCoord& t : tiles) {
            REQUIRE(t.m_block >= 0);
            REQUIRE(t.m_block < m_blocks);
            REQUIRE(t.head >= 0);
            REQUIRE(t.head < heads);
            REQUIRE(t.batch >= 0);
            REQUIRE(t.batch < batches);
            REQUIRE(t.head_kv == t.head);
            ++seen[(t.batch * heads + t.head) * m_blocks + t.m_block];
          }
          if (tiles.size() == 2) {
            REQUIRE(tiles[0].m_block > tiles[1].m_block);
            REQUIRE(tiles[0].head == tiles[1].head);
            REQUIRE(tiles[0].batch == tiles[1].batch);
          }
        }
        REQUIRE(std::all_of(seen.begin(), seen.end(), [](int n) { return n == 1; }));
      }
}

TEST_CASE("a slot pairs the p-th longest with the p-th shortest query block: equal causal work") {
  for (int m_blocks : {2, 7, 8, 64, 65}) {
    const TileSchedule schedule{m_blocks, 4, 4, 2};
    for (const auto& tiles : slot_tiles(schedule)) {
      if (tiles.size() == 2) {
        REQUIRE(causal_work(tiles) == m_blocks + 1);
      } else {
        REQUIRE(m_blocks % 2 == 1);  // only the middle block of an odd count is alone
        REQUIRE(tiles[0].m_block == m_blocks / 2);
      }
    }
  }
}

TEST_CASE("the persistent round robin balances causal work across 132 CTAs") {
  // s = 1k, 16 heads, 16 batches, 128-row query blocks: 1024 slots on 132 CTAs.
  const TileSchedule schedule{8, 16, 16, 16};
  const int ctas = 132;
  const auto slots = slot_tiles(schedule);
  std::vector<int> work(ctas, 0);
  for (int slot = 0; slot < schedule.slots(); ++slot) work[slot % ctas] += causal_work(slots[slot]);
  const auto [least, most] = std::minmax_element(work.begin(), work.end());
  // Every slot has the same work (M + 1 = 9), so CTAs differ by at most one slot.
  REQUIRE(*most - *least <= 9);

  // Taking tiles in order (query blocks of a head longest first) instead: some CTAs get only
  // long tiles, the imbalance the pairing avoids.
  std::vector<int> in_order(ctas, 0);
  const int tiles = 8 * 16 * 16;
  for (int t = 0; t < tiles; ++t) in_order[t % ctas] += 8 - t % 8;
  const auto [least_in_order, most_in_order] = std::minmax_element(in_order.begin(), in_order.end());
  REQUIRE(*most_in_order - *least_in_order > 9);
}

TEST_CASE("GQA: a tile reads the K/V head its query head's group shares") {
  for (int heads_kv : {1, 2, 4, 8}) {
    const TileSchedule schedule{5, 8, heads_kv, 3};
    for (const auto& tiles : slot_tiles(schedule))
      for (const TileCoord& t : tiles) REQUIRE(t.head_kv == t.head / (8 / heads_kv));
  }
}
