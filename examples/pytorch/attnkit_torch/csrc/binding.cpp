// The torch side of the extension: tensor checks, the AttentionProblem built from tensor
// strides, the current CUDA stream, and the kernels from the registry (kernels.h). Every
// attnkit::error reaches Python as a RuntimeError with attnkit's message.

#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/extension.h>

#include <attnkit/attention/validate.cuh>

#include "kernels.h"

namespace attnkit_torch {

std::map<std::pair<int, int>, Kernels>& registry() {
  static std::map<std::pair<int, int>, Kernels> kernels;
  return kernels;
}

namespace {

const Kernels& kernels_for(int head_dim, ScoreModKind kind) {
  const auto found = registry().find({head_dim, static_cast<int>(kind)});
  if (found == registry().end()) {
    std::ostringstream built;
    for (const auto& [key, unused] : registry())
      if (key.second == static_cast<int>(kind)) built << " " << key.first;
    TORCH_CHECK(false, "attnkit_torch: head_dim = ", head_dim, " is not built into this extension (built:",
                built.str(), "); set ATTNKIT_TORCH_HEAD_DIMS before the first import to build it");
  }
  return found->second;
}

// Runs `launch`, handing attnkit's errors (attnkit::error, a std::runtime_error) to Python as
// torch's c10::Error (a RuntimeError there). Measured on the H200 machine with PyTorch 2.11: an
// attnkit::error thrown inside the nvcc-compiled kernel units crashed the interpreter, while
// errors raised in this file reach Python; so make_problem runs attnkit's validation here, and
// what the kernel units can still throw (an allocation or launch failure) remains a crash.
template <class Launch>
void run(Launch&& launch) {
  try {
    launch();
  } catch (const c10::Error&) {
    throw;
  } catch (const std::exception& e) {
    TORCH_CHECK(false, e.what());
  }
}

void check_input(const at::Tensor& t, const char* name, int64_t dims) {
  TORCH_CHECK(t.is_cuda(), "attnkit_torch: ", name, " must be a CUDA tensor");
  TORCH_CHECK(t.scalar_type() == at::kHalf || t.scalar_type() == at::kBFloat16, "attnkit_torch: ", name,
              " has dtype ", t.scalar_type(), "; float16 and bfloat16 are supported");
  TORCH_CHECK(t.dim() == dims, "attnkit_torch: ", name, " must have ", dims, " dimensions, got shape ", t.sizes());
  TORCH_CHECK(t.stride(-1) == 1, "attnkit_torch: ", name, " must be contiguous in its last (head_dim) dimension");
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
  TORCH_CHECK(k.scalar_type() == q.scalar_type() && v.scalar_type() == q.scalar_type(),
              "attnkit_torch: q, k, v must share a dtype (got ", q.scalar_type(), ", ", k.scalar_type(), ", ",
              v.scalar_type(), ")");
  TORCH_CHECK(k.sizes() == v.sizes(), "attnkit_torch: k and v must have the same shape, got ", k.sizes(), " and ",
              v.sizes());
  attnkit::AttentionProblem p;
  p.dtype = q.scalar_type() == at::kBFloat16 ? attnkit::DType::bf16 : attnkit::DType::f16;
  p.head_dim = static_cast<int>(q.size(-1));
  p.heads_q = static_cast<int>(q.size(-2));
  p.heads_kv = static_cast<int>(k.size(-2));
  TORCH_CHECK(k.size(-1) == q.size(-1), "attnkit_torch: q has head_dim ", q.size(-1), " but k has ", k.size(-1));
  if (varlen) {
    TORCH_CHECK(options.cu_seqlens_k.has_value(), "attnkit_torch: cu_seqlens_k is missing");
    const at::Tensor& cu_q = *options.cu_seqlens_q;
    const at::Tensor& cu_k = *options.cu_seqlens_k;
    for (const at::Tensor* cu : {&cu_q, &cu_k}) {
      TORCH_CHECK(cu->is_cuda() && cu->scalar_type() == at::kInt && cu->dim() == 1 && cu->is_contiguous(),
                  "attnkit_torch: cu_seqlens must be contiguous 1-D int32 CUDA tensors");
    }
    TORCH_CHECK(cu_q.size(0) == cu_k.size(0) && cu_q.size(0) >= 2,
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
    TORCH_CHECK(k.size(0) == q.size(0), "attnkit_torch: q has batch ", q.size(0), " but k has ", k.size(0));
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

  TORCH_CHECK(!(options.softcap > 0.0 && options.alibi_slopes.has_value()),
              "attnkit_torch: softcap and alibi_slopes together are not supported");
  if (options.alibi_slopes.has_value()) {
    const at::Tensor& slopes = *options.alibi_slopes;
    TORCH_CHECK(slopes.is_cuda() && slopes.scalar_type() == at::kFloat && slopes.is_contiguous() &&
                    slopes.dim() == 1 && slopes.size(0) == p.heads_q,
                "attnkit_torch: alibi_slopes must be a contiguous float32 CUDA tensor of shape (nheads,) = (",
                p.heads_q, ",), got ", slopes.scalar_type(), " ", slopes.sizes());
    mod = {ScoreModKind::alibi, 0.f, slopes.data_ptr<float>()};
  } else if (options.softcap > 0.0) {
    mod = {ScoreModKind::softcap, static_cast<float>(options.softcap), nullptr};
  }
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
  run([&] { kernels.forward(problem, mod, at::cuda::getCurrentCUDAStream()); });
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
  TORCH_CHECK(d_out.sizes() == q.sizes(), "attnkit_torch: dout must be shaped like q ", q.sizes(), ", got ",
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
  run([&] { kernels.backward(problem, grads, mod, at::cuda::getCurrentCUDAStream()); });
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
  m.def("built_head_dims", &attnkit_torch::built_head_dims, "head dims this build holds kernels for");
}
