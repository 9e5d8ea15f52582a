#pragma once
// Standard attention on the GPU: the score matrix is materialized (O(N²) memory), as a plain
// framework implementation does, with cuBLAS GEMMs around row-wise softmax kernels. A test
// oracle and a benchmark baseline, not a fast path (docs/reference.md).
//   forward    S = scale · Q Kᵀ,  P = softmax(mask(score_mod(S))),  O = P V,  LSE
//   backward   dV = Pᵀ dO,  dP = dO Vᵀ,  D = rowsum(dO ∘ O),  dS = P ∘ (dP − D) · scale · score_mod'(S),
//              dQ = dS K,  dK = dSᵀ Q   (dK, dV summed over the query heads of a GQA group)
//   dropout    (problem.dropout) P ∘= Z/(1 − p) after the softmax; dP ∘= Z/(1 − p) before dS and
//              dV = (P ∘ Z/(1 − p))ᵀ dO, with the fused kernels' mask Z
//
// Two uses, chosen by the element type:
//   float        the GPU oracle: true fp32 GEMMs (no TF32) and fp32 S and P.
//   half, bf16   the papers' baseline: 16-bit GEMM operands with fp32 accumulation, and S, P, dP
//                and dS stored in the 16-bit type.
//
// Memory: S (and P, dP in the backward) for a whole batch entry would take
// heads · s_q · s_k elements each; the work is split into chunks of query heads so that the
// workspace stays within a byte budget (at least one head is always processed, whatever the
// budget). The workspace is owned by the object, grows on demand and is reused across calls.
//
// Usage:
//   attnkit::reference::StandardAttention<attnkit::bfloat16_t> attention;
//   attention.forward(problem, stream);                         // writes problem.o (and lse)
//   attention.backward(problem, d_out, d_q, d_k, d_v, stream);  // needs problem.o from forward
//
// Calls on one object must not overlap (they share the workspace and the cuBLAS handle). With
// varlen, cu_seqlens are copied to the host, which synchronizes `stream`.

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include <cuda_runtime_api.h>

#include "../attention/problem.cuh"
#include "../core/element.cuh"
#include "../core/error.cuh"
#include "../mask/variant.cuh"
#include "standard_gemm.cuh"
#include "standard_softmax.cuh"

namespace attnkit::reference {

// Sets `rows` consecutive values of each head (one block per head) to `value`.
template <class T>
__global__ void fill_rows(T* data, int64_t head_stride, int rows, T value) {
  for (int r = threadIdx.x; r < rows; r += blockDim.x) data[blockIdx.x * head_stride + r] = value;
}

template <class Element>
class StandardAttention {
  static_assert(std::is_same_v<Element, float> || std::is_same_v<Element, half_t> ||
                    std::is_same_v<Element, bfloat16_t>,
                "StandardAttention runs on float, half_t or bfloat16_t");

 public:
  static constexpr std::size_t kDefaultWorkspaceBudget = std::size_t(4) << 30;

  explicit StandardAttention(std::size_t workspace_budget_bytes = kDefaultWorkspaceBudget)
      : budget_(workspace_budget_bytes) {}
  ~StandardAttention() { release_workspace(); }
  StandardAttention(const StandardAttention&) = delete;
  StandardAttention& operator=(const StandardAttention&) = delete;

  // Writes problem.o and, when problem.lse is set, the LSE (natural log; -inf for a row the
  // mask empties, whose output is 0).
  template <class Variant = NoVariant>
  void forward(const AttentionProblem& problem, cudaStream_t stream = nullptr, const Variant& variant = Variant{});

  // Writes d_q (strides like problem.q), d_k and d_v (like problem.k / problem.v) from d_out
  // (like problem.o). P is recomputed; problem.o must hold this forward's output (it gives D).
  template <class Variant = NoVariant>
  void backward(const AttentionProblem& problem, const TensorRef& d_out, const TensorRef& d_q, const TensorRef& d_k,
                const TensorRef& d_v, cudaStream_t stream = nullptr, const Variant& variant = Variant{});

