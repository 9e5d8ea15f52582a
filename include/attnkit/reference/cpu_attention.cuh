#pragma once
// The exact oracle: softmax attention, forward and backward, in float64 on the CPU, with the
// same masking, variant and GQA rules the kernels follow. A test oracle, not a fast path: part
// of the reference API (docs/reference.md) for testing kernels, attnkit's own or a user's.
// Every kernel test compares against it; with the RoundedLike policy it also plays "a plain
// bf16/fp16 implementation", whose error against the exact result sets the tolerance a kernel
// must meet: at most twice that error plus a small slack (docs/reference.md, "Which oracle for
// what").
//
// Layout: packed rows, float64. Q, O, dQ: (total_q, heads_q, head_dim); K, V, dK, dV:
// (total_k, heads_kv, head_dim), all row-major. Batch entry b owns the rows that start at the
// sum of the lengths before b, so a dense shape is exactly BSHD. LSE: (heads_q, total_q),
// natural log, lse[h * total_q + offset_q(b) + i] (the varlen LSE layout of the kernels).
//
// Definitions, for entry b, query head h, kv head h / (heads_q / heads_kv), positions i, j:
//   s_ij  = score_mod(scale · q_i·k_j, b, h, i, j)           (identity without score_mod)
//   kept  = band.keep(i, j, s_q, s_k) && mask_mod(b, h, i, j) && s_ij != -inf
//   P     = softmax of row i over the kept elements;  O = P V;  LSE_i = log Σ_kept exp(s_ij)
// A row that keeps nothing has O_i = 0, LSE_i = -inf and contributes no gradient.
// Dropout (Shape::dropout set): O = (P ∘ Z) V with Z_ij = dropout(b, h, i, j), 0 for a dropped
// element and 1/(1 − p) for a kept one; LSE is the undropped softmax's.
// Backward, with D_i = dO_i·O_i:
//   dS_ij = P_ij (Z_ij dO_i·v_j - D_i) · score_mod_grad(scale · q_i·k_j, b, h, i, j) · scale
//   dQ = dS K,  dK = dSᵀ Q,  dV = (P ∘ Z)ᵀ dO,  dK and dV summed over the query heads of a group.
//
// Work is spread over std::thread by blocks of rows; sequences of a few thousand keys take
// seconds, not minutes.

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <mutex>
#include <thread>
#include <vector>

#include "../core/element.cuh"
#include "../core/error.cuh"
#include "../core/fp8.cuh"
#include "../core/math.cuh"
#include "../mask/band.cuh"
#include "../mask/variant.cuh"

namespace attnkit::reference {

// One problem in the reference's own layout. seqlens_q / seqlens_k hold one length per batch
// entry (all equal for a dense batch); a length may be 0.
struct Shape {
  int batch = 0;
  int heads_q = 0;
  int heads_kv = 0;
  int head_dim = 0;
  std::vector<int> seqlens_q, seqlens_k;
  double softmax_scale = 0.0;  // 0 means 1/sqrt(head_dim)
  BandMask band = BandMask::none();
  // Dropout: the factor Z_ij of element (entry b, query head h, query i, key j), 0 when dropped
  // and 1/(1 − p) when kept. Empty: no dropout.
  std::function<double(int b, int h, int i, int j)> dropout;

  static Shape dense(int batch, int heads_q, int heads_kv, int seqlen_q, int seqlen_k, int head_dim,
                     BandMask band = BandMask::none(), double softmax_scale = 0.0);
  // Batch size is the number of lengths given.
  static Shape varlen(int heads_q, int heads_kv, int head_dim, std::vector<int> seqlens_q,
                      std::vector<int> seqlens_k, BandMask band = BandMask::none(), double softmax_scale = 0.0);

  double scale() const { return softmax_scale != 0.0 ? softmax_scale : 1.0 / std::sqrt(double(head_dim)); }
  int group_size() const { return heads_q / heads_kv; }
  int kv_head(int head_q) const { return head_q / group_size(); }

