#pragma once
// One key block's pass of the attention backward: the inner loop the FlashAttention-1
// (Dao et al., 2022, Algorithm 4) and FlashAttention-2 (Dao, 2023, Algorithm 2) backward passes
// share. They differ in the schedule around it: FA2 gives each key block its own CTA
// (fa2/backward_kernel.cuh), FA1 walks a head's key blocks one after the other in one CTA
// (fa1/backward_kernel.cuh).
//
// The pass loads its K and V block once and walks every (query head of the group, query
// block) that can see it (query_block_walk.cuh: those the band lets through, or those a block
// mask lists), recomputing the probabilities from Q, K and the forward's statistics instead of
// storing them:
//
//   for each query block i (double-buffered Q, dO, LSE, D)
//     Sᵀ  = K Qᵢᵀ,  dPᵀ = V dOᵢᵀ                  (per warp: its key rows × query columns)
//     Pᵀ  = exp2(score_mod(Sᵀ·scale)·log2e − LSE·log2e)   (masks only on partial tiles)
//     dSᵀ = Pᵀ ∘ (dPᵀ ∘ Zᵀ/(1−p) − D) ∘ score_mod'   (Z: the dropout mask, all ones without)
//     dV += (Pᵀ ∘ Zᵀ) dOᵢ,  dK += dSᵀ Qᵢ           (Pᵀ, dSᵀ from registers, or from shared
//                                                   memory when the head dim is split)
//     dQᵢ += dS K                                  (dSᵀ through shared memory, added to the
//                                                   fp32 accumulator as DqAccumulation says)
//   dK ·= scale;  dV ·= 1/(1−p);  store dK, dV
//
// D = rowsum(dO ∘ O) and LSE·log2(e) come from a preprocess kernel, and dQ is scaled and
// rounded by the postprocess kernel (backward/pre_post.cuh).
//
// Ordered dQ (the deterministic mode): the key blocks that see a query block add their dQ
// parts in key-block order (tile/turn_semaphore.cuh; a key block's turn is the number of key
// blocks before it that visit that query block, which the walk knows), and walk the query
// blocks from the last one down. With causal masking key block n sees query blocks from about
// n·kBlockN on, so in ascending order a block would always arrive before its predecessors and
// wait for them; descending, all the key blocks of a query block reach it at the same step and
// only queue for the add.

#include <type_traits>

#include "../attention/backward_problem.cuh"
#include "../attention/query_block_walk.cuh"
#include "../attention/sequence.cuh"
#include "../backward/pre_post.cuh"
#include "../backward/scratch.cuh"
#include "../core/math.cuh"
#include "../mask/attention_mask.cuh"
#include "../mma/accumulator_store.cuh"
#include "../mma/warp_gemm.cuh"
#include "../softmax/dropout.cuh"
#include "../tile/atomic_accumulate.cuh"
#include "../tile/global_to_shared.cuh"
#include "../tile/shared_to_global.cuh"
#include "../tile/turn_semaphore.cuh"
#include "backward_config.cuh"

