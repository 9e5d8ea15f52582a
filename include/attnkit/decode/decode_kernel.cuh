#pragma once
// Decode attention over a KV cache, assembled from attnkit's blocks.
//
// Grid: (split, KV head × row tile, batch). A CTA takes one tile of 16 packed query rows (the
// query heads of one KV head × the new tokens, gqa_rows.cuh) and one split of the sequence's
// keys (split_kv.cuh); its warps take that split's K/V blocks round-robin:
//
//   Q tile ← gathered rows of Q (rotated, when the problem has rotary)
//   for each of this warp's K/V blocks j (gathered through the page table, double-buffered)
//     S = Q Kⱼᵀ;  score_mod, mask;  online softmax;  O_w += P Vⱼ
//   merge the warps' (m_w, l_w, O_w) through shared memory (cross_warp_combine.cuh)
//   one split:  O (16-bit) and LSE straight to their rows
//   else:       O normalized over this split's keys (fp32) and its LSE to the partials,
//               merged afterwards by combine_splits_kernel

#include "../core/math.cuh"
#include "../mask/mask_score_tile.cuh"
#include "../mask/variant.cuh"
#include "../mma/row_reduce.cuh"
#include "../mma/warp_gemm.cuh"
#include "../softmax/online_softmax.cuh"
#include "../softmax/softmax_merge.cuh"
#include "../tile/gather_to_shared.cuh"
#include "decode_config.cuh"
#include "decode_problem.cuh"
#include "gqa_rows.cuh"
#include "rotary.cuh"
#include "split_kv.cuh"

