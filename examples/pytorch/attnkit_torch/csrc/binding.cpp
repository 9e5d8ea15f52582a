// The torch side of the extension: tensor checks, the AttentionProblem built from tensor
// strides, the current CUDA stream, and the kernels from the registries (kernels.h, and
// block_sparse.h for the block-sparse entry and its masks). Every attnkit::error reaches
// Python as a RuntimeError with attnkit's message.

#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/extension.h>

#include <attnkit/attention/validate.cuh>
#include <attnkit/attention/validate_block_mask.cuh>
#include <attnkit/core/math.cuh>
#include <attnkit/decode/validate_decode.cuh>

#include "block_sparse.h"
#include "kernels.h"

namespace attnkit_torch {

namespace {

// Messages for TORCH_CHECK, with numbers, shapes and dtypes formatted by attnkit's
// snprintf-based append_part (core/error.cuh) instead of std::ostream: in some interpreters
// an extension that streams a number through std::ostream crashes (the process's C++ runtime
// is not the one the extension was compiled against), which would turn every error into a
// segmentation fault.
void append(std::string& out, const at::IntArrayRef& shape) {
  out += "[";
  for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  out += "]";
}
void append(std::string& out, const at::ScalarType& type) { out += c10::toString(type); }
template <class T>
void append(std::string& out, const T& value) {
  attnkit::detail::append_part(out, value);
}
template <class... Parts>
std::string message(const Parts&... parts) {
  std::string out;
  (append(out, parts), ...);
  return out;
}

}  // namespace

// TORCH_CHECK with its message built by message() above (only when the check fails).
#define ATTNKIT_TORCH_CHECK(condition, ...) TORCH_CHECK(condition, message(__VA_ARGS__))


std::map<std::pair<int, int>, Kernels>& registry() {
  static std::map<std::pair<int, int>, Kernels> kernels;
  return kernels;
}

std::map<std::pair<int, int>, SparseKernels>& sparse_registry() {
  static std::map<std::pair<int, int>, SparseKernels> kernels;
  return kernels;
}

namespace {

template <class Registry>
const typename Registry::mapped_type& lookup(const Registry& registry, int head_dim, ScoreModKind kind) {
  const auto found = registry.find({head_dim, static_cast<int>(kind)});
  if (found == registry.end()) {
    // std::to_string, not a stream: see attnkit's error.cuh on formatting numbers in an extension.
    std::string built;
    for (const auto& [key, unused] : registry)
      if (key.second == static_cast<int>(kind)) built += " " + std::to_string(key.first);
    ATTNKIT_TORCH_CHECK(false, "attnkit_torch: head_dim = ", head_dim,
                " is not built into this extension (built:", built,
                "); set ATTNKIT_TORCH_HEAD_DIMS before the first import to build it");
  }
  return found->second;
}

const Kernels& kernels_for(int head_dim, ScoreModKind kind) { return lookup(registry(), head_dim, kind); }
const SparseKernels& sparse_kernels_for(int head_dim, ScoreModKind kind) {
  return lookup(sparse_registry(), head_dim, kind);
}

// Runs `launch`, host code of this file, handing attnkit's errors (attnkit::error, a
// std::runtime_error) to Python as torch's c10::Error (a RuntimeError there). attnkit's checks
// of a problem (validate_problem, and the block-mask checks below) run here, before any kernel
// unit is called: on the H200 machine with PyTorch 2.11 an attnkit::error let out of an
// nvcc-compiled kernel unit crashed the interpreter. The kernel units catch what they still
// throw (an allocation or launch failure) themselves and report it through a LaunchStatus.
template <class Launch>
void run(Launch&& launch) {
  try {
    launch();
  } catch (const c10::Error&) {
    throw;
  } catch (const std::exception& e) {
    ATTNKIT_TORCH_CHECK(false, e.what());
  }
}

// Raises what a kernel unit reported.
void raise_if_failed(const LaunchStatus& status) { ATTNKIT_TORCH_CHECK(!status.failed, status.message); }

void check_input(const at::Tensor& t, const char* name, int64_t dims) {
  ATTNKIT_TORCH_CHECK(t.is_cuda(), "attnkit_torch: ", name, " must be a CUDA tensor");
  ATTNKIT_TORCH_CHECK(t.scalar_type() == at::kHalf || t.scalar_type() == at::kBFloat16, "attnkit_torch: ", name,
              " has dtype ", t.scalar_type(), "; float16 and bfloat16 are supported");
  ATTNKIT_TORCH_CHECK(t.dim() == dims, "attnkit_torch: ", name, " must have ", dims, " dimensions, got shape ", t.sizes());
  ATTNKIT_TORCH_CHECK(t.stride(-1) == 1, "attnkit_torch: ", name, " must be contiguous in its last (head_dim) dimension");
}

// (batch, seqlen, heads, head_dim) or, varlen, (total, heads, head_dim): strides in elements.
attnkit::TensorRef tensor_ref(const at::Tensor& t) {
  attnkit::TensorRef ref;
  ref.data = t.data_ptr();
  const bool varlen = t.dim() == 3;
  ref.batch_stride = varlen ? 0 : t.stride(0);
  ref.row_stride = t.stride(varlen ? 0 : 1);
  ref.head_stride = t.stride(varlen ? 1 : 2);
  return ref;
}

struct Options {
  std::optional<at::Tensor> cu_seqlens_q, cu_seqlens_k;
  int64_t max_seqlen_q = 0, max_seqlen_k = 0;
  double softmax_scale = 0.0;
  int64_t window_left = -1, window_right = -1;
  double softcap = 0.0;
  std::optional<at::Tensor> alibi_slopes;
  double dropout_p = 0.0;
  int64_t seed = 0;
};

// flash-attn's score arguments as a ScoreMod: soft-capping (softcap > 0), ALiBi slopes of
// shape (nheads,) or (batch, nheads) (a varlen batch entry is a sequence, so (batch, nheads)
// has one row per sequence), or both.
ScoreMod make_score_mod(double softcap, const std::optional<at::Tensor>& alibi_slopes, int batch, int heads_q,
                        const at::Device& device) {
  ScoreMod mod;
  if (alibi_slopes.has_value()) {
    const at::Tensor& slopes = *alibi_slopes;
    const bool per_head = slopes.dim() == 1 && slopes.size(0) == heads_q;
    const bool per_entry = slopes.dim() == 2 && slopes.size(0) == batch && slopes.size(1) == heads_q;
    ATTNKIT_TORCH_CHECK(slopes.device() == device && slopes.scalar_type() == at::kFloat && slopes.is_contiguous() &&
                    (per_head || per_entry),
                "attnkit_torch: alibi_slopes must be a contiguous float32 tensor on q's device of shape (nheads,) = (",
                heads_q, ",) or (batch, nheads) = (", batch, ", ", heads_q, "), got ", slopes.scalar_type(),
                " ", slopes.sizes(), " on ", slopes.device().str());
    mod.kind = softcap > 0.0 ? ScoreModKind::alibi_softcap : ScoreModKind::alibi;
    mod.softcap = softcap > 0.0 ? static_cast<float>(softcap) : 0.f;
    mod.alibi_slopes = slopes.data_ptr<float>();
    // A batch of one has a single row whatever its stride says.
    mod.alibi_batch_stride = per_entry && batch > 1 ? slopes.stride(0) : 0;
  } else if (softcap > 0.0) {
    mod = {ScoreModKind::softcap, static_cast<float>(softcap), nullptr};
  }
  return mod;
}

// The problem for q, k, v, o, lse under `options`, checked as far as torch knows the shapes;
// attnkit's launchers check the rest (head dim, strides, alignment, GQA ratio, window).
attnkit::AttentionProblem make_problem(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                       const at::Tensor& o, const at::Tensor& lse, const Options& options,
                                       ScoreMod& mod) {
  const bool varlen = options.cu_seqlens_q.has_value();
  const int64_t dims = varlen ? 3 : 4;
  check_input(q, "q", dims);
  check_input(k, "k", dims);
  check_input(v, "v", dims);
  ATTNKIT_TORCH_CHECK(k.scalar_type() == q.scalar_type() && v.scalar_type() == q.scalar_type(),
              "attnkit_torch: q, k, v must share a dtype (got ", q.scalar_type(), ", ", k.scalar_type(), ", ",
              v.scalar_type(), ")");
  ATTNKIT_TORCH_CHECK(k.sizes() == v.sizes(), "attnkit_torch: k and v must have the same shape, got ", k.sizes(), " and ",
              v.sizes());
  attnkit::AttentionProblem p;
  p.dtype = q.scalar_type() == at::kBFloat16 ? attnkit::DType::bf16 : attnkit::DType::f16;
  p.head_dim = static_cast<int>(q.size(-1));
  p.heads_q = static_cast<int>(q.size(-2));
  p.heads_kv = static_cast<int>(k.size(-2));
  ATTNKIT_TORCH_CHECK(k.size(-1) == q.size(-1), "attnkit_torch: q has head_dim ", q.size(-1), " but k has ", k.size(-1));
  if (varlen) {
    ATTNKIT_TORCH_CHECK(options.cu_seqlens_k.has_value(), "attnkit_torch: cu_seqlens_k is missing");
    const at::Tensor& cu_q = *options.cu_seqlens_q;
    const at::Tensor& cu_k = *options.cu_seqlens_k;
    for (const at::Tensor* cu : {&cu_q, &cu_k}) {
      ATTNKIT_TORCH_CHECK(cu->is_cuda() && cu->scalar_type() == at::kInt && cu->dim() == 1 && cu->is_contiguous(),
                  "attnkit_torch: cu_seqlens must be contiguous 1-D int32 CUDA tensors");
    }
    ATTNKIT_TORCH_CHECK(cu_q.size(0) == cu_k.size(0) && cu_q.size(0) >= 2,
                "attnkit_torch: cu_seqlens_q and cu_seqlens_k need batch + 1 entries each, got ", cu_q.size(0),
                " and ", cu_k.size(0));
    p.batch = static_cast<int>(cu_q.size(0) - 1);
    p.seqlen_q = static_cast<int>(options.max_seqlen_q);
    p.seqlen_k = static_cast<int>(options.max_seqlen_k);
    p.cu_seqlens_q = cu_q.data_ptr<int>();
    p.cu_seqlens_k = cu_k.data_ptr<int>();
    p.total_q = static_cast<int>(q.size(0));
    p.total_k = static_cast<int>(k.size(0));
    p.lse_head_stride = q.size(0);  // (heads, total_q)
  } else {
    ATTNKIT_TORCH_CHECK(k.size(0) == q.size(0), "attnkit_torch: q has batch ", q.size(0), " but k has ", k.size(0));
    p.batch = static_cast<int>(q.size(0));
    p.seqlen_q = static_cast<int>(q.size(1));
    p.seqlen_k = static_cast<int>(k.size(1));
    p.lse_head_stride = p.seqlen_q;  // (batch, heads, seqlen_q)
    p.lse_batch_stride = int64_t(p.heads_q) * p.seqlen_q;
  }
  p.q = tensor_ref(q);
  p.k = tensor_ref(k);
  p.v = tensor_ref(v);
  p.o = tensor_ref(o);
  p.lse = lse.data_ptr<float>();
  p.softmax_scale = static_cast<float>(options.softmax_scale);
  p.band = attnkit::BandMask::window(static_cast<int>(options.window_left), static_cast<int>(options.window_right));
  p.dropout = {static_cast<float>(options.dropout_p), static_cast<uint64_t>(options.seed), 0};

  mod = make_score_mod(options.softcap, options.alibi_slopes, p.batch, p.heads_q, q.device());
  // attnkit's own checks (GQA ratio, strides, alignment, window), here rather than in the
  // launch: see run() for why errors are raised on this side.
  run([&] { attnkit::validate_problem(p, p.dtype, p.head_dim); });
  return p;
}

Options make_options(std::optional<at::Tensor> cu_seqlens_q, std::optional<at::Tensor> cu_seqlens_k,
                     int64_t max_seqlen_q, int64_t max_seqlen_k, double softmax_scale, int64_t window_left,
                     int64_t window_right, double softcap, std::optional<at::Tensor> alibi_slopes, double dropout_p,
                     int64_t seed) {
  return {std::move(cu_seqlens_q), std::move(cu_seqlens_k), max_seqlen_q, max_seqlen_k, softmax_scale, window_left,
          window_right, softcap, std::move(alibi_slopes), dropout_p, seed};
}

// Returns (out, lse): out like q, lse (batch, heads, seqlen_q) or, varlen, (heads, total_q).
std::vector<at::Tensor> forward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                std::optional<at::Tensor> cu_seqlens_q, std::optional<at::Tensor> cu_seqlens_k,
                                int64_t max_seqlen_q, int64_t max_seqlen_k, double softmax_scale, int64_t window_left,
                                int64_t window_right, double softcap, std::optional<at::Tensor> alibi_slopes,
                                double dropout_p, int64_t seed) {
  const c10::cuda::CUDAGuard guard(q.device());
  const Options options = make_options(std::move(cu_seqlens_q), std::move(cu_seqlens_k), max_seqlen_q, max_seqlen_k,
                                       softmax_scale, window_left, window_right, softcap, std::move(alibi_slopes),
                                       dropout_p, seed);
  at::Tensor o = at::empty_like(q, at::MemoryFormat::Contiguous);
  const bool varlen = options.cu_seqlens_q.has_value();
  at::Tensor lse = varlen ? at::empty({q.size(1), q.size(0)}, q.options().dtype(at::kFloat))
                          : at::empty({q.size(0), q.size(2), q.size(1)}, q.options().dtype(at::kFloat));
  ScoreMod mod;
  const attnkit::AttentionProblem problem = make_problem(q, k, v, o, lse, options, mod);
  const Kernels& kernels = kernels_for(problem.head_dim, mod.kind);
  LaunchStatus status;
  kernels.forward(problem, mod, at::cuda::getCurrentCUDAStream(), status);
  raise_if_failed(status);
  return {o, lse};
}

// Returns (dq, dk, dv), shaped like q, k, v.
std::vector<at::Tensor> backward(const at::Tensor& d_out, const at::Tensor& q, const at::Tensor& k,
                                 const at::Tensor& v, const at::Tensor& o, const at::Tensor& lse,
                                 std::optional<at::Tensor> cu_seqlens_q, std::optional<at::Tensor> cu_seqlens_k,
                                 int64_t max_seqlen_q, int64_t max_seqlen_k, double softmax_scale,
                                 int64_t window_left, int64_t window_right, double softcap,
                                 std::optional<at::Tensor> alibi_slopes, double dropout_p, int64_t seed,
                                 bool deterministic) {
  const c10::cuda::CUDAGuard guard(q.device());
  const Options options = make_options(std::move(cu_seqlens_q), std::move(cu_seqlens_k), max_seqlen_q, max_seqlen_k,
                                       softmax_scale, window_left, window_right, softcap, std::move(alibi_slopes),
                                       dropout_p, seed);
  check_input(d_out, "dout", q.dim());
  ATTNKIT_TORCH_CHECK(d_out.sizes() == q.sizes(), "attnkit_torch: dout must be shaped like q ", q.sizes(), ", got ",
              d_out.sizes());
  const at::Tensor d_out_rows = d_out.stride(-1) == 1 ? d_out : d_out.contiguous();
  at::Tensor dq = at::empty_like(q, at::MemoryFormat::Contiguous);
  at::Tensor dk = at::empty_like(k, at::MemoryFormat::Contiguous);
  at::Tensor dv = at::empty_like(v, at::MemoryFormat::Contiguous);
  ScoreMod mod;
  const attnkit::AttentionProblem problem = make_problem(q, k, v, o, lse, options, mod);
  attnkit::BackwardGradients grads;
  grads.d_o = tensor_ref(d_out_rows);
  grads.d_q = tensor_ref(dq);
  grads.d_k = tensor_ref(dk);
  grads.d_v = tensor_ref(dv);
  grads.deterministic = deterministic;
  const Kernels& kernels = kernels_for(problem.head_dim, mod.kind);
  LaunchStatus status;
  kernels.backward(problem, grads, mod, at::cuda::getCurrentCUDAStream(), status);
  raise_if_failed(status);
  return {dq, dk, dv};
}

// ---- decode over a KV cache ---------------------------------------------------------------------
// flash_attn_with_kvcache's arguments: q (batch, seqlen_q, heads, d); k_cache, v_cache
// (batch_cache, seqlen_cache, heads_k, d), or pages (num_pages, page_size, heads_k, d) with
// block_table (batch, max_pages); k, v (batch, seqlen_new, heads_k, d) appended in place;
// cache_seqlens, cache_batch_idx, cache_leftpad int32 (batch,). `host_seqlens`: the lengths
// when the caller knew them on the host (a Python int), checked against the cache's capacity.
// With cu_seqlens_q (batch + 1, int32) the queries are varlen (paged prefill): q (total_q,
// heads, d), max_seqlen_q the longest sequence's, and the LSE comes back (heads, total_q).

void check_int_vector(const std::optional<at::Tensor>& t, const char* name, int64_t batch, const at::Device& device) {
  if (!t.has_value()) return;
  ATTNKIT_TORCH_CHECK(t->device() == device && t->scalar_type() == at::kInt && t->is_contiguous() && t->dim() == 1 &&
                          t->size(0) == batch,
                      "attnkit_torch: ", name, " must be a contiguous int32 tensor of shape (batch,) = (", batch,
                      ",) on q's device, got ", t->scalar_type(), " ", t->sizes(), " on ", t->device().str());
}

attnkit::TensorRef cache_ref(const at::Tensor& t) {
  attnkit::TensorRef ref;
  ref.data = t.data_ptr();
  ref.batch_stride = t.stride(0);  // between pages (or cache entries)
  ref.row_stride = t.stride(1);
  ref.head_stride = t.stride(2);
  return ref;
}

std::vector<at::Tensor> decode(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache,
                               std::optional<at::Tensor> k_new, std::optional<at::Tensor> v_new,
                               std::optional<at::Tensor> rotary_cos, std::optional<at::Tensor> rotary_sin,
                               const at::Tensor& cache_seqlens, std::optional<at::Tensor> cache_batch_idx,
                               std::optional<at::Tensor> cache_leftpad, std::optional<at::Tensor> block_table,
                               double softmax_scale, int64_t window_left, int64_t window_right, double softcap,
                               bool rotary_interleaved, std::optional<at::Tensor> alibi_slopes, int64_t num_splits,
                               std::optional<std::vector<int64_t>> host_seqlens,
                               std::optional<at::Tensor> cu_seqlens_q, int64_t max_seqlen_q) {
  const c10::cuda::CUDAGuard guard(q.device());
  const bool varlen_q = cu_seqlens_q.has_value();
  check_input(q, "q", varlen_q ? 3 : 4);
  check_input(k_cache, "k_cache", 4);
  check_input(v_cache, "v_cache", 4);
  ATTNKIT_TORCH_CHECK(k_cache.scalar_type() == q.scalar_type() && v_cache.scalar_type() == q.scalar_type(),
                      "attnkit_torch: q, k_cache, v_cache must share a dtype (got ", q.scalar_type(), ", ",
                      k_cache.scalar_type(), ", ", v_cache.scalar_type(), ")");
  ATTNKIT_TORCH_CHECK(k_cache.sizes() == v_cache.sizes(), "attnkit_torch: k_cache and v_cache must have the same shape, got ",
                      k_cache.sizes(), " and ", v_cache.sizes());
  ATTNKIT_TORCH_CHECK(k_cache.size(3) == q.size(-1), "attnkit_torch: q has head_dim ", q.size(-1),
                      " but k_cache has ", k_cache.size(3));
  const at::Device device = q.device();
  const int64_t batch = varlen_q ? cu_seqlens_q->numel() - 1 : q.size(0);
  if (varlen_q) {
    ATTNKIT_TORCH_CHECK(cu_seqlens_q->device() == device && cu_seqlens_q->scalar_type() == at::kInt &&
                            cu_seqlens_q->is_contiguous() && cu_seqlens_q->dim() == 1 && batch >= 1,
                        "attnkit_torch: cu_seqlens_q must be a contiguous int32 tensor of shape (batch + 1,) on q's "
                        "device, got ", cu_seqlens_q->scalar_type(), " ", cu_seqlens_q->sizes(), " on ",
                        cu_seqlens_q->device().str());
    ATTNKIT_TORCH_CHECK(max_seqlen_q >= 1 && max_seqlen_q <= q.size(0), "attnkit_torch: max_seqlen_q = ",
                        max_seqlen_q, " must be in [1, total_q = ", q.size(0), "]");
  }
  check_int_vector(cache_seqlens, "cache_seqlens", batch, device);
  check_int_vector(cache_batch_idx, "cache_batch_idx", batch, device);
  check_int_vector(cache_leftpad, "cache_leftpad", batch, device);

  at::Tensor o = at::empty_like(q, at::MemoryFormat::Contiguous);
  const int64_t heads_q = q.size(-2);
  at::Tensor lse = varlen_q ? at::empty({heads_q, q.size(0)}, q.options().dtype(at::kFloat))
                            : at::empty({batch, heads_q, q.size(1)}, q.options().dtype(at::kFloat));
  attnkit::DecodeProblem p;
  p.dtype = q.scalar_type() == at::kBFloat16 ? attnkit::DType::bf16 : attnkit::DType::f16;
  p.batch = static_cast<int>(batch);
  p.seqlen_q = static_cast<int>(varlen_q ? max_seqlen_q : q.size(1));
  p.heads_q = static_cast<int>(heads_q);
  p.heads_kv = static_cast<int>(k_cache.size(2));
  p.head_dim = static_cast<int>(q.size(-1));
  p.q = tensor_ref(q);
  p.o = tensor_ref(o);
  p.lse = lse.data_ptr<float>();
  p.cu_seqlens_q = varlen_q ? cu_seqlens_q->data_ptr<int>() : nullptr;
  p.lse_head_stride = lse.stride(varlen_q ? 0 : 1);
  p.lse_batch_stride = varlen_q ? 0 : lse.stride(0);
  p.softmax_scale = static_cast<float>(softmax_scale);
  p.band = attnkit::BandMask::window(static_cast<int>(window_left), static_cast<int>(window_right));

  attnkit::KVCache& cache = p.cache;
  cache.k = cache_ref(k_cache);
  cache.v = cache_ref(v_cache);
  cache.num_pages = static_cast<int>(k_cache.size(0));
  cache.page_size = static_cast<int>(k_cache.size(1));
  cache.seqlens = cache_seqlens.data_ptr<int>();
  cache.leftpad = cache_leftpad.has_value() ? cache_leftpad->data_ptr<int>() : nullptr;
  if (block_table.has_value()) {
    const at::Tensor& table = *block_table;
    ATTNKIT_TORCH_CHECK(table.device() == device && table.scalar_type() == at::kInt && table.dim() == 2 &&
                            table.size(0) == batch && table.stride(1) == 1,
                        "attnkit_torch: block_table must be an int32 tensor of shape (batch, max_pages) with batch = ",
                        batch, " on q's device, contiguous along its pages, got ", table.scalar_type(), " ",
                        table.sizes(), " on ", table.device().str());
    ATTNKIT_TORCH_CHECK(!cache_batch_idx.has_value(), "attnkit_torch: cache_batch_idx and block_table exclude each "
                        "other (a paged cache says where each sequence lives through its block table)");
    cache.block_table = table.data_ptr<int>();
    cache.block_table_stride = table.stride(0);
    cache.max_pages_per_sequence = static_cast<int>(table.size(1));
  } else {
    cache.cache_batch_idx = cache_batch_idx.has_value() ? cache_batch_idx->data_ptr<int>() : nullptr;
  }

  ATTNKIT_TORCH_CHECK(k_new.has_value() == v_new.has_value(), "attnkit_torch: k and v must be given together");
  if (k_new.has_value()) {
    check_input(*k_new, "k", 4);
    check_input(*v_new, "v", 4);
    ATTNKIT_TORCH_CHECK(k_new->sizes() == v_new->sizes() && k_new->size(0) == batch &&
                            k_new->size(2) == p.heads_kv && k_new->size(3) == p.head_dim,
                        "attnkit_torch: k and v must be (batch, seqlen_new, nheads_k, headdim) = (", batch,
                        ", seqlen_new, ", p.heads_kv, ", ", p.head_dim, "), got ", k_new->sizes(), " and ", v_new->sizes());
    ATTNKIT_TORCH_CHECK(k_new->scalar_type() == q.scalar_type() && v_new->scalar_type() == q.scalar_type(),
                        "attnkit_torch: k and v must have q's dtype ", q.scalar_type());
    p.k_new = tensor_ref(*k_new);
    p.v_new = tensor_ref(*v_new);
    p.seqlen_new = static_cast<int>(k_new->size(1));
  }
  ATTNKIT_TORCH_CHECK(rotary_cos.has_value() == rotary_sin.has_value(),
                      "attnkit_torch: rotary_cos and rotary_sin must be given together");
  if (rotary_cos.has_value()) {
    for (const at::Tensor* t : {&*rotary_cos, &*rotary_sin}) {
      ATTNKIT_TORCH_CHECK(t->device() == device && t->scalar_type() == q.scalar_type() && t->is_contiguous() &&
                              t->dim() == 2 && t->sizes() == rotary_cos->sizes(),
                          "attnkit_torch: rotary_cos and rotary_sin must be contiguous (seqlen_ro, rotary_dim / 2) "
                          "tensors of q's dtype on its device, got ", rotary_cos->sizes(), " and ", t->sizes());
    }
    p.rotary.cos = rotary_cos->data_ptr();
    p.rotary.sin = rotary_sin->data_ptr();
    p.rotary.dim = static_cast<int>(2 * rotary_cos->size(1));
    p.rotary.positions = static_cast<int>(rotary_cos->size(0));
    p.rotary.interleaved = rotary_interleaved;
  }
  std::vector<int> host_lengths;
  if (host_seqlens.has_value()) {
    host_lengths.assign(host_seqlens->begin(), host_seqlens->end());
    ATTNKIT_TORCH_CHECK(static_cast<int64_t>(host_lengths.size()) == batch, "attnkit_torch: host lengths for ",
                        host_lengths.size(), " sequences, batch = ", batch);
    p.host_seqlens = host_lengths.data();
  }
  const ScoreMod mod = make_score_mod(softcap, alibi_slopes, p.batch, p.heads_q, device);
  run([&] { attnkit::validate_decode_problem(p, p.dtype, p.head_dim); });
  ATTNKIT_TORCH_CHECK(num_splits >= 0, "attnkit_torch: num_splits = ", num_splits, " must be >= 0 (0: automatic)");
  const Kernels& kernels = kernels_for(p.head_dim, mod.kind);
  LaunchStatus status;
  kernels.decode(p, mod, static_cast<int>(num_splits), at::cuda::getCurrentCUDAStream(), status);
  raise_if_failed(status);
  return {o, lse};
}

// ---- block-sparse attention -------------------------------------------------------------------
// Tensors in flex-attention's layout: q, out (batch, heads_q, seqlen_q, head_dim); k, v
// (batch, heads_kv, seqlen_k, head_dim); lse (batch, heads_q, seqlen_q). The block mask is the
// Python BlockMask object (attnkit_torch/__init__.py), whose tensors hold the lists of
// attnkit::BlockMaskView and whose attributes the pattern the partial blocks apply.

// Mask blocks are whole tiles of every kernel that walks them (the FA2 and Hopper forwards'
// 128-row query blocks and 64- or 128-key blocks, the backward's 32- or 64-row query blocks and
// 64- or 128-key blocks) when both sides are multiples of this.
constexpr int kMaskBlockMultiple = 128;

// (batch, heads, seqlen, head_dim): strides in elements.
attnkit::TensorRef tensor_ref_bhsd(const at::Tensor& t) {
  attnkit::TensorRef ref;
  ref.data = t.data_ptr();
  ref.batch_stride = t.stride(0);
  ref.head_stride = t.stride(1);
  ref.row_stride = t.stride(2);
  return ref;
}

void check_mask_blocks(int64_t block_m, int64_t block_n) {
  ATTNKIT_TORCH_CHECK(block_m > 0 && block_n > 0 && block_m % kMaskBlockMultiple == 0 && block_n % kMaskBlockMultiple == 0,
              "attnkit_torch: block_size = (", block_m, ", ", block_n, ") must be positive multiples of ",
              kMaskBlockMultiple, " (whole tiles of every kernel that walks the mask)");
}

void check_int_lists(const at::Tensor& t, const char* name, c10::IntArrayRef shape, const at::Device& device) {
  ATTNKIT_TORCH_CHECK(t.device() == device && t.scalar_type() == at::kInt && t.is_contiguous(), "attnkit_torch: block mask ",
              name, " must be a contiguous int32 tensor on ", device, ", got ", t.scalar_type(), " on ", t.device());
  ATTNKIT_TORCH_CHECK(t.sizes() == shape, "attnkit_torch: block mask ", name, " has shape ", t.sizes(), ", expected ", shape);
}

// The pattern's parameters as BlockMask holds them (the same names as create_block_mask's).
PatternMask pattern_of(const pybind11::object& mask, int q_len, int kv_len) {
  PatternMask pattern;
  const int64_t kind = mask.attr("_pattern_kind").cast<int64_t>();
  ATTNKIT_TORCH_CHECK(kind >= 0 && kind <= static_cast<int64_t>(PatternKind::document), "attnkit_torch: pattern kind ", kind,
              " is not one of attnkit_torch's patterns");
  pattern.kind = static_cast<PatternKind>(kind);
  pattern.window = static_cast<int>(mask.attr("window").cast<int64_t>());
  pattern.globals = static_cast<int>(mask.attr("globals").cast<int64_t>());
  pattern.stride = static_cast<int>(mask.attr("stride").cast<int64_t>());
  pattern.causal = mask.attr("causal").cast<bool>();
  pattern.key_offset = kv_len - q_len;
  return pattern;
}

// Checks the pattern's parameters and, for a document mask, its ids: (rows, length) int32 on
// `device`, rows 1 or `batches`, length the sequence length (queries and keys share the ids).
void check_pattern(PatternMask& pattern, const std::optional<at::Tensor>& document_ids, int batches, int q_len,
                   int kv_len, const at::Device& device) {
  switch (pattern.kind) {
    case PatternKind::sliding_window:
    case PatternKind::local_global:
      ATTNKIT_TORCH_CHECK(pattern.window >= 0, "attnkit_torch: window = ", pattern.window, " must be >= 0");
      ATTNKIT_TORCH_CHECK(pattern.globals >= 0, "attnkit_torch: globals = ", pattern.globals, " must be >= 0");
      break;
    case PatternKind::strided:
      ATTNKIT_TORCH_CHECK(pattern.stride > 0, "attnkit_torch: stride = ", pattern.stride, " must be positive");
      break;
    default:
      break;
  }
  if (pattern.kind != PatternKind::document) return;
  ATTNKIT_TORCH_CHECK(document_ids.has_value(), "attnkit_torch: the document pattern needs document_ids");
  const at::Tensor& ids = *document_ids;
  ATTNKIT_TORCH_CHECK(ids.device() == device && ids.scalar_type() == at::kInt && ids.is_contiguous() && ids.dim() == 2,
              "attnkit_torch: document_ids must be a contiguous 2-D int32 tensor on ", device, ", got ",
              ids.scalar_type(), " ", ids.sizes(), " on ", ids.device());
  ATTNKIT_TORCH_CHECK(q_len == kv_len && ids.size(1) == q_len, "attnkit_torch: document_ids of length ", ids.size(1),
              " need q_len = kv_len = ", ids.size(1), " (got ", q_len, " and ", kv_len, ")");
  ATTNKIT_TORCH_CHECK(ids.size(0) == 1 || ids.size(0) == batches, "attnkit_torch: document_ids has ", ids.size(0),
              " rows; it needs 1 or the mask's batch size ", batches);
  pattern.document_ids = ids.data_ptr<int>();
  pattern.document_rows = static_cast<int>(ids.size(0));
  pattern.length = static_cast<int>(ids.size(1));
}

struct MaskArguments {
  attnkit::BlockMaskView view;
  PatternMask pattern;
};

// The view over a BlockMask's tensors, checked against the problem it is used with (what
// fa2::forward_block_sparse and backward_block_sparse check, here so that errors are raised on
// this side; see run()).
MaskArguments mask_arguments(const pybind11::object& mask, const attnkit::AttentionProblem& p, const at::Device& device) {
  const int q_len = static_cast<int>(mask.attr("q_len").cast<int64_t>());
  const int kv_len = static_cast<int>(mask.attr("kv_len").cast<int64_t>());
  ATTNKIT_TORCH_CHECK(q_len == p.seqlen_q && kv_len == p.seqlen_k, "attnkit_torch: the block mask was made for q_len = ",
              q_len, ", kv_len = ", kv_len, " but q has seqlen ", p.seqlen_q, " and k has ", p.seqlen_k);
  MaskArguments arguments;
  attnkit::BlockMaskView& view = arguments.view;
  const pybind11::tuple block_size = mask.attr("block_size").cast<pybind11::tuple>();
  view.block_m = static_cast<int>(block_size[0].cast<int64_t>());
  view.block_n = static_cast<int>(block_size[1].cast<int64_t>());
  check_mask_blocks(view.block_m, view.block_n);
  const at::Tensor full_counts = mask.attr("full_counts").cast<at::Tensor>();
  ATTNKIT_TORCH_CHECK(full_counts.dim() == 3, "attnkit_torch: block mask full_counts must be (batch, heads, q_blocks), got ",
              full_counts.sizes());
  view.batches = static_cast<int>(full_counts.size(0));
  view.heads = static_cast<int>(full_counts.size(1));
  view.q_blocks = attnkit::ceil_div(q_len, view.block_m);
  view.kv_blocks = attnkit::ceil_div(kv_len, view.block_n);
  ATTNKIT_TORCH_CHECK(view.batches == 1 || view.batches == p.batch, "attnkit_torch: block mask batch size ", view.batches,
              " must be 1 (shared) or q's batch ", p.batch);
  ATTNKIT_TORCH_CHECK(view.heads == 1 || view.heads == p.heads_q, "attnkit_torch: block mask has ", view.heads,
              " heads; it must have 1 (shared) or q's ", p.heads_q);
  const int64_t b = view.batches, h = view.heads, qb = view.q_blocks, kb = view.kv_blocks;
  auto lists = [&](const char* name, c10::IntArrayRef shape) {
    const at::Tensor t = mask.attr(name).cast<at::Tensor>();
    check_int_lists(t, name, shape, device);
    return static_cast<const int*>(t.data_ptr<int>());  // the BlockMask keeps the tensor alive
  };
  view.full_counts = lists("full_counts", {b, h, qb});
  view.full_indices = lists("full_indices", {b, h, qb, kb});
  view.partial_counts = lists("partial_counts", {b, h, qb});
  view.partial_indices = lists("partial_indices", {b, h, qb, kb});
  view.full_q_counts = lists("full_q_counts", {b, h, kb});
  view.full_q_indices = lists("full_q_indices", {b, h, kb, qb});
  view.partial_q_counts = lists("partial_q_counts", {b, h, kb});
  view.partial_q_indices = lists("partial_q_indices", {b, h, kb, qb});

  // attnkit's own check of the same, for every kernel that walks the mask (see run()).
  run([&] {
    attnkit::validate_block_mask(p, view, kMaskBlockMultiple, kMaskBlockMultiple,
                                 attnkit::BlockMaskLists::forward_and_transposed);
  });

  arguments.pattern = pattern_of(mask, q_len, kv_len);
  const pybind11::object ids = mask.attr("document_ids");
  const std::optional<at::Tensor> document_ids =
      ids.is_none() ? std::nullopt : std::optional<at::Tensor>(ids.cast<at::Tensor>());
  check_pattern(arguments.pattern, document_ids, view.batches, q_len, kv_len, device);
  return arguments;
}

// The problem for q, k, v, o, lse in (batch, heads, seqlen, head_dim), with the score
// modification by kind (ScoreModKind's numbers).
attnkit::AttentionProblem make_bhsd_problem(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                            const at::Tensor& o, const at::Tensor& lse, double softmax_scale,
                                            int64_t score_mod, double softcap,
                                            const std::optional<at::Tensor>& alibi_slopes, ScoreMod& mod) {
  check_input(q, "q", 4);
  check_input(k, "k", 4);
  check_input(v, "v", 4);
  ATTNKIT_TORCH_CHECK(k.device() == q.device() && v.device() == q.device(), "attnkit_torch: q, k, v must be on one device");
  ATTNKIT_TORCH_CHECK(k.scalar_type() == q.scalar_type() && v.scalar_type() == q.scalar_type(),
              "attnkit_torch: q, k, v must share a dtype (got ", q.scalar_type(), ", ", k.scalar_type(), ", ",
              v.scalar_type(), ")");
  ATTNKIT_TORCH_CHECK(k.sizes() == v.sizes(), "attnkit_torch: k and v must have the same shape, got ", k.sizes(), " and ",
              v.sizes());
  ATTNKIT_TORCH_CHECK(k.size(0) == q.size(0), "attnkit_torch: q has batch ", q.size(0), " but k has ", k.size(0));
  ATTNKIT_TORCH_CHECK(k.size(3) == q.size(3), "attnkit_torch: q has head_dim ", q.size(3), " but k has ", k.size(3));
  attnkit::AttentionProblem p;
  p.dtype = q.scalar_type() == at::kBFloat16 ? attnkit::DType::bf16 : attnkit::DType::f16;
  p.batch = static_cast<int>(q.size(0));
  p.heads_q = static_cast<int>(q.size(1));
  p.heads_kv = static_cast<int>(k.size(1));
  p.seqlen_q = static_cast<int>(q.size(2));
  p.seqlen_k = static_cast<int>(k.size(2));
  p.head_dim = static_cast<int>(q.size(3));
  p.q = tensor_ref_bhsd(q);
  p.k = tensor_ref_bhsd(k);
  p.v = tensor_ref_bhsd(v);
  p.o = tensor_ref_bhsd(o);
  p.lse = lse.data_ptr<float>();
  p.lse_head_stride = p.seqlen_q;
  p.lse_batch_stride = int64_t(p.heads_q) * p.seqlen_q;
  p.softmax_scale = static_cast<float>(softmax_scale);

  switch (static_cast<ScoreModKind>(score_mod)) {
    case ScoreModKind::none:
      break;
    case ScoreModKind::softcap:
      ATTNKIT_TORCH_CHECK(softcap > 0.0, "attnkit_torch: softcap = ", softcap, " must be positive");
      mod = {ScoreModKind::softcap, static_cast<float>(softcap), nullptr};
      break;
    case ScoreModKind::alibi: {
      ATTNKIT_TORCH_CHECK(alibi_slopes.has_value(), "attnkit_torch: score_mod 'alibi' needs alibi_slopes");
      const at::Tensor& slopes = *alibi_slopes;
      ATTNKIT_TORCH_CHECK(slopes.device() == q.device() && slopes.scalar_type() == at::kFloat && slopes.is_contiguous() &&
                      slopes.dim() == 1 && slopes.size(0) == p.heads_q,
                  "attnkit_torch: alibi_slopes must be a contiguous float32 tensor of shape (heads,) = (", p.heads_q,
                  ",) on q's device, got ", slopes.scalar_type(), " ", slopes.sizes(), " on ", slopes.device());
      mod = {ScoreModKind::alibi, 0.f, slopes.data_ptr<float>()};
      break;
    }
    default:
      ATTNKIT_TORCH_CHECK(false, "attnkit_torch: score_mod kind ", score_mod, " is not one of none, softcap, alibi");
  }
  run([&] { attnkit::validate_problem(p, p.dtype, p.head_dim); });  // see run() for why here
  return p;
}

// Returns the mask's eight lists: full_counts, full_indices, partial_counts, partial_indices
// (per query block) and full_q_counts, full_q_indices, partial_q_counts, partial_q_indices (per
// key block), int32 on `device_index`, shaped (batches, heads, blocks[, blocks]).
std::vector<at::Tensor> build_block_mask_lists(int64_t pattern_kind, int64_t q_len, int64_t kv_len, int64_t batches,
                                               int64_t heads, int64_t block_m, int64_t block_n, int64_t window,
                                               int64_t globals, int64_t stride, bool causal,
                                               std::optional<at::Tensor> document_ids,
                                               std::optional<at::Tensor> dense_blocks, int64_t device_index) {
  const at::Device device(at::kCUDA, static_cast<c10::DeviceIndex>(device_index));
  const c10::cuda::CUDAGuard guard(device);
  ATTNKIT_TORCH_CHECK(q_len > 0 && kv_len > 0, "attnkit_torch: q_len = ", q_len, " and kv_len = ", kv_len,
              " must be positive");
  ATTNKIT_TORCH_CHECK(batches > 0 && heads > 0, "attnkit_torch: block mask batch size ", batches, " and heads ", heads,
              " must be positive");
  check_mask_blocks(block_m, block_n);
  ATTNKIT_TORCH_CHECK(pattern_kind >= 0 && pattern_kind <= static_cast<int64_t>(PatternKind::document),
              "attnkit_torch: pattern kind ", pattern_kind, " is not one of attnkit_torch's patterns");
  const int64_t q_blocks = attnkit::ceil_div(q_len, block_m), kv_blocks = attnkit::ceil_div(kv_len, block_n);
  // The builders' grids: (kv_blocks, q_blocks, entries) CTAs to classify, one per list row to compact.
  ATTNKIT_TORCH_CHECK(q_blocks <= 65535 && batches * heads <= 65535, "attnkit_torch: a block mask of ", q_blocks,
              " query blocks and ", batches * heads, " (batch, head) entries exceeds the grid limit of 65535");

  BlockMaskRequest request;
  request.pattern.kind = static_cast<PatternKind>(pattern_kind);
  request.pattern.window = static_cast<int>(window);
  request.pattern.globals = static_cast<int>(globals);
  request.pattern.stride = static_cast<int>(stride);
  request.pattern.causal = causal;
  request.pattern.key_offset = static_cast<int>(kv_len - q_len);
  check_pattern(request.pattern, document_ids, static_cast<int>(batches), static_cast<int>(q_len),
                static_cast<int>(kv_len), device);
  request.batches = static_cast<int>(batches);
  request.heads = static_cast<int>(heads);
  request.seqlen_q = static_cast<int>(q_len);
  request.seqlen_k = static_cast<int>(kv_len);
  request.block_m = static_cast<int>(block_m);
  request.block_n = static_cast<int>(block_n);
  if (request.pattern.kind == PatternKind::blocks) {
    ATTNKIT_TORCH_CHECK(dense_blocks.has_value(), "attnkit_torch: a block mask from blocks needs the boolean block tensor");
    const at::Tensor& blocks = *dense_blocks;
    const std::vector<int64_t> expected{batches, heads, q_blocks, kv_blocks};
    ATTNKIT_TORCH_CHECK(blocks.device() == device && blocks.scalar_type() == at::kBool && blocks.is_contiguous() &&
                    blocks.sizes() == c10::IntArrayRef(expected),
                "attnkit_torch: the block tensor must be a contiguous bool tensor of shape ", c10::IntArrayRef(expected),
                " on ", device, ", got ", blocks.scalar_type(), " ", blocks.sizes(), " on ", blocks.device());
    request.dense_blocks = blocks.data_ptr<bool>();
  }

  const at::TensorOptions options = at::TensorOptions().device(device).dtype(at::kInt);
  std::vector<at::Tensor> out{
      at::empty({batches, heads, q_blocks}, options),  at::empty({batches, heads, q_blocks, kv_blocks}, options),
      at::empty({batches, heads, q_blocks}, options),  at::empty({batches, heads, q_blocks, kv_blocks}, options),
      at::empty({batches, heads, kv_blocks}, options), at::empty({batches, heads, kv_blocks, q_blocks}, options),
      at::empty({batches, heads, kv_blocks}, options), at::empty({batches, heads, kv_blocks, q_blocks}, options)};
  const BlockMaskArrays lists{out[0].data_ptr<int>(), out[1].data_ptr<int>(), out[2].data_ptr<int>(),
                             out[3].data_ptr<int>(), out[4].data_ptr<int>(), out[5].data_ptr<int>(),
                             out[6].data_ptr<int>(), out[7].data_ptr<int>()};
  LaunchStatus status;
  build_block_mask(request, lists, at::cuda::getCurrentCUDAStream(), status);
  raise_if_failed(status);
  return out;
}

// Returns (out, lse): out (batch, heads_q, seqlen_q, head_dim), lse (batch, heads_q, seqlen_q).
std::vector<at::Tensor> sparse_forward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                       const pybind11::object& block_mask, double softmax_scale, int64_t score_mod,
                                       double softcap, std::optional<at::Tensor> alibi_slopes, bool allow_hopper) {
  const c10::cuda::CUDAGuard guard(q.device());
  check_input(q, "q", 4);
  at::Tensor o = at::empty_like(q, at::MemoryFormat::Contiguous);
  at::Tensor lse = at::empty({q.size(0), q.size(1), q.size(2)}, q.options().dtype(at::kFloat));
  ScoreMod mod;
  const attnkit::AttentionProblem problem =
      make_bhsd_problem(q, k, v, o, lse, softmax_scale, score_mod, softcap, alibi_slopes, mod);
  const MaskArguments mask = mask_arguments(block_mask, problem, q.device());
  const SparseKernels& kernels = sparse_kernels_for(problem.head_dim, mod.kind);
  LaunchStatus status;
  kernels.forward(problem, mask.view, mask.pattern, mod, allow_hopper, at::cuda::getCurrentCUDAStream(), status);
  raise_if_failed(status);
  return {o, lse};
}

