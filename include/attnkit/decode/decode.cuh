#pragma once
// Host launcher of the decode kernels: attention of a few new query tokens per sequence over a
// KV cache, paged or contiguous, with the cache append, rotary, GQA packing and split-KV.
//
//   DecodeProblem p = make_decode_problem(DType::bf16, batch, heads_q, 1, 128, q, o,
//                                         make_paged_kv_cache(k_cache, v_cache, pages, 16, heads_kv,
//                                                             128, block_table, max_pages, seqlens),
//                                         heads_kv);
//   attnkit::decode<bfloat16_t, 128>(p);                       // splits chosen for the GPU
//   attnkit::decode<bfloat16_t, 128>(p, SoftCap{30.f}, {.splits = 8});
//
// Launches, on `stream`: the append (when the problem has new K/V), the attention, and the
// combine (when split). Scratch for the splits' partials comes from the caller's workspace
// (decode_workspace_bytes) or the stream-ordered allocator.

#include <cstddef>

#include <cuda_runtime_api.h>

#include "../core/error.cuh"
#include "../core/launch.cuh"
#include "../core/scoped_workspace.cuh"
#include "decode_kernel.cuh"
#include "validate_decode.cuh"

namespace attnkit {

struct DecodeOptions {
  int splits = 0;               // parts per sequence's keys; 0: choose from the GPU and the shapes
  void* workspace = nullptr;    // scratch for split partials; nullptr: allocate on the stream
  std::size_t workspace_bytes = 0;
};

namespace detail {

template <class Config>
int decode_row_tiles(const DecodeProblem& p) {
  return ceil_div((p.heads_q / p.heads_kv) * p.seqlen_q, Config::kRows);
}

}  // namespace detail

// The split count decode() uses for `problem`: options.splits when set (at most kMaxSplits),
// else split_kv.cuh's heuristic on the current device, with the cache's capacity bounding the
// lengths (the real ones live on the device). With decode_workspace_bytes it sizes a workspace
// allocated once for many calls.
template <class Element, int HeadDim, class Config = typename DefaultDecodeConfig<Element, HeadDim>::type>
int decode_split_count(const DecodeProblem& problem, const DecodeOptions& options = {}) {
  if (options.splits > 0) return options.splits < kMaxSplits ? options.splits : kMaxSplits;
  int device = 0, sms = 0, smem_per_sm = 0;
  ATTNKIT_CUDA_CHECK(cudaGetDevice(&device));
  ATTNKIT_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  ATTNKIT_CUDA_CHECK(cudaDeviceGetAttribute(&smem_per_sm, cudaDevAttrMaxSharedMemoryPerMultiprocessor, device));
  const int64_t ctas = static_cast<int64_t>(problem.batch) * problem.heads_kv * detail::decode_row_tiles<Config>(problem);
  // One wave: as many CTAs as shared memory lets the SMs hold at once (the runtime keeps 1 KB
  // per CTA; the default configs' 132 KB at d=128 allow one per SM). Below about two blocks per
  // warp a split costs more in its merge than it gains.
  const int ctas_per_sm = smem_per_sm / (Config::kSmemBytes + 1024);
  return choose_num_splits(ctas, sms, ctas_per_sm, problem.cache.capacity(), 2 * Config::kWarps * Config::kBlockN);
}

// Bytes of workspace a decode call with `splits` parts needs (0 for one part).
inline std::size_t decode_workspace_bytes(const DecodeProblem& p, int splits) {
  if (splits <= 1) return 0;
  return SplitPartials::bytes(splits, static_cast<int64_t>(p.batch) * p.seqlen_q * p.heads_q, p.head_dim);
}

template <class Element, int HeadDim, class Variant = NoVariant,
          class Config = typename DefaultDecodeConfig<Element, HeadDim>::type>
void decode(const DecodeProblem& problem, const Variant& variant = {}, const DecodeOptions& options = {},
            cudaStream_t stream = nullptr) {
  static_assert(Config::kHeadDim == HeadDim && std::is_same_v<typename Config::Element, Element>,
                "Config was built for another element type or head dim");
  validate_decode_problem(problem, ElementTraits<Element>::dtype, HeadDim);
  require(options.splits >= 0, "options.splits = ", options.splits, " must be non-negative (0: automatic)");

  DecodeParams params;
  params.problem = problem;
  params.problem.softmax_scale = problem.effective_scale();
  params.rows = GqaRows(problem.heads_q, problem.heads_kv, problem.seqlen_q);
  params.page_size = FastDivisor(problem.cache.page_size);
  params.row_tiles = detail::decode_row_tiles<Config>(problem);
  const int splits = decode_split_count<Element, HeadDim, Config>(problem, options);
  require(static_cast<int64_t>(problem.heads_kv) * params.row_tiles <= 65535, "heads_kv x row tiles = ",
          static_cast<int64_t>(problem.heads_kv) * params.row_tiles, " exceeds the grid limit of 65535");

  if (problem.appends()) {
    detail::launch_kernel(append_kv_kernel<Element>, dim3(problem.seqlen_new, problem.heads_kv, problem.batch), 128, 0,
                          stream, params.problem, params.page_size);
  }

  const auto attend = [&] {
    detail::launch_kernel(decode_kernel<Config, Variant>,
                          dim3(splits, problem.heads_kv * params.row_tiles, problem.batch), Config::kThreads,
                          Config::kSmemBytes, stream, params, variant);
  };
  if (splits == 1) {  // each CTA writes its rows' O and LSE: no partials, no workspace
    params.partials.splits = 1;
    attend();
    return;
  }
  detail::ScopedWorkspace scratch(options.workspace, options.workspace_bytes, decode_workspace_bytes(problem, splits),
                                  "decode_workspace_bytes()", stream);
  params.partials = SplitPartials::in(scratch.get(), splits,
                                      static_cast<int64_t>(problem.batch) * problem.seqlen_q * problem.heads_q, HeadDim);
  attend();
  constexpr int kCombineThreads = 256;
  const int64_t threads = params.partials.rows * 32;
  detail::launch_kernel(combine_splits_kernel<Element, HeadDim>,
                        dim3(static_cast<unsigned>((threads + kCombineThreads - 1) / kCombineThreads)), kCombineThreads,
                        0, stream, params.problem, params.partials);
  scratch.release();
}

}  // namespace attnkit
