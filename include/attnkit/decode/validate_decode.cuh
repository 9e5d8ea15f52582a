#pragma once
// Host-side validation of a DecodeProblem: every check throws attnkit::error naming the bad
// value. Lengths live on the device; they are checked here only when the problem carries a
// host copy (host_seqlens). Without it the kernels still never leave the cache (kv_cache.cuh).

#include <cstdint>

#include "../attention/validate.cuh"
#include "decode_problem.cuh"

namespace attnkit {

inline void validate_decode_problem(const DecodeProblem& p, DType dtype, int head_dim) {
  require(p.dtype == dtype, "dtype ", dtype_name(p.dtype), " does not match the kernel's ", dtype_name(dtype));
  require(p.head_dim == head_dim, "head_dim = ", p.head_dim, " does not match the kernel's ", head_dim);
  require(p.batch > 0 && p.batch <= 65535, "batch = ", p.batch, " must be in [1, 65535]");
  require(p.heads_kv > 0, "heads_kv = ", p.heads_kv, " must be positive");
  require(p.heads_q > 0 && p.heads_q % p.heads_kv == 0, "heads_q = ", p.heads_q,
          " is not a positive multiple of heads_kv = ", p.heads_kv, " (GQA needs an integral group size)");
  require(p.seqlen_q > 0, "seqlen_q = ", p.seqlen_q, " (new query tokens per sequence) must be positive");
  require(std::isfinite(p.softmax_scale) && p.softmax_scale >= 0.f, "softmax_scale = ", p.softmax_scale,
          " must be positive and finite (0 selects 1/sqrt(head_dim))");
  const bool varlen_q = p.cu_seqlens_q != nullptr;
  detail::require_tensor(p.q, "q", varlen_q);
  detail::require_tensor(p.o, "o", varlen_q);
  detail::require_disjoint({"o.head_stride", p.o.head_stride, p.heads_q, "heads_q"},
                           {"o.row_stride", p.o.row_stride, p.seqlen_q, "seqlen_q"}, p.head_dim, "head_dim",
                           "(token, head) pairs of o");
  if (p.lse != nullptr) {
    require(reinterpret_cast<uintptr_t>(p.lse) % 4 == 0, "lse = ", static_cast<void*>(p.lse), " is not 4-byte aligned");
    if (!varlen_q)
      detail::require_disjoint({"lse_head_stride", p.lse_head_stride, p.heads_q, "heads_q"},
                               {"lse_batch_stride", p.lse_batch_stride, p.batch, "batch"}, p.seqlen_q, "seqlen_q",
                               "(batch, head) rows of lse");
  }

  const KVCache& c = p.cache;
  require(c.page_size > 0, "cache.page_size = ", c.page_size, " must be positive");
  require(c.num_pages > 0, "cache.num_pages = ", c.num_pages, c.paged() ? " (pages)" : " (cache entries)",
          " must be positive");
  require(c.seqlens != nullptr, "cache.seqlens is a null pointer: the cached length of every sequence is required");
  require(c.max_pages_per_sequence > 0, "cache.max_pages_per_sequence = ", c.max_pages_per_sequence,
          " must be positive");
  require(c.paged() || c.max_pages_per_sequence == 1, "a contiguous cache has one page per sequence, "
          "max_pages_per_sequence = ", c.max_pages_per_sequence);
  require(!c.paged() || c.block_table_stride >= c.max_pages_per_sequence, "cache.block_table_stride = ",
          c.block_table_stride, " is less than max_pages_per_sequence = ", c.max_pages_per_sequence);
  require(!c.paged() || c.cache_batch_idx == nullptr, "cache_batch_idx selects contiguous cache entries; a paged "
          "cache says where each sequence lives through its block table");
  require(c.capacity() < (int64_t{1} << 31), "cache capacity ", c.capacity(), " rows per sequence exceeds 2^31");
  detail::require_tensor(c.k, "cache.k", false);
  detail::require_tensor(c.v, "cache.v", false);

  if (p.appends()) {
    require(p.seqlen_new > 0, "seqlen_new = ", p.seqlen_new, " must be positive when k_new is given");
    require(p.v_new.data != nullptr, "k_new is given but v_new is a null pointer");
    detail::require_tensor(p.k_new, "k_new", false);
    detail::require_tensor(p.v_new, "v_new", false);
  } else {
    require(p.seqlen_new == 0, "seqlen_new = ", p.seqlen_new, " but k_new is a null pointer");
  }
  if (p.rotary.enabled()) {
    require(!varlen_q, "rotary with varlen queries (cu_seqlens_q) is not supported: rotate them before the call");
    require(p.rotary.sin != nullptr, "rotary.cos is given but rotary.sin is a null pointer");
    require(p.rotary.dim > 0 && p.rotary.dim % 2 == 0 && p.rotary.dim <= p.head_dim, "rotary.dim = ",
            p.rotary.dim, " must be even and in [2, head_dim = ", p.head_dim, "]");
    require(p.rotary.positions > 0, "rotary.positions = ", p.rotary.positions, " must be positive");
  }

  if (p.host_seqlens != nullptr) {
    const int max_tokens = p.seqlen_new > p.seqlen_q ? p.seqlen_new : p.seqlen_q;
    for (int b = 0; b < p.batch; ++b) {
      const int64_t cached = p.host_seqlens[b];
      require(cached >= 0, "cache_seqlens[", b, "] = ", cached, " is negative");
      require(cached + p.seqlen_new <= c.capacity(), "cache_seqlens[", b, "] = ", cached, " plus ", p.seqlen_new,
              " new tokens exceeds the cache's capacity of ", c.capacity(),
              c.paged() ? " rows (page_size x block table width)" : " rows per sequence");
      // With left padding the positions are lower by leftpad[b], which lives on the device.
      require(!p.rotary.enabled() || c.leftpad != nullptr || cached + max_tokens <= p.rotary.positions, "cache_seqlens[", b, "] = ", cached,
              " plus ", max_tokens, " new tokens needs rotary positions up to ", cached + max_tokens - 1,
              ", but the cos/sin tables have ", p.rotary.positions, " rows");
    }
  }
}

}  // namespace attnkit