// Returns (dq, dk, dv), shaped like q, k, v.
std::vector<at::Tensor> sparse_backward(const at::Tensor& d_out, const at::Tensor& q, const at::Tensor& k,
                                        const at::Tensor& v, const at::Tensor& o, const at::Tensor& lse,
                                        const pybind11::object& block_mask, double softmax_scale, int64_t score_mod,
                                        double softcap, std::optional<at::Tensor> alibi_slopes) {
  const c10::cuda::CUDAGuard guard(q.device());
  check_input(d_out, "dout", 4);
  ATTNKIT_TORCH_CHECK(d_out.sizes() == q.sizes(), "attnkit_torch: dout must be shaped like q ", q.sizes(), ", got ",
              d_out.sizes());
  const at::Tensor d_out_rows = d_out.stride(-1) == 1 ? d_out : d_out.contiguous();
  at::Tensor dq = at::empty_like(q, at::MemoryFormat::Contiguous);
  at::Tensor dk = at::empty_like(k, at::MemoryFormat::Contiguous);
  at::Tensor dv = at::empty_like(v, at::MemoryFormat::Contiguous);
  ScoreMod mod;
  const attnkit::AttentionProblem problem =
      make_bhsd_problem(q, k, v, o, lse, softmax_scale, score_mod, softcap, alibi_slopes, mod);
  const MaskArguments mask = mask_arguments(block_mask, problem, q.device());
  attnkit::BackwardGradients grads;
  grads.d_o = tensor_ref_bhsd(d_out_rows);
  grads.d_q = tensor_ref_bhsd(dq);
  grads.d_k = tensor_ref_bhsd(dk);
  grads.d_v = tensor_ref_bhsd(dv);
  // the gradient tensors as validate_problem checks the inputs (alignment, strides)
  run([&] {
    attnkit::detail::require_tensor(grads.d_o, "dout", false);
    attnkit::detail::require_tensor(grads.d_q, "dq", false);
    attnkit::detail::require_tensor(grads.d_k, "dk", false);
    attnkit::detail::require_tensor(grads.d_v, "dv", false);
  });
  const SparseKernels& kernels = sparse_kernels_for(problem.head_dim, mod.kind);
  LaunchStatus status;
  kernels.backward(problem, grads, mask.view, mask.pattern, mod, at::cuda::getCurrentCUDAStream(), status);
  raise_if_failed(status);
  return {dq, dk, dv};
}

std::vector<int64_t> built_head_dims() {
  std::vector<int64_t> dims;
  for (const auto& [key, unused] : registry())
    if (key.second == 0) dims.push_back(key.first);
  return dims;
}

}  // namespace
}  // namespace attnkit_torch

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &attnkit_torch::forward, "attention forward: (out, lse)");
  m.def("backward", &attnkit_torch::backward, "attention backward: (dq, dk, dv)");
  m.def("decode", &attnkit_torch::decode, "decode over a KV cache: (out, lse)");
  m.def("built_head_dims", &attnkit_torch::built_head_dims, "head dims this build holds kernels for");
  m.def("build_block_mask", &attnkit_torch::build_block_mask_lists, "block-mask lists built on the GPU");
  m.def("sparse_forward", &attnkit_torch::sparse_forward, "block-sparse attention forward: (out, lse)");
  m.def("sparse_backward", &attnkit_torch::sparse_backward, "block-sparse attention backward: (dq, dk, dv)");
}