  int seqlen_q(int b) const { return seqlens_q[b]; }
  int seqlen_k(int b) const { return seqlens_k[b]; }
  int64_t offset_q(int b) const { return prefix(seqlens_q, b); }
  int64_t offset_k(int b) const { return prefix(seqlens_k, b); }
  int64_t total_q() const { return prefix(seqlens_q, batch); }
  int64_t total_k() const { return prefix(seqlens_k, batch); }
  // The longest sequences (what AttentionProblem::seqlen_q / seqlen_k hold with varlen).
  int max_seqlen_q() const { return seqlens_q.empty() ? 0 : *std::max_element(seqlens_q.begin(), seqlens_q.end()); }
  int max_seqlen_k() const { return seqlens_k.empty() ? 0 : *std::max_element(seqlens_k.begin(), seqlens_k.end()); }
  // batch + 1 prefix offsets, as the kernels' cu_seqlens arrays hold them.
  std::vector<int> cu_seqlens_q() const { return prefixes(seqlens_q); }
  std::vector<int> cu_seqlens_k() const { return prefixes(seqlens_k); }

  // Element counts of the tensors.
  std::size_t q_size() const { return std::size_t(total_q()) * heads_q * head_dim; }
  std::size_t kv_size() const { return std::size_t(total_k()) * heads_kv * head_dim; }
  std::size_t lse_size() const { return std::size_t(total_q()) * heads_q; }

  // Flat indices (each walks the lengths before b; hoist them out of hot loops).
  std::size_t q_index(int b, int row, int head, int d) const {
    return (std::size_t(offset_q(b) + row) * heads_q + head) * head_dim + d;
  }
  std::size_t kv_index(int b, int row, int head_kv, int d) const {
    return (std::size_t(offset_k(b) + row) * heads_kv + head_kv) * head_dim + d;
  }
  std::size_t lse_index(int b, int head, int row) const {
    return std::size_t(head) * total_q() + offset_q(b) + row;
  }

  // Throws attnkit::error naming the first inconsistent value.
  void validate() const;

