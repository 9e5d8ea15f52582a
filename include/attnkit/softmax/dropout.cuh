#pragma once
// Attention dropout as FlashAttention fuses it: the keep/drop decision of element (query i,
// key j) is a pure function of (seed, offset, batch, head, i, j), drawn from a counter-based
// Philox4x32-10 stream (curand's device API), so the backward regenerates exactly the forward's
// mask without storing it.
//
// One Philox call gives 128 random bits: eight 16-bit uniforms for eight elements. The eight
// elements of one call ("a group") are chosen so that the forward's accumulator layout (rows =
// queries) uses all eight of a call and the backward's transposed layout (rows = keys) uses
// four of each of two calls:
//   group = {queries 16a + r, 16a + r + 8} × {keys 16b + 2t, 16b + 2t + 1, 16b + 2t + 8, 16b + 2t + 9}
// for r in 0..7, t in 0..3. Those are exactly the elements lane (group r, thread-in-group t)
// of an mma accumulator owns in a 16 × 16 block (layout/mma_fragment.cuh, C fragment).
//
// Philox counter = {key quad 4b + t, query pair 8a + r, batch · heads + head, offset}, key =
// the 64-bit seed. Element slot within the group = (i % 16 >= 8) · 4 + (j % 16 >= 8) · 2 + j % 2,
// its uniform = bits [16·(slot % 2), +16) of word slot / 2.
//
// Kept when uniform >= threshold = round(p · 65536): the probability is rounded to a multiple
// of 2^-16, and kept values are scaled by 1 / (1 − p_rounded) so the expectation is exact.

#include <cmath>
#include <cstdint>

#include "../core/config.cuh"
#include "../core/error.cuh"

#if defined(__CUDACC__)
// The Philox generator of curand's device API (curand_kernel.h includes it), alone: the full
// header also brings the other generators and their precomputed tables.
#include <curand_philox4x32_x.h>
#endif

namespace attnkit {

// What a caller sets: probability 0 disables dropout (and the kernels compiled for it do no
// RNG work). `offset` tells apart calls that share a seed (e.g. successive training steps
// or layers); forward and backward of one step must use the same seed and offset.
struct DropoutParams {
  float probability = 0.f;
  uint64_t seed = 0;
  uint32_t offset = 0;

  bool enabled() const { return probability > 0.f; }
};

inline void validate_dropout(const DropoutParams& dropout) {
  require(std::isfinite(dropout.probability) && dropout.probability >= 0.f && dropout.probability < 1.f,
          "dropout probability = ", dropout.probability, " must be in [0, 1)");
}

// The 16-bit threshold a uniform must reach to be kept (p · 65536, rounded half up).
ATTNKIT_HOST_DEVICE inline uint32_t dropout_threshold(float probability) {
  const uint32_t scaled = static_cast<uint32_t>(double(probability) * 65536.0 + 0.5);
  return scaled > 65535u ? 65535u : scaled;
}

// 1 / (1 − p) for the probability actually applied (threshold / 65536).
ATTNKIT_HOST_DEVICE inline float dropout_keep_scale(float probability) {
  return static_cast<float>(65536.0 / (65536.0 - dropout_threshold(probability)));
}

#if defined(__CUDACC__)

// Device side: one (batch, head)'s mask. Query and key indices are positions within the
// sequence (varlen: within the batch entry).
class DropoutMask {
 public:
  // `threshold` from dropout_threshold(); `stream` = batch · heads_q + head.
  ATTNKIT_DEVICE DropoutMask(uint64_t seed, uint32_t offset, uint32_t threshold, uint32_t stream)
      : key_{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)},
        offset_(offset),
        stream_(stream),
        threshold_(threshold) {}

  // The 128 bits of the group holding (query, key).
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE uint4 group_bits(int query, int key) const {
    const uint4 counter = make_uint4(static_cast<uint32_t>((key / 16) * 4 + (key % 8) / 2),
                                     static_cast<uint32_t>((query / 16) * 8 + query % 8), stream_, offset_);
    return curand_Philox4x32_10(counter, key_);
  }

  ATTNKIT_HOST_DEVICE static constexpr int slot(int query, int key) {
    return (query % 16 >= 8) * 4 + (key % 16 >= 8) * 2 + key % 2;
  }

  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE bool keep_slot(const uint4& bits, int slot) const {
    const uint32_t word = slot < 2 ? bits.x : slot < 4 ? bits.y : slot < 6 ? bits.z : bits.w;
    return ((word >> (16 * (slot % 2))) & 0xffffu) >= threshold_;
  }

  // One element on its own (tests, and kernels with no fragment structure).
  ATTNKIT_DEVICE bool keep(int query, int key) const { return keep_slot(group_bits(query, key), slot(query, key)); }

  // Visits every element of a lane's fp32 accumulator tile whose rows are queries and columns
  // keys (the forward's S): f(m, n, i, keep) for tile element v[m][n][i]. `query0` and `key0`
  // (the tile's first query and key) must be multiples of 16. One Philox call per 16 × 16
  // block: it covers the lane's 8 elements there.
  template <class Tile, class F>
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void for_each_rows_queries(int lane, int query0, int key0, F&& f) const {
    static_assert(Tile::kNTiles % 2 == 0, "a group spans 16 keys: two n-tiles");
    const int query_in_block = lane / 4;
    const int key_in_block = (lane % 4) * 2;
#pragma unroll
    for (int m = 0; m < Tile::kMTiles; ++m)
#pragma unroll
      for (int n = 0; n < Tile::kNTiles; n += 2) {
        const uint4 bits = group_bits(query0 + m * 16 + query_in_block, key0 + n * 8 + key_in_block);
#pragma unroll
        for (int half = 0; half < 2; ++half)  // n-tile n + half: keys + 8·half
#pragma unroll
          for (int i = 0; i < 4; ++i)  // rows + 8·(i / 2), key + i % 2
            f(m, n + half, i, keep_slot(bits, (i / 2) * 4 + half * 2 + i % 2));
      }
  }

  // The same for a tile whose rows are keys and columns queries (the backward's Sᵀ). A lane's
  // 8 elements of a 16 × 16 block fall into two groups (its two query columns 2t and 2t + 1
  // belong to different query pairs), of which it uses four elements each.
  template <class Tile, class F>
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void for_each_rows_keys(int lane, int key0, int query0, F&& f) const {
    static_assert(Tile::kNTiles % 2 == 0, "a group spans 16 queries: two n-tiles");
    const int key_in_block = lane / 4;
    const int query_in_block = (lane % 4) * 2;
#pragma unroll
    for (int m = 0; m < Tile::kMTiles; ++m)
#pragma unroll
      for (int n = 0; n < Tile::kNTiles; n += 2)
#pragma unroll
        for (int parity = 0; parity < 2; ++parity) {  // query column 2t + parity
          const uint4 bits = group_bits(query0 + n * 8 + query_in_block + parity, key0 + m * 16 + key_in_block);
#pragma unroll
          for (int half = 0; half < 2; ++half)  // n-tile n + half: queries + 8·half
#pragma unroll
            for (int key_half = 0; key_half < 2; ++key_half)  // rows + 8·key_half
              f(m, n + half, key_half * 2 + parity,
                keep_slot(bits, half * 4 + key_half * 2 + key_in_block % 2));
        }
  }

 private:
  uint2 key_;
  uint32_t offset_;
  uint32_t stream_;
  uint32_t threshold_;
};

#endif  // __CUDACC__

}  // namespace attnkit
