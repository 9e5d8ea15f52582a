#pragma once
// The decode correctness matrix, instantiated once per head dim (one translation unit each):
// paged caches with page sizes 1, 16, 48, 64 and 256 (shuffled, and with a prefix shared
// between sequences), contiguous caches with and without cache_batch_idx, cached lengths 0, 1
// and not multiples of a page or a block, left padding, 1, 4 and 16 new tokens appended, rotary
// in both forms, GQA 4:1 and 16:1, MQA and MHA, causal and sliding windows, and forced split
// counts, varlen queries, fp16 and bf16.

#include <vector>

#include "attnkit/decode/decode.cuh"
#include "support/decode_check.cuh"

namespace attnkit::testing {

template <class Element, int HeadDim, class Variant = NoVariant>
DecodeLauncher decode_launcher(const Variant& variant = {}) {
  return [variant](const DecodeProblem& problem, int splits) {
    DecodeOptions options;
    options.splits = splits;
    decode<Element, HeadDim>(problem, variant, options);
  };
}

inline std::vector<DecodeCase> decode_matrix() {
  std::vector<DecodeCase> cases;
  uint64_t seed = 500;
  auto add = [&](DecodeCase c) {
    c.seed = seed += 10;
    cases.push_back(c);
  };
  const BandMask causal = BandMask::causal();
  DecodeCase c;
  // Plain decoding, lengths 0 and 1 among them, and every cache form.
  c.cached = {100, 1, 0, 257, 33};
  for (CacheKind kind : {CacheKind::paged, CacheKind::contiguous, CacheKind::contiguous_indexed}) {
    c.cache = kind;
    add(c);
  }
  // Page sizes, each with appended tokens and a causal mask.
  for (int page : {1, 16, 48, 64, 256}) {
    DecodeCase p;
    p.page_size = page;
    p.cached = {300, 5, 130};
    p.seqlen_q = 4;
    p.append = true;
    p.band = causal;
    add(p);
  }
  // A prefix shared between sequences, rotary (half-split) on the appended keys and queries.
  DecodeCase shared;
  shared.cache = CacheKind::paged_shared_prefix;
  shared.page_size = 64;
  shared.cached = {300, 200, 129};
  shared.seqlen_q = 4;
  shared.append = true;
  shared.rotary = RotaryKind::half_split;
  shared.band = causal;
  add(shared);
  // Interleaved rotary over half the features, 16 new tokens (speculative decoding), MQA.
  DecodeCase spec;
  spec.heads_q = 8;
  spec.heads_kv = 1;
  spec.page_size = 256;
  spec.cached = {700, 1500};
  spec.seqlen_q = 16;
  spec.append = true;
  spec.rotary = RotaryKind::interleaved;
  spec.rotary_dim = 32;
  spec.band = causal;
  add(spec);
  // Rotary without a mask: every query at the cache's length.
  spec.band = BandMask::none();
  spec.rotary = RotaryKind::half_split;
  add(spec);
  // Left padding, a page size that is not a power of two.
  DecodeCase padded;
  padded.page_size = 48;
  padded.cached = {100, 64, 90};
  padded.leftpad = {3, 0, 50};
  padded.append = true;
  add(padded);
  padded.cache = CacheKind::contiguous_indexed;
  add(padded);
  // A sliding window; GQA 16:1 with 4 tokens (4 row tiles); MHA.
  DecodeCase window;
  window.cache = CacheKind::contiguous_indexed;
  window.seqlen_q = 4;
  window.cached = {500, 90};
  window.band = BandMask::window(32, 0);
  add(window);
  DecodeCase wide;
  wide.heads_q = 32;
  wide.heads_kv = 2;
  wide.seqlen_q = 4;
  wide.cached = {400, 77};
  wide.band = causal;
  add(wide);
  DecodeCase mha;
  mha.heads_q = mha.heads_kv = 4;
  mha.cached = {1000};
  add(mha);
  // Every forced split count gives the answer within the rule, including more splits than blocks.
  for (int splits : {1, 2, 3, 7, 64}) {
    DecodeCase s;
    s.cached = {2000, 10, 517};
    s.seqlen_q = 4;
    s.append = true;
    s.band = causal;
    s.splits = splits;
    add(s);
  }
  // Varlen queries (paged prefill of uneven chunks): a sequence with no queries, one with one
  // token, chunks not a multiple of the row tile; causal and windowed; one part and several.
  for (int splits : {1, 3}) {
    DecodeCase chunks;
    chunks.page_size = 16;
    chunks.cached = {300, 40, 129, 64};
    chunks.varlen_q = {5, 0, 33, 1};
    chunks.seqlen_q = 33;
    chunks.band = causal;
    chunks.splits = splits;
    add(chunks);
    chunks.band = BandMask::window(20, 0);
    add(chunks);
  }
  return cases;
}

template <int HeadDim>
void run_decode_matrix() {
  for (const DecodeCase& c : decode_matrix()) {
    check_decode<bfloat16_t>(HeadDim, c, decode_launcher<bfloat16_t, HeadDim>());
    check_decode<half_t>(HeadDim, c, decode_launcher<half_t, HeadDim>());
  }
}

}  // namespace attnkit::testing