namespace attnkit::fa2 {


// How a key block's part of dQ reaches the fp32 accumulator:
//   atomic   fp32 reductions, in whatever order the CTAs get there (FA2's default)
//   ordered  the same reductions, taken in key-block order (FA2's deterministic mode)
//   owned    a plain read-add-write: one CTA runs every key block that adds to these rows,
//            one after the other (FA1), and the same thread owns the same dQ elements in each
enum class DqAccumulation { atomic, ordered, owned };

// Key block `n_block` of KV head `head_kv` of batch entry `batch`; `shared_bytes` holds
// Config::kSmemBytes. `problem.softmax_scale` must be resolved (> 0). `Dropout`: false
// compiles out the RNG. `query_blocks` says which query blocks the key block visits
// (query_block_walk.cuh): the band's (dense), or a block mask's. Ends with the block's dK and
// dV stored (zero when it visits none); K and V's shared tiles are still being read by the
// stores of other warps, so a caller that runs another pass on the same shared memory must
// synchronize the CTA first.
template <class Config, class Variant, bool Dropout, DqAccumulation Dq, class QueryBlocks = BandQueryWalk>
ATTNKIT_DEVICE ATTNKIT_FORCEINLINE void backward_key_block(const AttentionProblem& problem,
                                                           const BackwardGradients& grads,
                                                           const BackwardScratch& scratch, const Variant& unbound_variant,
                                                           unsigned char* shared_bytes, int n_block, int head_kv,
                                                           int batch, const QueryBlocks& query_blocks = {}) {
  constexpr bool kOrdered = Dq == DqAccumulation::ordered;
  using Element = typename Config::Element;
  using QLayout = typename Config::QLayout;
  using KVLayout = typename Config::KVLayout;
  using DSLayout = typename Config::DSLayout;
  using ScoreTile = typename Config::ScoreTile;
  constexpr int kBlockM = Config::kBlockM;
  constexpr int kBlockN = Config::kBlockN;
  constexpr int kHeadDim = Config::kHeadDim;

  Element* const k_tile = reinterpret_cast<Element*>(shared_bytes);
  Element* const v_tile = k_tile + Config::kKVElements;
  Element* const q_tiles = v_tile + Config::kKVElements;  // stage s: Q at 2s, dO at 2s + 1
  Element* const ds_tile = q_tiles + Config::kStages * 2 * Config::kQElements;
  Element* const pt_tile = ds_tile + Config::kDSElements;  // Pᵀ, with column groups only
  // stage s: LSE·log2(e) at 2s, D at 2s + 1
  float* const row_stats = reinterpret_cast<float*>(shared_bytes + Config::kElementBytes);
  auto q_tile = [&](int stage) { return q_tiles + (2 * stage) * Config::kQElements; };
  auto do_tile = [&](int stage) { return q_tiles + (2 * stage + 1) * Config::kQElements; };
  auto lse_row = [&](int stage) { return row_stats + (2 * stage) * kBlockM; };
  auto d_row = [&](int stage) { return row_stats + (2 * stage + 1) * kBlockM; };

  const SequenceSpan span = locate_sequence(problem, batch);
  const int seqlen_q = span.seqlen_q;
  const int seqlen_k = span.seqlen_k;
  const int k_begin = n_block * kBlockN;
  if (k_begin >= seqlen_k) return;  // varlen: this entry is shorter than the longest
  // The variant as this entry's own lengths make it (mask/variant.cuh, for_sequence).
  const Variant variant = variant_for_sequence(unbound_variant, seqlen_q, seqlen_k);

  const bool varlen = problem.cu_seqlens_q != nullptr;
  const int group = problem.heads_q / problem.heads_kv;
  const int thread = threadIdx.x;
  const int lane = thread % 32;
  const int warp = thread / 32;
  const int warp_row0 = (warp % Config::kKeyGroups) * Config::kWarpRows;  // key rows of Sᵀ, dK, dV
  const int q_col0 = (warp / Config::kKeyGroups) * Config::kQueryCols;    // query columns of Sᵀ
  const int grad_col0 = (warp / Config::kKeyGroups) * Config::kGradCols;  // head-dim columns of dK, dV
  const float scale = problem.softmax_scale;
  // Without a score_mod the logits enter the exponent as S·scale·log2(e): one FFMA with LSE.
  const float score_to_log2 = Variant::has_score_mod ? kLog2e : scale * kLog2e;

  load_tile_async<KVLayout, Config::kThreads>(
      k_tile, sequence_start<const Element>(problem.k, span.k_row_offset, batch, head_kv, varlen) +
                  k_begin * problem.k.row_stride,
      problem.k.row_stride, seqlen_k - k_begin, thread);
  load_tile_async<KVLayout, Config::kThreads>(
      v_tile, sequence_start<const Element>(problem.v, span.k_row_offset, batch, head_kv, varlen) +
                  k_begin * problem.v.row_stride,
      problem.v.row_stride, seqlen_k - k_begin, thread);

  // The (query head, query block) steps that see these keys; the ordered dQ walks them last
  // one first.
  const BandMask band = problem.band;
  const auto walk = query_blocks.template walk<kBlockM, kBlockN, kOrdered>(band, batch, head_kv, group, n_block,
                                                                            seqlen_q, seqlen_k);
  using WalkPosition = typename decltype(walk)::Position;
  const int steps = walk.size();
  const int64_t scratch_rows = int64_t(problem.batch) * problem.seqlen_q;

  auto position_head = [&](const WalkPosition& position) { return head_kv * group + walk.head_offset(position); };
  auto position_q_begin = [&](const WalkPosition& position) { return walk.block(position) * kBlockM; };

  auto load_query_block = [&](const WalkPosition& position, int stage) {
    const int head = position_head(position);
    const int q_begin = position_q_begin(position);
    const int valid_rows = seqlen_q - q_begin;
    load_tile_async<QLayout, Config::kThreads>(
        q_tile(stage),
        sequence_start<const Element>(problem.q, span.q_row_offset, batch, head, varlen) + q_begin * problem.q.row_stride,
        problem.q.row_stride, valid_rows, thread);
    load_tile_async<QLayout, Config::kThreads>(
        do_tile(stage),
        sequence_start<const Element>(grads.d_o, span.q_row_offset, batch, head, varlen) + q_begin * grads.d_o.row_stride,
        grads.d_o.row_stride, valid_rows, thread);
    // LSE and D rows: 4-byte copies (their rows need not be 16-byte aligned); rows past the
    // sequence read as 0, which with the zero-filled Q and dO rows gives them zero gradients.
    const int64_t row0 = head * scratch_rows + scratch_row(problem, span, batch, q_begin);
    for (int row = thread; row < kBlockM; row += Config::kThreads) {
      const bool valid = row < valid_rows;
      cp_async_4(lse_row(stage) + row, scratch.lse_log2_rows + (valid ? row0 + row : row0), valid);
      cp_async_4(d_row(stage) + row, scratch.d_rows + (valid ? row0 + row : row0), valid);
    }
  };

  WalkPosition current = walk.start(), next = current;  // the block computed on, the block being loaded
  if (steps > 0) load_query_block(next, 0);
  cp_async_commit();

  typename Config::GradTile dk, dv;
  dk.fill(0.f);
  dv.fill(0.f);
  const int dq_row0 = (warp % Config::kDqRowGroups) * 16;
  const int dq_col0 = (warp / Config::kDqRowGroups) * Config::kDqCols;
  const int64_t dq_row_stride = int64_t(problem.heads_q) * kHeadDim;

  // Deterministic dQ: the key blocks that see a query block take turns in increasing order,
  // this one's turn as the walk counts it.
  auto dq_turn_counter = [&](int head, int q_begin) {
    return scratch.dq_turns + (int64_t(batch) * problem.heads_q + head) * turn_counters_per_head(problem.seqlen_q) +
           q_begin / kBlockM;
  };
  auto dq_turn = [&](int head, int q_begin) { return walk.turn(band, head, q_begin, seqlen_q, seqlen_k); };

  // One query block: `masked` is std::true_type on tiles the band or the variant cuts, where
  // every element is tested, and std::false_type on full tiles, which test nothing.
  auto process_block = [&](int stage, int head, int q_begin, auto masked) {
    ScoreTile s, dp;
    s.fill(0.f);
    dp.fill(0.f);
    gemm_a_bt<Element, KVLayout, QLayout>(s, k_tile, warp_row0, q_tile(stage), lane, q_col0);
    gemm_a_bt<Element, KVLayout, QLayout>(dp, v_tile, warp_row0, do_tile(stage), lane, q_col0);

    // The forward's dropout decisions for these elements, regenerated.
    [[maybe_unused]] bool kept[ScoreTile::kMTiles][ScoreTile::kNTiles][4];
    if constexpr (Dropout) {
      const DropoutMask dropout(problem.dropout.seed, problem.dropout.offset,
                                dropout_threshold(problem.dropout.probability),
                                static_cast<uint32_t>(batch * problem.heads_q + head));
      dropout.for_each_rows_keys<ScoreTile>(lane, k_begin + warp_row0, q_begin + q_col0,
                                            [&](int m, int n, int i, bool keep) { kept[m][n][i] = keep; });
    }
    [[maybe_unused]] const float dropout_scale = Dropout ? dropout_keep_scale(problem.dropout.probability) : 1.f;

    // Pᵀ and dSᵀ element by element; this lane's rows are keys, its columns queries, which
    // come in adjacent pairs (2t, 2t + 1): their LSE and D are read as one float2 each.
    const float* lse_log2 = lse_row(stage);
    const float* d = d_row(stage);
#pragma unroll
    for (int r = 0; r < ScoreTile::kThreadRows; ++r) {
      const int key = k_begin + warp_row0 + ScoreTile::tile_row(lane, r);
      int query_first = 0, query_end = 0;
      if constexpr (decltype(masked)::value) {  // the band keeps an interval of queries per key
        query_first = band.first_query(key, seqlen_q, seqlen_k) - q_begin;
        query_end = key < seqlen_k ? band.end_query(key + 1, seqlen_q, seqlen_k) - q_begin : 0;
      }
#pragma unroll
      for (int c = 0; c < ScoreTile::kThreadCols; c += 2) {
        const int col = q_col0 + ScoreTile::tile_col(lane, c);
        const float2 lse_pair = *reinterpret_cast<const float2*>(lse_log2 + col);
        const float2 d_pair = *reinterpret_cast<const float2*>(d + col);
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          float score = s.at(r, c + half);
          [[maybe_unused]] float score_grad = 1.f;
          if constexpr (Variant::has_score_mod) {
            score *= scale;
            score_grad = variant.score_mod_grad(score, batch, head, q_begin + col + half, key);
            score = variant.score_mod(score, batch, head, q_begin + col + half, key);
          }
          if constexpr (decltype(masked)::value) {
            bool keep = col + half >= query_first && col + half < query_end;
            if constexpr (Variant::has_mask_mod) keep = keep && variant.mask_mod(batch, head, q_begin + col + half, key);
            if (!keep) score = negative_infinity();
          }
          // exp2(-inf) = 0 for masked elements, and LSE·log2(e) = +inf zeroes a row that kept no key.
          const float p = fast_exp2(fmaf(score, score_to_log2, -(half ? lse_pair.y : lse_pair.x)));
          float d_prob = dp.at(r, c + half);  // dO·v, the gradient of the (dropped) probability
          float p_for_dv = p;
          if constexpr (Dropout) {
            const bool dropout_keep = kept[r / 2][(c + half) / 2][(r % 2) * 2 + (c + half) % 2];
            d_prob = dropout_keep ? d_prob * dropout_scale : 0.f;
            p_for_dv = dropout_keep ? p : 0.f;
          }
          s.at(r, c + half) = p_for_dv;
          float d_score = p * (d_prob - (half ? d_pair.y : d_pair.x));
          if constexpr (Variant::has_score_mod) d_score *= score_grad;
          dp.at(r, c + half) = d_score;
        }
      }
    }

    // dQ needs every key row of dS: through shared memory, then a 2-D split over the warps.
    if constexpr (Config::kColumnGroups == 1) {
      gemm_regs_b<Element, QLayout>(dv, to_operand_a<Element>(s), do_tile(stage), lane);
      gemm_regs_b<Element, QLayout>(dk, to_operand_a<Element>(dp), q_tile(stage), lane);
      store_accumulator<Element, DSLayout>(dp, ds_tile, warp_row0, lane);
      __syncthreads();
    } else {
      // The two warps of a key group hold half of its query columns each: Pᵀ and dSᵀ meet in
      // shared memory, then each warp multiplies all of them into its half of the columns.
      store_accumulator<Element, DSLayout>(s, pt_tile, warp_row0, q_col0, lane);
      store_accumulator<Element, DSLayout>(dp, ds_tile, warp_row0, q_col0, lane);
      __syncthreads();
      gemm_a_b<Element, DSLayout, QLayout, kBlockM / 16>(dv, pt_tile, warp_row0, do_tile(stage), grad_col0 / 8, lane);
      gemm_a_b<Element, DSLayout, QLayout, kBlockM / 16>(dk, ds_tile, warp_row0, q_tile(stage), grad_col0 / 8, lane);
    }
    typename Config::DqTile dq;
    dq.fill(0.f);
    gemm_at_b<Element, DSLayout, KVLayout, kBlockN / 16>(dq, ds_tile, dq_row0 / 8, k_tile, dq_col0 / 8, lane);

    // This lane's dQ elements: rows g and g + 8 of the warp's 16, two adjacent columns per n-tile.
    const layout::Coord first = layout::mma_c_coord(lane, 0);
    float* const dq_first_row = scratch.dq_accumulator +
                                (scratch_row(problem, span, batch, q_begin + dq_row0 + first.row)) * dq_row_stride +
                                head * kHeadDim + dq_col0 + first.col;
    const bool first_row_valid = q_begin + dq_row0 + first.row < seqlen_q;
    const bool second_row_valid = q_begin + dq_row0 + first.row + 8 < seqlen_q;
    auto add_pair = [](float* address, float first, float second) {
      if constexpr (Dq == DqAccumulation::owned) {  // only this thread ever touches these two floats
        float2 sum = *reinterpret_cast<float2*>(address);
        sum.x += first;
        sum.y += second;
        *reinterpret_cast<float2*>(address) = sum;
      } else {
        atomic_add_pair(address, first, second);
      }
    };
    auto add_dq = [&] {
#pragma unroll
      for (int n = 0; n < Config::DqTile::kNTiles; ++n) {
        if (first_row_valid) add_pair(dq_first_row + n * 8, dq.v[0][n][0], dq.v[0][n][1]);
        if (second_row_valid) add_pair(dq_first_row + 8 * dq_row_stride + n * 8, dq.v[0][n][2], dq.v[0][n][3]);
      }
    };
    if constexpr (kOrdered) {
      // In key-block order; the turn's release/acquire pair orders one block's reductions
      // before the next one's, so every element sees the same sequence of additions.
      const int turn = dq_turn(head, q_begin);
      wait_turn(dq_turn_counter(head, q_begin), turn, thread);
      add_dq();
      pass_turn(dq_turn_counter(head, q_begin), turn + 1, thread);
    } else {
      add_dq();
    }
  };