  std::size_t workspace_budget() const { return budget_; }
  std::size_t workspace_allocated() const { return workspace_bytes_; }
  void release_workspace() {
    if (workspace_ != nullptr) cudaFree(workspace_);  // may run in a destructor: not checked
    workspace_ = nullptr;
    workspace_bytes_ = 0;
  }

 private:
  // One batch entry: its lengths and the first row of its Q and K in the (packed, with
  // varlen) tensors. Dense entries are reached through batch strides instead.
  struct BatchEntry {
    int index = 0;
    int seqlen_q = 0, seqlen_k = 0;
    int64_t q_row_begin = 0, k_row_begin = 0;  // varlen only
    bool empty() const { return seqlen_q == 0 || seqlen_k == 0; }
  };

  // A varlen entry with no queries or no keys computes nothing: its query rows get O = 0 and
  // LSE = -inf (every key masked), and its gradients are zero.
  template <class T>
  static void zero_rows(T* first_row, const TensorRef& tensor, int rows, int heads, int head_dim,
                        cudaStream_t stream) {
    if (rows == 0) return;
    for (int h = 0; h < heads; ++h)
      ATTNKIT_CUDA_CHECK(cudaMemset2DAsync(first_row + h * tensor.head_stride, tensor.row_stride * sizeof(T), 0,
                                           head_dim * sizeof(T), rows, stream));
  }

  // The byte offsets of one chunk's matrices in the workspace, each 256-byte aligned.
  struct ChunkLayout {
    std::size_t probs = 0, d_probs = 0, raw_scores = 0, row_dot = 0, total = 0;
  };

  static constexpr std::size_t kAlignment = 256;
  static std::size_t align(std::size_t bytes) { return (bytes + kAlignment - 1) / kAlignment * kAlignment; }

  // For `heads` heads of `entry`: probs (S then P in place); for the backward also dP (then
  // dS), the raw S when score_mod needs it for its derivative, and D.
  static ChunkLayout chunk_layout(const BatchEntry& entry, int heads, bool backward, bool keep_raw_scores) {
    const std::size_t matrix = align(std::size_t(heads) * entry.seqlen_q * entry.seqlen_k * sizeof(Element));
    ChunkLayout layout;
    layout.probs = 0;
    layout.total = matrix;
    if (backward) {
      layout.d_probs = layout.total;
      layout.total += matrix;
      if (keep_raw_scores) {
        layout.raw_scores = layout.total;
        layout.total += matrix;
      }
      layout.row_dot = layout.total;
      layout.total += align(std::size_t(heads) * entry.seqlen_q * sizeof(float));
    }
    return layout;
  }

  // Query heads per chunk: as many as fit the budget, at least one.
  int heads_per_chunk(const AttentionProblem& problem, const BatchEntry& entry, bool backward,
                      bool keep_raw_scores) const {
    const std::size_t per_head = chunk_layout(entry, 1, backward, keep_raw_scores).total;
    return static_cast<int>(std::clamp<std::size_t>(budget_ / per_head, 1, std::size_t(problem.heads_q)));
  }

  template <class T>
  static T* entry_data(const TensorRef& tensor, const BatchEntry& entry, bool is_query, bool varlen) {
    const int64_t offset = varlen ? (is_query ? entry.q_row_begin : entry.k_row_begin) * tensor.row_stride
                                  : entry.index * tensor.batch_stride;
    return static_cast<T*>(tensor.data) + offset;
  }

  std::vector<BatchEntry> batch_entries(const AttentionProblem& problem, cudaStream_t stream) const;
  void reserve_workspace(const AttentionProblem& problem, const std::vector<BatchEntry>& entries, bool backward,
                         bool keep_raw_scores);
  static void validate(const AttentionProblem& problem);
  static void validate_tensor(const TensorRef& tensor, const char* name, int head_dim);