namespace attnkit {

// What the launcher resolves once for every CTA.
struct DecodeParams {
  DecodeProblem problem;  // softmax_scale resolved
  GqaRows rows;
  FastDivisor page_size;
  int row_tiles = 1;       // 16-row tiles per KV head
  SplitPartials partials;  // with partials.splits > 1: where the parts go
};

// The keys sequence `batch` attends over: what was cached and what this call appended
// (logical positions, leftpad removed), never more than the cache holds.
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE int decode_cached_keys(const DecodeProblem& problem, int batch) {
  const int leftpad = problem.cache.leftpad != nullptr ? problem.cache.leftpad[batch] : 0;
  return problem.cache.seqlens[batch] - leftpad;
}

template <class Config, class Variant>
__global__ void __launch_bounds__(Config::kThreads)
    decode_kernel(const __grid_constant__ DecodeParams params, const Variant unbound_variant) {
  using Element = typename Config::Element;
  using QLayout = typename Config::QLayout;
  using KVLayout = typename Config::KVLayout;
  constexpr int kBlockN = Config::kBlockN;
  constexpr int kRows = Config::kRows;
  constexpr int kWarps = Config::kWarps;
  constexpr int kStages = Config::kStages;
  const DecodeProblem& problem = params.problem;
  const KVCache& cache = problem.cache;

  const int split = blockIdx.x;
  const int head_kv = blockIdx.y / params.row_tiles;
  const int row0 = (blockIdx.y % params.row_tiles) * kRows;
  const int batch = blockIdx.z;
  const int seqlen_q = problem.query_tokens(batch);
  const int valid_rows = min(kRows, params.rows.group() * seqlen_q - row0);
  if (valid_rows <= 0) return;  // varlen queries: this sequence has fewer tiles
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;

  extern __shared__ __align__(128) unsigned char shared_bytes[];
  Element* const q_tile = reinterpret_cast<Element*>(shared_bytes);
  unsigned char* const kv_bytes = shared_bytes + Config::kQBytes;
  auto k_stage = [&](int stage) {
    return reinterpret_cast<Element*>(kv_bytes + (warp * kStages + stage) * Config::kWarpStageBytes);
  };
  auto v_stage = [&](int stage) { return k_stage(stage) + KVLayout::kElements; };

  // This sequence's lengths; the variant as they make it (mask/variant.cuh, for_sequence).
  const int cached_keys = decode_cached_keys(problem, batch);
  const int seqlen_k = max(0, min(cached_keys + problem.seqlen_new,
                                  static_cast<int>(cache.capacity()) -
                                      (cache.leftpad != nullptr ? cache.leftpad[batch] : 0)));
  const Variant variant = variant_for_sequence(unbound_variant, seqlen_q, seqlen_k);
  const BandMask band = problem.band;

  // The keys this tile's tokens see: tokens grow with the row (token-major rows), and so do
  // both ends of a row's band.
  const int first_token = params.rows[row0].token;
  const int last_token = params.rows[row0 + valid_rows - 1].token;
  const int key_begin = band.row_first_key(first_token, seqlen_q, seqlen_k);
  const int key_end = band.row_end_key(last_token, seqlen_q, seqlen_k);
  // Keys every row keeps: a block inside them needs no element mask.
  const int all_rows_begin = band.row_first_key(last_token, seqlen_q, seqlen_k);
  const int all_rows_end = band.row_end_key(first_token, seqlen_q, seqlen_k);

  // This split's blocks of the tile's key range, then this warp's of those.
  const int first_block = key_begin / kBlockN;
  const int blocks = key_end > key_begin ? ceil_div(key_end, kBlockN) - first_block : 0;
  const int splits = params.partials.splits;
  const int blocks_per_split = ceil_div(blocks, splits);
  const int split_begin = first_block + min(blocks, split * blocks_per_split);
  const int split_end = first_block + min(blocks, (split + 1) * blocks_per_split);
  const int warp_blocks = split_end - split_begin > warp ? ceil_div(split_end - split_begin - warp, kWarps) : 0;
  auto block_of = [&](int i) { return split_begin + warp + i * kWarps; };

  const CacheRows cache_rows(cache, params.page_size, batch, head_kv);
  const Element* const k_cache = static_cast<const Element*>(cache.k.data);
  const Element* const v_cache = static_cast<const Element*>(cache.v.data);
  auto load_kv_block = [&](int block, int stage) {
    const int key0 = block * kBlockN;
    // One page lookup per row for K and V. Rows past the sequence read as zeros and are
    // masked; rows whose page is invalid read as zeros (kv_cache.cuh).
    gather_row_pairs_async_warp<KVLayout>(k_stage(stage), v_stage(stage), [&](int row) -> GatheredRowPair<Element> {
      const CacheSlot at = key0 + row < seqlen_k ? cache_rows.locate(key0 + row) : CacheSlot{-1, 0};
      if (!at.valid()) return {nullptr, nullptr};
      return {k_cache + cache_rows.k_offset(at, cache), v_cache + cache_rows.v_offset(at, cache)};
    }, k_cache, lane);
  };

  // Query rows of this tile, gathered by warp 0 while every warp starts its first blocks.
  const int head_q0 = head_kv * params.rows.group();
  const Element* const q_data = static_cast<const Element*>(problem.q.data);
  if (warp == 0) {
    gather_rows_async_warp<QLayout>(q_tile, [&](int row) -> const Element* {
      if (row >= valid_rows) return nullptr;
      const GqaRows::Row r = params.rows[row0 + row];
      return q_data + problem.query_offset(problem.q, batch, r.token, head_q0 + r.head_in_group);
    }, q_data, lane);
  }
  for (int i = 0; i < kStages - 1; ++i) {
    if (i < warp_blocks) load_kv_block(block_of(i), i);
    cp_async_commit();  // possibly empty: group i is block i (and, for i = 0, Q)
  }
  cp_async_wait<kStages - 2>();
  __syncthreads();  // Q from warp 0's copies
  if (problem.rotary.enabled()) {
    rotate_query_tile<QLayout, Config::kThreads>(q_tile, problem.rotary, params.rows, row0, valid_rows,
                                                 cached_keys, band.bounded(), threadIdx.x);
    __syncthreads();
  }

  const float scale = problem.softmax_scale;
  // With a score_mod the logits are scaled before the hook, so only log2(e) remains to apply.
  const float scale_log2 = Variant::has_score_mod ? kLog2e : scale * kLog2e;
  typename Config::OutputTile o;
  o.fill(0.f);
  OnlineSoftmax<Config::OutputTile::kThreadRows> softmax;
  softmax.reset();
  auto head_of = [&](const GqaRows::Row& r) { return head_q0 + r.head_in_group; };

  for (int i = 0; i < warp_blocks; ++i) {
    // Block i + kStages − 1 loads into the stage block i − 1 left (all lanes are past it).
    if (i + kStages - 1 < warp_blocks) load_kv_block(block_of(i + kStages - 1), (i + kStages - 1) % kStages);
    cp_async_commit();
    cp_async_wait<kStages - 1>();
    __syncwarp();  // block i from every lane's copies

    const int stage = i % kStages;
    const int key0 = block_of(i) * kBlockN;
    typename Config::ScoreTile s;
    s.fill(0.f);
    gemm_a_bt<Element, QLayout, KVLayout>(s, q_tile, 0, k_stage(stage), lane);
    if constexpr (Variant::has_score_mod) {
      s.for_each(lane, [&](int row, int col, float& score) {
        const GqaRows::Row r = params.rows[row0 + min(row, valid_rows - 1)];
        score = variant.score_mod(score * scale, batch, head_of(r), r.token, key0 + col);
      });
    }
    if (Variant::has_mask_mod || key0 < all_rows_begin || key0 + kBlockN > all_rows_end) {
      mask_score_rows(s, band, variant, batch, [&](int row) {
        const GqaRows::Row r = params.rows[row0 + min(row, valid_rows - 1)];
        return ScoreRow{r.token, head_of(r)};
      }, key0, seqlen_q, seqlen_k, lane);
    }
    float o_rescale[Config::OutputTile::kThreadRows];
    softmax.absorb(s, scale_log2, o_rescale, AccumulatorRowReduce{});
    o.scale_rows(o_rescale);
    gemm_regs_b<Element, KVLayout>(o, to_operand_a<Element>(s), v_stage(stage), lane);
    __syncwarp();  // every lane is done with this stage before it is refilled
  }
  cp_async_wait<0>();

  // Merge the warps' partial softmaxes; the K/V stages become the merge's storage.
  __syncthreads();
  const typename Config::Combine combine(reinterpret_cast<float*>(kv_bytes));
  float* const row_normalizer = reinterpret_cast<float*>(kv_bytes + Config::Combine::kBytes);
  float* const row_lse = row_normalizer + kRows;
  combine.publish(warp, lane, softmax, o);
  __syncthreads();
  if (threadIdx.x < kRows) {
    const SoftmaxStats stats = combine.merge_row(threadIdx.x, scale_log2);
    row_normalizer[threadIdx.x] = stats.sum > 0.f ? 1.f / stats.sum : 0.f;
    row_lse[threadIdx.x] = log_sum_exp(stats, scale_log2);
  }
  __syncthreads();

  const bool split_output = splits > 1;
  constexpr int kQuads = Config::kHeadDim / 4;
  for (int item = threadIdx.x; item < valid_rows * kQuads; item += Config::kThreads) {
    const int row = item / kQuads;
    const int col = (item % kQuads) * 4;
    const GqaRows::Row r = params.rows[row0 + row];
    const int head = head_of(r);
    float4 value = combine.sum_columns(row, col);
    const float normalizer = row_normalizer[row];
    value = make_float4(value.x * normalizer, value.y * normalizer, value.z * normalizer, value.w * normalizer);
    if (split_output) {
      const int64_t out_row = problem.query_token_index(batch, r.token) * problem.heads_q + head;
      *reinterpret_cast<float4*>(params.partials.output_row(split, out_row) + col) = value;
      if (col == 0) params.partials.lse_of(split, out_row) = row_lse[row];
    } else {
      Element* const out =
          static_cast<Element*>(problem.o.data) + problem.query_offset(problem.o, batch, r.token, head) + col;
      *reinterpret_cast<uint2*>(out) = make_uint2(pack2<Element>(value.x, value.y), pack2<Element>(value.z, value.w));
      if (col == 0 && problem.lse != nullptr) problem.lse[problem.lse_offset(batch, r.token, head)] = row_lse[row];
    }
  }
}

// Merges the splits' parts of every output row: one warp a row.
template <class Element, int HeadDim>
__global__ void combine_splits_kernel(const __grid_constant__ DecodeProblem problem, const SplitPartials partials) {
  const int64_t row = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  if (row >= partials.rows) return;
  // row = query_token_index · heads_q + head; varlen queries index the packed tokens directly
  // (batch 0, token = the packed index), and the rows past the last sequence's hold nothing.
  const int head = static_cast<int>(row % problem.heads_q);
  const int64_t packed_token = row / problem.heads_q;
  const bool varlen = problem.cu_seqlens_q != nullptr;
  if (varlen && packed_token >= problem.cu_seqlens_q[problem.batch]) return;
  const int batch = varlen ? 0 : static_cast<int>(packed_token / problem.seqlen_q);
  const int token = static_cast<int>(varlen ? packed_token : packed_token % problem.seqlen_q);
  Element* const out = static_cast<Element*>(problem.o.data) + problem.query_offset(problem.o, batch, token, head);
  float* const lse = problem.lse != nullptr ? problem.lse + problem.lse_offset(batch, token, head) : nullptr;
  combine_split_row<HeadDim>(partials, row, out, lse, threadIdx.x % 32);
}

}  // namespace attnkit
