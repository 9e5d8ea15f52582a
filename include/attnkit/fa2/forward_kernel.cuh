#pragma once
// FlashAttention-2 forward (Dao, 2023), assembled from attnkit's blocks.
//
// Grid: (query block, head, batch), the longest query blocks first. Each CTA keeps its Q tile
// in shared memory and walks the K/V blocks its rows visit (key_block_walk.cuh): densely, every
// block the band lets them see, from the last one down (the masked blocks at the diagonal and
// the sequence end come first, the full ones after); block-sparse, the blocks a block mask
// lists, partial ones first.
// Split-Q: each warp owns kWarpRows query rows, so the softmax statistics never leave the
// warp. The output accumulator stays unnormalized until the end; only LSE is saved.
//
//   for each K/V block j (double-buffered: block j-1 loads while j is computed; see KVPipeline)
//     S   = Q Kⱼᵀ                      (warp_gemm, fp32 accumulators)
//     S   = score_mod(S), mask          (variant hooks; masks only on partial tiles)
//     P   = exp2(S·c − m·c); O *= exp2(Δm·c); l updated          (online softmax)
//     P  ∘= Z                           (dropout mask, when compiled with Dropout)
//     O  += P Vⱼ                        (P reused from registers as the A operand)
//   O /= l (and · 1/(1 − p) with dropout);  LSE = m + log l

#include <type_traits>

#include "../attention/key_block_walk.cuh"
#include "../attention/sequence.cuh"
#include "../core/math.cuh"
#include "../mask/attention_mask.cuh"
#include "../mma/accumulator_store.cuh"
#include "../mma/row_reduce.cuh"
#include "../mma/warp_gemm.cuh"
#include "../softmax/dropout.cuh"
#include "../softmax/online_softmax.cuh"
#include "../tile/global_to_shared.cuh"
#include "../tile/shared_to_global.cuh"
#include "forward_config.cuh"