  // Calls fn(first_head, count, position) for each "lane" of the query heads [begin, end): the
  // heads with the same position in their GQA group, which read consecutive K/V heads and so
  // form one strided batch for cuBLAS. Lanes come in position order, so a lane at position 0
  // is the first to touch its K/V heads (it overwrites dK, dV; later lanes accumulate).
  template <class Fn>
  static void for_each_lane(int begin, int end, int group, Fn&& fn) {
    for (int position = 0; position < group; ++position) {
      const int first = begin + ((position - begin % group) % group + group) % group;
      if (first >= end) continue;
      fn(first, (end - first + group - 1) / group, position);
    }
  }

  CublasHandle cublas_;
  std::size_t budget_;
  void* workspace_ = nullptr;
  std::size_t workspace_bytes_ = 0;
};

// ---------------------------------------------------------------------------------------------

template <class Element>
void StandardAttention<Element>::validate_tensor(const TensorRef& tensor, const char* name, int head_dim) {
  require(tensor.data != nullptr, "StandardAttention: ", name, ".data is null");
  require(tensor.row_stride >= head_dim && tensor.row_stride <= INT_MAX, "StandardAttention: ", name,
          ".row_stride = ", tensor.row_stride, " must be in [head_dim = ", head_dim, ", INT_MAX]");
  require(tensor.head_stride >= 0 && tensor.batch_stride >= 0, "StandardAttention: ", name,
          " has a negative stride (head_stride = ", tensor.head_stride, ", batch_stride = ", tensor.batch_stride,
          ")");
}

template <class Element>
void StandardAttention<Element>::validate(const AttentionProblem& problem) {
  if constexpr (!std::is_same_v<Element, float>) {
    require(problem.dtype == ElementTraits<Element>::dtype, "StandardAttention<", ElementTraits<Element>::name,
            ">: problem.dtype = ", dtype_name(problem.dtype));
  }
  require(problem.batch > 0, "StandardAttention: batch = ", problem.batch, " must be positive");
  require(problem.heads_q > 0 && problem.heads_kv > 0, "StandardAttention: heads_q = ", problem.heads_q,
          ", heads_kv = ", problem.heads_kv, " must be positive");
  require(problem.heads_q % problem.heads_kv == 0, "StandardAttention: heads_q = ", problem.heads_q,
          " is not a multiple of heads_kv = ", problem.heads_kv);
  require(problem.head_dim > 0, "StandardAttention: head_dim = ", problem.head_dim, " must be positive");
  require(problem.varlen() == (problem.cu_seqlens_k != nullptr),
          "StandardAttention: cu_seqlens_q and cu_seqlens_k must be given together");
  if (!problem.varlen())
    require(problem.seqlen_q > 0 && problem.seqlen_k > 0, "StandardAttention: seqlen_q = ", problem.seqlen_q,
            ", seqlen_k = ", problem.seqlen_k, " must be positive");
  const float scale = problem.effective_scale();
  require(std::isfinite(scale), "StandardAttention: softmax_scale = ", problem.softmax_scale, " is not finite");
  validate_tensor(problem.q, "q", problem.head_dim);
  validate_tensor(problem.k, "k", problem.head_dim);
  validate_tensor(problem.v, "v", problem.head_dim);
  validate_tensor(problem.o, "o", problem.head_dim);
}

template <class Element>
auto StandardAttention<Element>::batch_entries(const AttentionProblem& problem, cudaStream_t stream) const
    -> std::vector<BatchEntry> {
  std::vector<BatchEntry> entries(problem.batch);
  if (!problem.varlen()) {
    for (int b = 0; b < problem.batch; ++b) entries[b] = {b, problem.seqlen_q, problem.seqlen_k, 0, 0};
    return entries;
  }
  std::vector<int> cu_q(problem.batch + 1), cu_k(problem.batch + 1);
  const std::size_t bytes = cu_q.size() * sizeof(int);
  ATTNKIT_CUDA_CHECK(cudaMemcpyAsync(cu_q.data(), problem.cu_seqlens_q, bytes, cudaMemcpyDeviceToHost, stream));
  ATTNKIT_CUDA_CHECK(cudaMemcpyAsync(cu_k.data(), problem.cu_seqlens_k, bytes, cudaMemcpyDeviceToHost, stream));
  ATTNKIT_CUDA_CHECK(cudaStreamSynchronize(stream));
  require(cu_q[0] == 0 && cu_k[0] == 0, "StandardAttention: cu_seqlens start at (", cu_q[0], ", ", cu_k[0],
          "), not 0");
  for (int b = 0; b < problem.batch; ++b) {
    const int length_q = cu_q[b + 1] - cu_q[b], length_k = cu_k[b + 1] - cu_k[b];
    require(length_q >= 0 && length_k >= 0, "StandardAttention: batch entry ", b, " has seqlen_q = ", length_q,
            ", seqlen_k = ", length_k, " (from cu_seqlens); cu_seqlens must not decrease");
    entries[b] = {b, length_q, length_k, cu_q[b], cu_k[b]};
  }
  return entries;
}

template <class Element>
void StandardAttention<Element>::reserve_workspace(const AttentionProblem& problem,
                                                   const std::vector<BatchEntry>& entries, bool backward,
                                                   bool keep_raw_scores) {
  std::size_t needed = 0;
  for (const BatchEntry& entry : entries) {
    if (entry.empty()) continue;
    const int heads = heads_per_chunk(problem, entry, backward, keep_raw_scores);
    needed = std::max(needed, chunk_layout(entry, heads, backward, keep_raw_scores).total);
  }
  if (needed <= workspace_bytes_) return;
  release_workspace();
  const cudaError_t status = cudaMalloc(&workspace_, needed);
  if (status != cudaSuccess) {
    cudaGetLastError();  // clear the (non-sticky) allocation error so later calls start clean
    workspace_ = nullptr;
    ::attnkit::detail::fail("StandardAttention: cannot allocate a ", needed, "-byte workspace for the O(N^2) score matrix (",
                 cudaGetErrorName(status), "); lower the budget (now ", budget_, " bytes) or the sequence length");
  }
  workspace_bytes_ = needed;
}

template <class Element>
template <class Variant>
void StandardAttention<Element>::forward(const AttentionProblem& problem, cudaStream_t stream,
                                         const Variant& variant) {
  validate(problem);
  const std::vector<BatchEntry> entries = batch_entries(problem, stream);
  reserve_workspace(problem, entries, /*backward=*/false, /*keep_raw_scores=*/false);
  ATTNKIT_CUBLAS_CHECK(cublasSetStream(cublas_.get(), stream));

  const bool varlen = problem.varlen();
  const int group = problem.heads_q / problem.heads_kv;
  const float scale = problem.effective_scale();
  for (const BatchEntry& entry : entries) {
    const int sq = entry.seqlen_q, sk = entry.seqlen_k;
    const int64_t matrix = int64_t(sq) * sk;
    const auto* q = entry_data<const Element>(problem.q, entry, true, varlen);
    const auto* k = entry_data<const Element>(problem.k, entry, false, varlen);
    const auto* v = entry_data<const Element>(problem.v, entry, false, varlen);
    auto* o = entry_data<Element>(problem.o, entry, true, varlen);
    float* lse = problem.lse == nullptr ? nullptr
                 : varlen               ? problem.lse + entry.q_row_begin
                                        : problem.lse + entry.index * problem.lse_batch_stride;
    if (entry.empty()) {
      zero_rows(o, problem.o, sq, problem.heads_q, problem.head_dim, stream);
      if (lse != nullptr && sq > 0) {
        fill_rows<<<problem.heads_q, 256, 0, stream>>>(lse, problem.lse_head_stride, sq,
                                                       -std::numeric_limits<float>::infinity());
        ATTNKIT_CUDA_CHECK(cudaGetLastError());
      }
      continue;
    }
    const int chunk = heads_per_chunk(problem, entry, false, false);
    auto* probs = static_cast<Element*>(workspace_);

    for (int begin = 0; begin < problem.heads_q; begin += chunk) {
      const int end = std::min(problem.heads_q, begin + chunk);
      for_each_lane(begin, end, group, [&](int first, int count, int) {
        const auto S = row_major(probs + (first - begin) * matrix, sk, group * matrix);
        const auto Q = row_major(q + first * problem.q.head_stride, problem.q.row_stride, group * problem.q.head_stride);
        const auto K_t = transposed(k + first / group * problem.k.head_stride, problem.k.row_stride, problem.k.head_stride);
        gemm_row_major<Element>(cublas_.get(), sq, sk, problem.head_dim, scale, Q, K_t, 0.f, S, count);
      });

      const ScoreRows rows{entry.index, begin, end - begin, sq, sk};
      row_softmax<Element>(probs, probs, rows, problem.band, variant, lse, problem.lse_head_stride, stream);
      if (problem.dropout.enabled()) apply_dropout<Element>(probs, rows, problem.dropout, problem.heads_q, stream);

      for_each_lane(begin, end, group, [&](int first, int count, int) {
        const auto P = row_major<const Element>(probs + (first - begin) * matrix, sk, group * matrix);
        const auto V = row_major(v + first / group * problem.v.head_stride, problem.v.row_stride, problem.v.head_stride);
        const auto O = row_major(o + first * problem.o.head_stride, problem.o.row_stride, group * problem.o.head_stride);
        gemm_row_major<Element>(cublas_.get(), sq, problem.head_dim, sk, 1.f, P, V, 0.f, O, count);
      });
    }
  }
}

template <class Element>
template <class Variant>
void StandardAttention<Element>::backward(const AttentionProblem& problem, const TensorRef& d_out,
                                          const TensorRef& d_q, const TensorRef& d_k, const TensorRef& d_v,
                                          cudaStream_t stream, const Variant& variant) {
  validate(problem);
  validate_tensor(d_out, "d_out", problem.head_dim);
  validate_tensor(d_q, "d_q", problem.head_dim);
  validate_tensor(d_k, "d_k", problem.head_dim);
  validate_tensor(d_v, "d_v", problem.head_dim);
  constexpr bool keep_raw_scores = Variant::has_score_mod;
  const std::vector<BatchEntry> entries = batch_entries(problem, stream);
  reserve_workspace(problem, entries, /*backward=*/true, keep_raw_scores);
  ATTNKIT_CUBLAS_CHECK(cublasSetStream(cublas_.get(), stream));

  const bool varlen = problem.varlen();
  const int group = problem.heads_q / problem.heads_kv;
  const int head_dim = problem.head_dim;
  const float scale = problem.effective_scale();
  for (const BatchEntry& entry : entries) {
    const int sq = entry.seqlen_q, sk = entry.seqlen_k;
    const int64_t matrix = int64_t(sq) * sk;
    const auto* q = entry_data<const Element>(problem.q, entry, true, varlen);
    const auto* k = entry_data<const Element>(problem.k, entry, false, varlen);
    const auto* v = entry_data<const Element>(problem.v, entry, false, varlen);
    const auto* o = entry_data<const Element>(problem.o, entry, true, varlen);
    const auto* d_o = entry_data<const Element>(d_out, entry, true, varlen);
    auto* dq = entry_data<Element>(d_q, entry, true, varlen);
    auto* dk = entry_data<Element>(d_k, entry, false, varlen);
    auto* dv = entry_data<Element>(d_v, entry, false, varlen);
    if (entry.empty()) {
      zero_rows(dq, d_q, sq, problem.heads_q, head_dim, stream);
      zero_rows(dk, d_k, sk, problem.heads_kv, head_dim, stream);
      zero_rows(dv, d_v, sk, problem.heads_kv, head_dim, stream);
      continue;
    }

    const int chunk = heads_per_chunk(problem, entry, true, keep_raw_scores);
    const ChunkLayout layout = chunk_layout(entry, chunk, true, keep_raw_scores);
    auto* base = static_cast<unsigned char*>(workspace_);
    auto* probs = reinterpret_cast<Element*>(base + layout.probs);
    auto* d_probs = reinterpret_cast<Element*>(base + layout.d_probs);
    auto* raw_scores = keep_raw_scores ? reinterpret_cast<Element*>(base + layout.raw_scores) : probs;
    auto* row_dot = reinterpret_cast<float*>(base + layout.row_dot);

    for (int begin = 0; begin < problem.heads_q; begin += chunk) {
      const int end = std::min(problem.heads_q, begin + chunk);
      const auto q_lane = [&](const Element* data, const TensorRef& t, int first) {
        return row_major(data + first * t.head_stride, t.row_stride, group * t.head_stride);
      };
      const auto kv_lane = [&](const Element* data, const TensorRef& t, int first) {
        return row_major(data + first / group * t.head_stride, t.row_stride, t.head_stride);
      };
      const auto score_lane = [&](Element* data, int first) {
        return row_major(data + (first - begin) * matrix, sk, group * matrix);
      };
      const auto as_transposed = [](auto batch) {
        batch.transposed = true;
        return batch;
      };
      const auto as_const = [](RowMajorBatch<Element> batch) {
        return RowMajorBatch<const Element>{batch.data, batch.row_stride, batch.batch_stride, batch.transposed};
      };

      // Recompute P (keeping the unmodified S apart when score_mod' needs it).
      for_each_lane(begin, end, group, [&](int first, int count, int) {
        gemm_row_major<Element>(cublas_.get(), sq, sk, head_dim, scale, q_lane(q, problem.q, first),
                                as_transposed(kv_lane(k, problem.k, first)), 0.f, score_lane(raw_scores, first),
                                count);
      });
      const ScoreRows rows{entry.index, begin, end - begin, sq, sk};
      row_softmax<Element>(raw_scores, probs, rows, problem.band, variant, nullptr, 0, stream);
      output_row_dot<Element>(HeadRows<const Element>{d_o, d_out.row_stride, d_out.head_stride},
                              HeadRows<const Element>{o, problem.o.row_stride, problem.o.head_stride}, rows,
                              head_dim, row_dot, stream);

      // dP = dO Vᵀ (∘ Z/(1 − p) with dropout), then dS.
      for_each_lane(begin, end, group, [&](int first, int count, int) {
        gemm_row_major<Element>(cublas_.get(), sq, sk, head_dim, 1.f, q_lane(d_o, d_out, first),
                                as_transposed(kv_lane(v, problem.v, first)), 0.f, score_lane(d_probs, first), count);
      });
      if (problem.dropout.enabled()) apply_dropout<Element>(d_probs, rows, problem.dropout, problem.heads_q, stream);
      softmax_backward<Element>(probs, d_probs, raw_scores, row_dot, scale, rows, variant, stream);

      // dV (+)= (P ∘ Z/(1 − p))ᵀ dO: P is dropped in place once dS no longer needs it.
      if (problem.dropout.enabled()) apply_dropout<Element>(probs, rows, problem.dropout, problem.heads_q, stream);
      for_each_lane(begin, end, group, [&](int first, int count, int position) {
        const float accumulate = position == 0 ? 0.f : 1.f;
        gemm_row_major<Element>(cublas_.get(), sk, head_dim, sq, 1.f, as_transposed(as_const(score_lane(probs, first))),
                                q_lane(d_o, d_out, first), accumulate,
                                row_major(dv + first / group * d_v.head_stride, d_v.row_stride, d_v.head_stride),
                                count);
      });

      // dQ = dS K and dK (+)= dSᵀ Q.
      for_each_lane(begin, end, group, [&](int first, int count, int position) {
        const float accumulate = position == 0 ? 0.f : 1.f;
        const auto dS = as_const(score_lane(d_probs, first));
        gemm_row_major<Element>(cublas_.get(), sq, head_dim, sk, 1.f, dS, kv_lane(k, problem.k, first), 0.f,
                                row_major(dq + first * d_q.head_stride, d_q.row_stride, group * d_q.head_stride),
                                count);
        gemm_row_major<Element>(cublas_.get(), sk, head_dim, sq, 1.f, as_transposed(dS), q_lane(q, problem.q, first),
                                accumulate,
                                row_major(dk + first / group * d_k.head_stride, d_k.row_stride, d_k.head_stride),
                                count);
      });
    }
  }
}

}  // namespace attnkit::reference