 private:
  static int64_t prefix(const std::vector<int>& lengths, int count) {
    int64_t sum = 0;
    for (int b = 0; b < count; ++b) sum += lengths[b];
    return sum;
  }
  static std::vector<int> prefixes(const std::vector<int>& lengths) {
    std::vector<int> offsets(lengths.size() + 1, 0);
    for (std::size_t b = 0; b < lengths.size(); ++b) offsets[b + 1] = offsets[b] + lengths[b];
    return offsets;
  }
};

// Rounding policies. The reference computes in float64 and asks the policy to round at the
// three places where a plain same-precision implementation (S = QKᵀ, softmax, O = PV, each
// stored in the element type) loses precision. prob gets a row's exp(s − max), in (0, 1], and
// the row's sum of them, and returns the probability that multiplies V.
struct ExactArithmetic {
  double score(double raw_dot) const { return raw_dot; }                // q·k before scaling
  double prob(double e, double row_sum) const { return e / row_sum; }  // P
  double output(double o) const { return o; }                           // O
};

// Rounds to Element at each of those places. Inputs are not rounded here: a test rounds Q, K,
// V to Element once and gives the same values to the kernel and to both references.
template <class Element>
struct RoundedLike {
  double score(double raw_dot) const { return round_to<Element>(static_cast<float>(raw_dot)); }
  double prob(double e, double row_sum) const { return round_to<Element>(static_cast<float>(e / row_sum)); }
  double output(double o) const { return round_to<Element>(static_cast<float>(o)); }
};

// An FP8 attention kernel's arithmetic (FlashAttention-3's): Q, K, V already quantized to Fp8
// and dequantized by the caller (quant/fp8_quantize.cuh); scores accumulated in fp32; the
// unnormalized P̃ = exp(s − max) stored in Fp8 after a static scale of 256 (2^8 keeps P̃ ≤ 1
// inside e4m3's range, 448, and on its finest steps), O = P̃·V accumulated in fp32, divided by
// 256 · the fp32 row sum of P̃, stored as Output.
template <class Fp8, class Output>
struct RoundedLikeFp8 {
  static constexpr double kProbScale = 256.0;
  double score(double raw_dot) const { return static_cast<float>(raw_dot); }
  double prob(double e, double row_sum) const {
    return round_to<Fp8>(static_cast<float>(e * kProbScale)) / (kProbScale * static_cast<float>(row_sum));
  }
  double output(double o) const { return round_to<Output>(static_cast<float>(o)); }
};

struct ForwardResult {
  std::vector<double> o;    // like q
  std::vector<double> lse;  // (heads_q, total_q)
};

struct BackwardResult {
  std::vector<double> dq;  // like q
  std::vector<double> dk;  // like k
  std::vector<double> dv;  // like v
};

template <class Variant = NoVariant, class Rounding = ExactArithmetic>
ForwardResult forward(const Shape& shape, const std::vector<double>& q, const std::vector<double>& k,
                      const std::vector<double>& v, const Variant& variant = {}, Rounding rounding = {});

// Exact arithmetic only: it recomputes O and LSE with forward() and differentiates that.
template <class Variant = NoVariant>
BackwardResult backward(const Shape& shape, const std::vector<double>& q, const std::vector<double>& k,
                        const std::vector<double>& v, const std::vector<double>& d_out, const Variant& variant = {});

// ---------------------------------------------------------------------------------------------

inline Shape Shape::dense(int batch, int heads_q, int heads_kv, int seqlen_q, int seqlen_k, int head_dim,
                          BandMask band, double softmax_scale) {
  require(batch > 0, "reference::Shape::dense: batch = ", batch, " must be positive");
  Shape shape;
  shape.batch = batch;
  shape.heads_q = heads_q;
  shape.heads_kv = heads_kv;
  shape.head_dim = head_dim;
  shape.seqlens_q.assign(batch, seqlen_q);
  shape.seqlens_k.assign(batch, seqlen_k);
  shape.softmax_scale = softmax_scale;
  shape.band = band;
  shape.validate();
  return shape;
}

inline Shape Shape::varlen(int heads_q, int heads_kv, int head_dim, std::vector<int> seqlens_q,
                           std::vector<int> seqlens_k, BandMask band, double softmax_scale) {
  Shape shape;
  shape.batch = static_cast<int>(seqlens_q.size());
  shape.heads_q = heads_q;
  shape.heads_kv = heads_kv;
  shape.head_dim = head_dim;
  shape.seqlens_q = std::move(seqlens_q);
  shape.seqlens_k = std::move(seqlens_k);
  shape.softmax_scale = softmax_scale;
  shape.band = band;
  shape.validate();
  return shape;
}

inline void Shape::validate() const {
  require(batch > 0, "reference::Shape: batch = ", batch, " must be positive");
  require(heads_q > 0, "reference::Shape: heads_q = ", heads_q, " must be positive");
  require(heads_kv > 0, "reference::Shape: heads_kv = ", heads_kv, " must be positive");
  require(head_dim > 0, "reference::Shape: head_dim = ", head_dim, " must be positive");
  require(heads_q % heads_kv == 0, "reference::Shape: heads_q = ", heads_q, " is not a multiple of heads_kv = ",
          heads_kv);
  require(seqlens_q.size() == std::size_t(batch), "reference::Shape: seqlens_q has ", seqlens_q.size(),
          " entries for batch = ", batch);
  require(seqlens_k.size() == std::size_t(batch), "reference::Shape: seqlens_k has ", seqlens_k.size(),
          " entries for batch = ", batch);
  for (int b = 0; b < batch; ++b) {
    require(seqlens_q[b] >= 0, "reference::Shape: seqlens_q[", b, "] = ", seqlens_q[b], " is negative");
    require(seqlens_k[b] >= 0, "reference::Shape: seqlens_k[", b, "] = ", seqlens_k[b], " is negative");
  }
  require(std::isfinite(softmax_scale), "reference::Shape: softmax_scale = ", softmax_scale, " is not finite");
}

namespace detail {

inline void require_size(const char* where, const char* name, const std::vector<double>& tensor,
                         std::size_t expected, const char* layout) {
  require(tensor.size() == expected, "reference::", where, ": ", name, " has ", tensor.size(),
          " elements, the shape needs ", expected, " ", layout);
}

// Runs task(t) for every t in [0, count), spread over the hardware threads. `cost` (any unit,
// a rough operation count for the whole job) keeps small jobs, such as the many tiny forward
// passes of a finite-difference check, on the calling thread where a thread start would cost
// more than the work.
template <class Task>
void parallel_for(int64_t count, double cost, const Task& task) {
  constexpr double kCostWorthAThread = 1 << 18;
  const int64_t hardware = std::max(1u, std::thread::hardware_concurrency());
  const int64_t workers = std::min({hardware, count, static_cast<int64_t>(cost / kCostWorthAThread) + 1});
  if (workers <= 1) {
    for (int64_t t = 0; t < count; ++t) task(t);
    return;
  }
  std::atomic<int64_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto work = [&] {
    for (int64_t t = next.fetch_add(1); t < count; t = next.fetch_add(1)) {
      try {
        task(t);
      } catch (...) {
        const std::lock_guard<std::mutex> lock(failure_mutex);
        if (!failure) failure = std::current_exception();
        next.store(count);
        return;
      }
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(workers - 1);
  for (int64_t w = 1; w < workers; ++w) threads.emplace_back(work);
  work();
  for (std::thread& thread : threads) thread.join();
  if (failure) std::rethrow_exception(failure);
}

// Four independent sums so the loop pipelines (and vectorises) without reassociation flags.
inline double dot(const double* a, const double* b, int n) {
  double sum[4] = {0.0, 0.0, 0.0, 0.0};
  int d = 0;
  for (; d + 4 <= n; d += 4) {
    sum[0] += a[d] * b[d];
    sum[1] += a[d + 1] * b[d + 1];
    sum[2] += a[d + 2] * b[d + 2];
    sum[3] += a[d + 3] * b[d + 3];
  }
  for (; d < n; ++d) sum[0] += a[d] * b[d];
  return (sum[0] + sum[1]) + (sum[2] + sum[3]);
}

// y += alpha · x
inline void axpy(double alpha, const double* x, double* y, int n) {
  for (int d = 0; d < n; ++d) y[d] += alpha * x[d];
}

// Work is cut into blocks of rows of one (entry, head). A block of query rows visits each key
// once for all its rows, so K and V stream from memory once per block rather than once per row.
constexpr int kQueryRowsPerBlock = 16;
// The dK/dV pass streams every q_i and dO_i of the entry once per block of keys.
constexpr int kKeyRowsPerBlock = 32;

// Numbers the row blocks of every (entry, head) so that one flat index names one task.
class RowBlocks {
 public:
  struct Block {
    int batch, head, row_begin, row_end;
  };

  RowBlocks(const std::vector<int>& seqlens, int heads, int rows_per_block)
      : seqlens_(seqlens), rows_per_block_(rows_per_block), first_task_(seqlens.size() + 1, 0) {
    for (std::size_t b = 0; b < seqlens.size(); ++b)
      first_task_[b + 1] = first_task_[b] + int64_t(heads) * ceil_div(seqlens[b], rows_per_block);
  }

  int64_t count() const { return first_task_.back(); }

  Block operator[](int64_t task) const {
    const int b = int(std::upper_bound(first_task_.begin(), first_task_.end(), task) - first_task_.begin()) - 1;
    const int64_t blocks_per_head = ceil_div(seqlens_[b], rows_per_block_);
    const int64_t local = task - first_task_[b];
    const int row_begin = int(local % blocks_per_head) * rows_per_block_;
    return {b, int(local / blocks_per_head), row_begin, std::min(seqlens_[b], row_begin + rows_per_block_)};
  }

 private:
  const std::vector<int>& seqlens_;
  int rows_per_block_;
  std::vector<int64_t> first_task_;
};

// One batch entry seen from one query head: where its rows live in the packed tensors.
struct EntryHead {
  int batch, head, kv_head;
  int seqlen_q, seqlen_k;
  std::size_t q_row0, kv_row0;    // flat index of row 0 of this head
  std::size_t q_pitch, kv_pitch;  // elements from one row to the next
  std::size_t lse_row0;

  EntryHead(const Shape& shape, const std::vector<int64_t>& offsets_q, const std::vector<int64_t>& offsets_k,
            int b, int h)
      : batch(b), head(h), kv_head(shape.kv_head(h)), seqlen_q(shape.seqlen_q(b)), seqlen_k(shape.seqlen_k(b)),
        q_row0((std::size_t(offsets_q[b]) * shape.heads_q + h) * shape.head_dim),
        kv_row0((std::size_t(offsets_k[b]) * shape.heads_kv + kv_head) * shape.head_dim),
        q_pitch(std::size_t(shape.heads_q) * shape.head_dim),
        kv_pitch(std::size_t(shape.heads_kv) * shape.head_dim),
        lse_row0(std::size_t(h) * offsets_q[shape.batch] + offsets_q[b]) {}

  std::size_t q_at(int i) const { return q_row0 + i * q_pitch; }
  std::size_t kv_at(int j) const { return kv_row0 + j * kv_pitch; }
  std::size_t lse_at(int i) const { return lse_row0 + i; }
};

inline std::vector<int64_t> offsets_of(const std::vector<int>& lengths) {
  std::vector<int64_t> offsets(lengths.size() + 1, 0);
  for (std::size_t b = 0; b < lengths.size(); ++b) offsets[b + 1] = offsets[b] + lengths[b];
  return offsets;
}

// The logit s_ij the softmax sees, in one place for the forward and both backward passes so
// they cannot disagree on what is kept.
template <class Variant, class Rounding>
struct Logits {
  const Shape& shape;
  const Variant& variant;
  Rounding rounding;
  double scale;

  // -inf when the element is dropped. `scaled` receives scale·q·k, score_mod's argument.
  double operator()(const EntryHead& entry, const double* q_row, const double* k_row, int i, int j,
                    double& scaled) const {
    constexpr double kDropped = -std::numeric_limits<double>::infinity();
    if (!shape.band.keep(i, j, entry.seqlen_q, entry.seqlen_k)) return kDropped;
    const Variant entry_variant = variant_for_sequence(variant, entry.seqlen_q, entry.seqlen_k);
    if constexpr (Variant::has_mask_mod) {
      if (!entry_variant.mask_mod(entry.batch, entry.head, i, j)) return kDropped;
    }
    scaled = rounding.score(dot(q_row, k_row, shape.head_dim)) * scale;
    if constexpr (Variant::has_score_mod) {
      return entry_variant.template score_mod<double>(scaled, entry.batch, entry.head, i, j);
    } else {
      return scaled;
    }
  }

  // Keys [first, end) that row i may keep: the band's bounds, so causal and window rows do not
  // visit keys they cannot keep.
  int first_key(const EntryHead& entry, int i) const {
    return std::max(0, shape.band.first_key(i, entry.seqlen_q, entry.seqlen_k));
  }
  int end_key(const EntryHead& entry, int i) const {
    return std::min(entry.seqlen_k, shape.band.end_key(i + 1, entry.seqlen_q, entry.seqlen_k));
  }
};

// dS_ij from the saved statistics (P_ij = exp(s_ij - LSE_i)), or 0 when the element is masked.
// Also returns P_ij Z_ij (what dV needs) through `p_dropped`.
template <class Variant>
double score_gradient(const Logits<Variant, ExactArithmetic>& logits, const EntryHead& entry, const double* q_row,
                      const double* k_row, const double* v_row, const double* d_out_row, double lse, double delta,
                      int i, int j, double& p_dropped) {
  double scaled = 0.0;
  const double s = logits(entry, q_row, k_row, i, j, scaled);
  if (s == -std::numeric_limits<double>::infinity()) {
    p_dropped = 0.0;
    return 0.0;
  }
  double p;
  p = std::exp(s - lse);
  double d_prob = dot(d_out_row, v_row, logits.shape.head_dim);
  if (logits.shape.dropout) {
    const double factor = logits.shape.dropout(entry.batch, entry.head, i, j);
    d_prob *= factor;
    p_dropped = p * factor;
  } else {
    p_dropped = p;
  }
  double d_score = p * (d_prob - delta);
  if constexpr (Variant::has_score_mod) {
    d_score *= variant_for_sequence(logits.variant, entry.seqlen_q, entry.seqlen_k)
                   .template score_mod_grad<double>(scaled, entry.batch, entry.head, i, j);
  }
  return d_score * logits.scale;
}

}  // namespace detail

template <class Variant, class Rounding>
ForwardResult forward(const Shape& shape, const std::vector<double>& q, const std::vector<double>& k,
                      const std::vector<double>& v, const Variant& variant, Rounding rounding) {
  shape.validate();
  detail::require_size("forward", "q", q, shape.q_size(), "(total_q x heads_q x head_dim)");
  detail::require_size("forward", "k", k, shape.kv_size(), "(total_k x heads_kv x head_dim)");
  detail::require_size("forward", "v", v, shape.kv_size(), "(total_k x heads_kv x head_dim)");

  ForwardResult result;
  result.o.assign(shape.q_size(), 0.0);
  result.lse.assign(shape.lse_size(), 0.0);
  const std::vector<int64_t> offsets_q = detail::offsets_of(shape.seqlens_q);
  const std::vector<int64_t> offsets_k = detail::offsets_of(shape.seqlens_k);
  const detail::Logits<Variant, Rounding> logits{shape, variant, rounding, shape.scale()};
  const int head_dim = shape.head_dim;

  constexpr double kDropped = -std::numeric_limits<double>::infinity();
  const detail::RowBlocks blocks(shape.seqlens_q, shape.heads_q, detail::kQueryRowsPerBlock);
  const double cost = 2.0 * double(shape.total_q()) * shape.heads_q * shape.max_seqlen_k() * head_dim;

  detail::parallel_for(blocks.count(), cost, [&](int64_t task) {
    const detail::RowBlocks::Block block = blocks[task];
    const detail::EntryHead entry(shape, offsets_q, offsets_k, block.batch, block.head);
    const int rows = block.row_end - block.row_begin;
    // The band's keys for the whole block: its bounds only grow with the row.
    const int key_begin = logits.first_key(entry, block.row_begin);
    const int keys = std::max(0, logits.end_key(entry, block.row_end - 1) - key_begin);

    // S for the block, key-major so that each k_j is read once for all rows; then P in place.
    std::vector<double> probs(std::size_t(keys) * rows, kDropped);
    for (int jj = 0; jj < keys; ++jj) {
      const double* k_row = &k[entry.kv_at(key_begin + jj)];
      for (int r = 0; r < rows; ++r) {
        double scaled = 0.0;
        probs[std::size_t(jj) * rows + r] =
            logits(entry, &q[entry.q_at(block.row_begin + r)], k_row, block.row_begin + r, key_begin + jj, scaled);
      }
    }
    for (int r = 0; r < rows; ++r) {
      double row_max = kDropped;
      for (int jj = 0; jj < keys; ++jj) row_max = std::max(row_max, probs[std::size_t(jj) * rows + r]);
      double& lse = result.lse[entry.lse_at(block.row_begin + r)];
      if (row_max == kDropped) {  // keeps no key: P = 0, so O = 0
        lse = kDropped;
        for (int jj = 0; jj < keys; ++jj) probs[std::size_t(jj) * rows + r] = 0.0;
        continue;
      }
      double row_sum = 0.0;
      for (int jj = 0; jj < keys; ++jj) row_sum += std::exp(probs[std::size_t(jj) * rows + r] - row_max);
      lse = row_max + std::log(row_sum);
      for (int jj = 0; jj < keys; ++jj) {
        double& p = probs[std::size_t(jj) * rows + r];
        p = rounding.prob(std::exp(p - row_max), row_sum);
      }
    }

    // O = P V, again one pass over the values for all rows.
    std::vector<double> o_block(std::size_t(rows) * head_dim, 0.0);
    for (int jj = 0; jj < keys; ++jj) {
      const double* v_row = &v[entry.kv_at(key_begin + jj)];
      for (int r = 0; r < rows; ++r) {
        double p = probs[std::size_t(jj) * rows + r];
        if (p != 0.0 && shape.dropout) p *= shape.dropout(block.batch, block.head, block.row_begin + r, key_begin + jj);
        if (p != 0.0) detail::axpy(p, v_row, &o_block[std::size_t(r) * head_dim], head_dim);
      }
    }
    for (int r = 0; r < rows; ++r) {
      double* o_row = &result.o[entry.q_at(block.row_begin + r)];
      for (int d = 0; d < head_dim; ++d) o_row[d] = rounding.output(o_block[std::size_t(r) * head_dim + d]);
    }
  });
  return result;
}

template <class Variant>
BackwardResult backward(const Shape& shape, const std::vector<double>& q, const std::vector<double>& k,
                        const std::vector<double>& v, const std::vector<double>& d_out, const Variant& variant) {
  const ForwardResult saved = forward(shape, q, k, v, variant);  // validates shape, q, k, v
  detail::require_size("backward", "d_out", d_out, shape.q_size(), "(total_q x heads_q x head_dim)");

  constexpr double kDropped = -std::numeric_limits<double>::infinity();
  const std::vector<int64_t> offsets_q = detail::offsets_of(shape.seqlens_q);
  const std::vector<int64_t> offsets_k = detail::offsets_of(shape.seqlens_k);
  const detail::Logits<Variant, ExactArithmetic> logits{shape, variant, {}, shape.scale()};
  const int head_dim = shape.head_dim;

  // D_i = dO_i · O_i, laid out like LSE.
  std::vector<double> delta(shape.lse_size(), 0.0);
  for (int b = 0; b < shape.batch; ++b)
    for (int h = 0; h < shape.heads_q; ++h) {
      const detail::EntryHead entry(shape, offsets_q, offsets_k, b, h);
      for (int i = 0; i < entry.seqlen_q; ++i)
        delta[entry.lse_at(i)] = detail::dot(&d_out[entry.q_at(i)], &saved.o[entry.q_at(i)], head_dim);
    }

  BackwardResult grads;
  grads.dq.assign(shape.q_size(), 0.0);
  grads.dk.assign(shape.kv_size(), 0.0);
  grads.dv.assign(shape.kv_size(), 0.0);

  // Two passes that each recompute dS, as the FA2 backward does: one owns rows of dQ, the other
  // rows of dK and dV, so neither needs atomics or per-thread copies, and both split finely
  // (tasks over (entry, kv head) alone would leave MQA on one thread).
  const double cost = 3.0 * double(shape.total_q()) * shape.heads_q * shape.max_seqlen_k() * head_dim;

  // dQ_i = Σ_j dS_ij k_j, per block of query rows of one head; key-major inside the block.
  const detail::RowBlocks query_blocks(shape.seqlens_q, shape.heads_q, detail::kQueryRowsPerBlock);
  detail::parallel_for(query_blocks.count(), cost, [&](int64_t task) {
    const detail::RowBlocks::Block block = query_blocks[task];
    const detail::EntryHead entry(shape, offsets_q, offsets_k, block.batch, block.head);
    const int key_begin = logits.first_key(entry, block.row_begin);
    const int key_end = logits.end_key(entry, block.row_end - 1);
    for (int j = key_begin; j < key_end; ++j) {
      const std::size_t kv = entry.kv_at(j);
      for (int i = block.row_begin; i < block.row_end; ++i) {
        const double lse = saved.lse[entry.lse_at(i)];
        if (lse == kDropped) continue;
        double p;
        const double d_score = detail::score_gradient(logits, entry, &q[entry.q_at(i)], &k[kv], &v[kv],
                                                      &d_out[entry.q_at(i)], lse, delta[entry.lse_at(i)], i, j, p);
        if (d_score != 0.0) detail::axpy(d_score, &k[kv], &grads.dq[entry.q_at(i)], head_dim);
      }
    }
  });

  // dK_j = Σ_h Σ_i dS_ij q_i and dV_j = Σ_h Σ_i P_ij dO_i over the query heads h of the group,
  // per block of key rows of one kv head; query-major inside, so each q_i and dO_i is read
  // once per block while the block's k, v, dK and dV rows stay in cache.
  const detail::RowBlocks key_blocks(shape.seqlens_k, shape.heads_kv, detail::kKeyRowsPerBlock);
  detail::parallel_for(key_blocks.count(), cost, [&](int64_t task) {
    const detail::RowBlocks::Block block = key_blocks[task];
    const int first_head = block.head * shape.group_size();
    for (int h = first_head; h < first_head + shape.group_size(); ++h) {
      const detail::EntryHead entry(shape, offsets_q, offsets_k, block.batch, h);
      for (int i = 0; i < entry.seqlen_q; ++i) {
        const double lse = saved.lse[entry.lse_at(i)];
        if (lse == kDropped) continue;
        const double* q_row = &q[entry.q_at(i)];
        const double* d_out_row = &d_out[entry.q_at(i)];
        const int key_begin = std::max(block.row_begin, logits.first_key(entry, i));
        const int key_end = std::min(block.row_end, logits.end_key(entry, i));
        for (int j = key_begin; j < key_end; ++j) {
          const std::size_t kv = entry.kv_at(j);
          double p;
          const double d_score = detail::score_gradient(logits, entry, q_row, &k[kv], &v[kv], d_out_row, lse,
                                                        delta[entry.lse_at(i)], i, j, p);
          if (p != 0.0) detail::axpy(p, d_out_row, &grads.dv[kv], head_dim);
          if (d_score != 0.0) detail::axpy(d_score, q_row, &grads.dk[kv], head_dim);
        }
      }
    }
  });
  return grads;
}

}  // namespace attnkit::reference