namespace attnkit::fa2 {

// `problem.softmax_scale` must already be resolved (> 0): the launcher does it. `Dropout`
// false compiles out every trace of the RNG; true applies problem.dropout. `KeyBlocks` says
// which K/V blocks each query block visits (key_block_walk.cuh): the band's (dense), or a
// block mask's.
template <class Config, class Variant, bool Dropout = false, class KeyBlocks = BandWalk>
__global__ void __launch_bounds__(Config::kThreads)
    forward_kernel(const __grid_constant__ AttentionProblem problem, const Variant unbound_variant,
                   const KeyBlocks key_blocks) {
  using Element = typename Config::Element;
  using QLayout = typename Config::QLayout;
  using KVLayout = typename Config::KVLayout;
  constexpr int kBlockM = Config::kBlockM;
  constexpr int kBlockN = Config::kBlockN;

  extern __shared__ __align__(128) unsigned char shared_bytes[];
  Element* const q_tile = reinterpret_cast<Element*>(shared_bytes);
  Element* const kv_tiles = q_tile + Config::kQElements;  // stage s: K at 2s, V at 2s + 1
  auto k_tile = [&](int stage) { return kv_tiles + (2 * stage) * Config::kKVElements; };
  auto v_tile = [&](int stage) { return kv_tiles + (2 * stage + 1) * Config::kKVElements; };

  const int m_block = gridDim.x - 1 - blockIdx.x;
  const int head = blockIdx.y;
  const int batch = blockIdx.z;
  const SequenceSpan span = locate_sequence(problem, batch);
  const int seqlen_q = span.seqlen_q;
  const int seqlen_k = span.seqlen_k;
  const int q_begin = m_block * kBlockM;
  if (q_begin >= seqlen_q) return;  // varlen: this entry is shorter than the longest
  const int q_end = min(q_begin + kBlockM, seqlen_q);
  // The variant as this entry's own lengths make it (mask/variant.cuh, for_sequence).
  const Variant variant = variant_for_sequence(unbound_variant, seqlen_q, seqlen_k);

  const bool varlen = problem.cu_seqlens_q != nullptr;
  const int head_kv = head / (problem.heads_q / problem.heads_kv);
  const Element* const q_global = sequence_start<const Element>(problem.q, span.q_row_offset, batch, head, varlen) +
                                  q_begin * problem.q.row_stride;
  const Element* const k_global = sequence_start<const Element>(problem.k, span.k_row_offset, batch, head_kv, varlen);
  const Element* const v_global = sequence_start<const Element>(problem.v, span.k_row_offset, batch, head_kv, varlen);

  // The K/V blocks these rows visit; tiles outside the walk are never loaded.
  const BandMask band = problem.band;
  const auto walk = key_blocks.template walk<kBlockN>(band, batch, head, q_begin, q_end, seqlen_q, seqlen_k);
  const int n_blocks = walk.size();

  const int thread = threadIdx.x;
  const int lane = thread % 32;
  const int warp_row0 = (thread / 32) * Config::kWarpRows;

  auto load_kv_block = [&](int n_block, int stage) {
    const int key0 = n_block * kBlockN;
    load_tile_async<KVLayout, Config::kThreads>(k_tile(stage), k_global + key0 * problem.k.row_stride,
                                                problem.k.row_stride, seqlen_k - key0, thread);
    load_tile_async<KVLayout, Config::kThreads>(v_tile(stage), v_global + key0 * problem.v.row_stride,
                                                problem.v.row_stride, seqlen_k - key0, thread);
  };

  load_tile_async<QLayout, Config::kThreads>(q_tile, q_global, problem.q.row_stride, seqlen_q - q_begin, thread);
  if (n_blocks > 0) load_kv_block(walk.block(0), 0);
  cp_async_commit();

  typename Config::OutputTile o;
  o.fill(0.f);
  OnlineSoftmax<Config::OutputTile::kThreadRows> softmax;
  softmax.reset();
  const float scale = problem.softmax_scale;
  // With a score_mod the logits are scaled before the hook, so only log2(e) remains to apply.
  const float scale_log2 = Variant::has_score_mod ? kLog2e : scale * kLog2e;

  const int q_row0 = q_begin + warp_row0;
  const DropoutMask dropout(problem.dropout.seed, problem.dropout.offset,
                            dropout_threshold(problem.dropout.probability),
                            static_cast<uint32_t>(batch * problem.heads_q + head));
  // Drops the scores the band and the variant's mask_mod exclude (partial tiles only). The
  // band keeps an interval of keys per row: two compares per element.
  auto apply_mask = [&](typename Config::ScoreTile& s, int k_begin) {
#pragma unroll
    for (int r = 0; r < Config::ScoreTile::kThreadRows; ++r) {
      const int q = q_row0 + Config::ScoreTile::tile_row(lane, r);
      const int key_first = band.row_first_key(q, seqlen_q, seqlen_k) - k_begin;
      const int key_end = band.row_end_key(q, seqlen_q, seqlen_k) - k_begin;
#pragma unroll
      for (int c = 0; c < Config::ScoreTile::kThreadCols; ++c) {
        const int col = Config::ScoreTile::tile_col(lane, c);
        bool keep = col >= key_first && col < key_end;
        if constexpr (Variant::has_mask_mod) keep = keep && variant.mask_mod(batch, head, q, k_begin + col);
        if (!keep) s.at(r, c) = negative_infinity();
      }
    }
  };

  // S = Q Kᵀ, score_mod, mask, online softmax, O += P V for one K/V block. `masked` is a bool
  // decided at run time, or std::true_type / std::false_type to compile one copy per case.
  auto process_block = [&](int stage, int k_begin, auto masked) {
    typename Config::ScoreTile s;
    s.fill(0.f);
    gemm_a_bt<Element, QLayout, KVLayout>(s, q_tile, warp_row0, k_tile(stage), lane);

    if constexpr (Variant::has_score_mod) {
      s.for_each(lane, [&](int row, int col, float& score) {
        score = variant.score_mod(score * scale, batch, head, q_row0 + row, k_begin + col);
      });
    }
    if constexpr (std::is_same_v<decltype(masked), bool>) {
      if (masked) apply_mask(s, k_begin);
    } else if constexpr (decltype(masked)::value) {
      apply_mask(s, k_begin);
    }

    float o_rescale[Config::OutputTile::kThreadRows];
    softmax.absorb(s, scale_log2, o_rescale, AccumulatorRowReduce{});
    // Once the row maxima settle (most blocks of a long row) every factor is exactly 1:
    // skip the multiply of the whole O accumulator when that holds for the entire warp.
    bool rescale_needed = false;
#pragma unroll
    for (int r = 0; r < Config::OutputTile::kThreadRows; ++r) rescale_needed |= o_rescale[r] != 1.f;
    if (__any_sync(0xffffffffu, rescale_needed)) o.scale_rows(o_rescale);
    // Dropout acts on P after its row sum is taken: LSE and the normalizer are the undropped
    // softmax's, the 1/(1 − p) is folded into the final normalization.
    if constexpr (Dropout) {
      dropout.for_each_rows_queries<typename Config::ScoreTile>(lane, q_row0, k_begin, [&](int m, int n, int i, bool keep) {
        if (!keep) s.v[m][n][i] = 0.f;
      });
    }
    gemm_regs_b<Element, KVLayout>(o, to_operand_a<Element>(s), v_tile(stage), lane);
  };

  for (int i = 0; i < n_blocks; ++i) {
    const int n_block = walk.block(i);
    const int stage = i % Config::kStages;
    if constexpr (Config::kPipeline == KVPipeline::one_barrier) {
      // One barrier per block does both jobs: block i (and Q) has landed from every thread's
      // copies, and every warp is done with block i - 1, whose stage the next copy overwrites.
      cp_async_wait<0>();
      __syncthreads();
      if (i + 1 < n_blocks) {
        load_kv_block(walk.next(n_block, i), (i + 1) % Config::kStages);
        cp_async_commit();
      }
    } else {
      // The stage of block i + 1 was freed by the barrier that closed iteration i - 1.
      if (i + 1 < n_blocks) load_kv_block(walk.next(n_block, i), (i + 1) % Config::kStages);
      cp_async_commit();  // possibly empty: keeps "all but the newest group" meaning "block i"
      cp_async_wait<1>();
      __syncthreads();
    }

    const int k_begin = n_block * kBlockN;
    const TileClass tile_class = walk.classify(i, band, variant, batch, head,
                                               TileBounds{q_begin, q_begin + kBlockM, k_begin, k_begin + kBlockN},
                                               seqlen_q, seqlen_k);
    if constexpr (Config::kSeparateMaskedPath) {
      if (tile_class == TileClass::full) {
        process_block(stage, k_begin, std::false_type{});
      } else if (tile_class == TileClass::partial) {
        process_block(stage, k_begin, std::true_type{});
      }
    } else if (tile_class != TileClass::skip) {
      process_block(stage, k_begin, tile_class == TileClass::partial);
    }
    if constexpr (Config::kPipeline == KVPipeline::early_prefetch) __syncthreads();
  }
  // When no K/V block was visible the Q copies (issued by all threads, into every warp's rows)
  // may still be landing where O is about to be staged.
  if (Config::kPipeline == KVPipeline::early_prefetch || n_blocks == 0) {
    cp_async_wait<0>();
    __syncthreads();
  }

  float o_normalizer[Config::OutputTile::kThreadRows];
  float lse[Config::OutputTile::kThreadRows];
  softmax.finalize(scale_log2, AccumulatorRowReduce{}, o_normalizer, lse);
  if constexpr (Dropout) {
    const float keep_scale = dropout_keep_scale(problem.dropout.probability);
#pragma unroll
    for (int r = 0; r < Config::OutputTile::kThreadRows; ++r) o_normalizer[r] *= keep_scale;
  }
  o.scale_rows(o_normalizer);

  // O leaves through this warp's own rows of the Q tile (only this warp ever read them), then
  // as 16-byte rows to global memory.
  store_accumulator<Element, QLayout>(o, q_tile, warp_row0, lane);
  __syncwarp();
  Element* const o_global =
      sequence_start<Element>(problem.o, span.q_row_offset, batch, head, varlen) + q_begin * problem.o.row_stride;
  store_rows<QLayout, Config::kWarpRows, 32>(q_tile, o_global, problem.o.row_stride, warp_row0, q_end - q_begin,
                                             lane);

  if (problem.lse != nullptr && layout::lane_in_group(lane) == 0) {
    float* const lse_global = lse_start(problem, span, batch, head) + q_begin;
#pragma unroll
    for (int r = 0; r < Config::OutputTile::kThreadRows; ++r) {
      const int row = warp_row0 + Config::OutputTile::tile_row(lane, r);
      if (q_begin + row < q_end) lse_global[row] = lse[r];
    }
  }
}

}  // namespace attnkit::fa2
