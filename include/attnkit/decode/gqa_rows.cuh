#pragma once
// GQA packing for decoding: the query heads that share one KV head, times the new tokens,
// become the rows of one tile, so each K/V row read from memory serves all of them (once per
// KV head, not once per query head).
//
//   row r = token · group + head_in_group,   group = heads_q / heads_kv
//
// Token-major: a tile holds whole tokens, so with many new tokens (speculative decoding,
// chunked prefill) a tile's causal key range is that of its own tokens only; and the rows of
// one token are adjacent query heads, adjacent in a (batch, seqlen, heads, dim) tensor.

#include "../core/fast_divisor.cuh"

namespace attnkit {

class GqaRows {
 public:
  GqaRows() = default;
  GqaRows(int heads_q, int heads_kv, int tokens)
      : group_(heads_q / heads_kv), tokens_(tokens), group_divisor_(heads_q / heads_kv) {}

  ATTNKIT_HOST_DEVICE int group() const { return group_; }
  ATTNKIT_HOST_DEVICE int tokens() const { return tokens_; }
  ATTNKIT_HOST_DEVICE int count() const { return group_ * tokens_; }

  struct Row {
    int token;          // new token, 0 .. tokens − 1
    int head_in_group;  // query head head_kv · group + head_in_group
  };
  ATTNKIT_HOST_DEVICE ATTNKIT_FORCEINLINE Row operator[](int row) const {
    const int token = group_divisor_.quotient(row);
    return {token, group_divisor_.remainder(row, token)};
  }

 private:
  int group_ = 1;
  int tokens_ = 1;
  FastDivisor group_divisor_;
};

}  // namespace attnkit