  for (int step = 0; step < steps; ++step) {
    const int stage = step % Config::kStages;
    const int head = position_head(current);
    const int q_begin = position_q_begin(current);
    // As in the forward: one barrier publishes block `step` and frees the other stage.
    cp_async_wait<0>();
    __syncthreads();
    if (step + 1 < steps) {
      walk.advance(next);
      load_query_block(next, (step + 1) % Config::kStages);
      cp_async_commit();
    }

    const TileClass tile_class = walk.classify(current, band, variant, batch, head,
                                               TileBounds{q_begin, q_begin + kBlockM, k_begin, k_begin + kBlockN},
                                               seqlen_q, seqlen_k);
    if (tile_class == TileClass::full) {
      process_block(stage, head, q_begin, std::false_type{});
    } else if (tile_class == TileClass::partial) {
      process_block(stage, head, q_begin, std::true_type{});
    } else if constexpr (kOrdered) {  // a skipped tile still takes its turn, adding nothing
      const int turn = dq_turn(head, q_begin);
      wait_turn(dq_turn_counter(head, q_begin), turn, thread);
      pass_turn(dq_turn_counter(head, q_begin), turn + 1, thread);
    }
    walk.advance(current);
  }

  // Every warp is done reading K (for dQ) and every copy has landed before dK and dV are
  // staged where K and V were.
  cp_async_wait<0>();
  __syncthreads();
  dk.for_each(lane, [&](int, int, float& value) { value *= scale; });
  if constexpr (Dropout) {
    const float dropout_scale = dropout_keep_scale(problem.dropout.probability);
    dv.for_each(lane, [&](int, int, float& value) { value *= dropout_scale; });
  }
  store_accumulator<Element, KVLayout>(dk, k_tile, warp_row0, grad_col0, lane);
  store_accumulator<Element, KVLayout>(dv, v_tile, warp_row0, grad_col0, lane);
  Element* const dk_global =
      sequence_start<Element>(grads.d_k, span.k_row_offset, batch, head_kv, varlen) + k_begin * grads.d_k.row_stride;
  Element* const dv_global =
      sequence_start<Element>(grads.d_v, span.k_row_offset, batch, head_kv, varlen) + k_begin * grads.d_v.row_stride;
  if constexpr (Config::kColumnGroups == 1) {  // a warp's rows are its own: no CTA barrier
    __syncwarp();
    store_rows<KVLayout, Config::kWarpRows, 32>(k_tile, dk_global, grads.d_k.row_stride, warp_row0,
                                                seqlen_k - k_begin, lane);
    store_rows<KVLayout, Config::kWarpRows, 32>(v_tile, dv_global, grads.d_v.row_stride, warp_row0,
                                                seqlen_k - k_begin, lane);
  } else {  // rows are shared by the warps of a key group
    __syncthreads();
    store_rows<KVLayout, kBlockN, Config::kThreads>(k_tile, dk_global, grads.d_k.row_stride, 0, seqlen_k - k_begin,
                                                    thread);
    store_rows<KVLayout, kBlockN, Config::kThreads>(v_tile, dv_global, grads.d_v.row_stride, 0, seqlen_k - k_begin,
                                                    thread);
  }
}

}  // namespace attnkit::fa2
