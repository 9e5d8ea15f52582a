#pragma once
// A KV cache as the decode kernels see it: K and V rows addressed through pages.
//
//   paged:       K, V (num_pages, page_size, heads_kv, head_dim), and a block table
//                (batch, max_pages_per_sequence) of page indices: sequence b's key j lives in
//                page block_table[b][j / page_size], slot j % page_size. Pages may come in any
//                order and be shared between sequences (a common prefix).
//   contiguous:  K, V (batch_cache, capacity, heads_kv, head_dim): the same with one page of
//                `capacity` rows per sequence, page cache_batch_idx[b] (or b).
//
// Lengths live on the device, per sequence: `seqlens[b]` rows are filled before this call's
// new tokens, padding included; `leftpad[b]` (optional) rows at the start are padding, so the
// sequence's keys are rows leftpad[b] .. seqlens[b] − 1. Kernels work in logical key positions
// (row − leftpad), which is also what masks, variants and rotary positions see.
//
// Out-of-range entries in device memory (a page index outside [0, num_pages), a row past the
// table's width or past the capacity) are never dereferenced: such a key reads as zeros and
// an append to it is dropped. The answer is then meaningless but no memory outside the
// cache is touched; the host launcher rejects what it can see (shapes, host-side lengths).

#include <cstdint>

#include "../attention/problem.cuh"
#include "../core/fast_divisor.cuh"

namespace attnkit {

struct KVCache {
  TensorRef k, v;  // batch_stride: elements from one page (or contiguous entry) to the next
  int num_pages = 0;  // pages; contiguous: cache entries (batch_cache)
  int page_size = 0;  // rows per page; contiguous: the capacity of an entry

  const int* block_table = nullptr;  // (batch, max_pages_per_sequence); nullptr: contiguous
  int64_t block_table_stride = 0;    // elements between two sequences' rows of the table
  int max_pages_per_sequence = 1;    // the table's width (1 when contiguous)

  const int* cache_batch_idx = nullptr;  // contiguous only (optional): sequence b's entry
  const int* seqlens = nullptr;          // (batch) rows filled per sequence, padding included; required
  const int* leftpad = nullptr;          // (batch) padding rows at the start; optional

  ATTNKIT_HOST_DEVICE bool paged() const { return block_table != nullptr; }
  // Rows a sequence can hold, padding included.
  ATTNKIT_HOST_DEVICE int64_t capacity() const { return static_cast<int64_t>(page_size) * max_pages_per_sequence; }
};

namespace detail {
// K, V contiguous (pages, rows_per_page, heads_kv, head_dim) and the lengths.
inline KVCache kv_cache_of(const void* k, const void* v, int pages, int rows_per_page, int heads_kv, int head_dim,
                           const int* seqlens, const int* leftpad) {
  KVCache c;
  c.k = bshd_tensor(k, heads_kv, head_dim, rows_per_page);
  c.v = bshd_tensor(v, heads_kv, head_dim, rows_per_page);
  c.num_pages = pages;
  c.page_size = rows_per_page;
  c.seqlens = seqlens;
  c.leftpad = leftpad;
  return c;
}
}  // namespace detail

// A paged cache: K, V contiguous (num_pages, page_size, heads_kv, head_dim).
inline KVCache make_paged_kv_cache(const void* k, const void* v, int num_pages, int page_size, int heads_kv,
                                   int head_dim, const int* block_table, int max_pages_per_sequence,
                                   const int* seqlens, const int* leftpad = nullptr) {
  KVCache c = detail::kv_cache_of(k, v, num_pages, page_size, heads_kv, head_dim, seqlens, leftpad);
  c.block_table = block_table;
  c.block_table_stride = max_pages_per_sequence;
  c.max_pages_per_sequence = max_pages_per_sequence;
  return c;
}

// A contiguous cache: K, V contiguous (batch_cache, capacity, heads_kv, head_dim).
inline KVCache make_contiguous_kv_cache(const void* k, const void* v, int batch_cache, int capacity, int heads_kv,
                                        int head_dim, const int* seqlens, const int* cache_batch_idx = nullptr,
                                        const int* leftpad = nullptr) {
  KVCache c = detail::kv_cache_of(k, v, batch_cache, capacity, heads_kv, head_dim, seqlens, leftpad);
  c.cache_batch_idx = cache_batch_idx;
  return c;
}

struct CacheSlot {
  int page;  // −1: no valid row
  int slot;  // row within the page
  ATTNKIT_HOST_DEVICE bool valid() const { return page >= 0; }
};

// Device side: where one sequence's keys of one KV head live. `page_size` is the cache's
// page size as a FastDivisor (the launcher builds it: pages of any size, no integer divide).
class CacheRows {
 public:
  ATTNKIT_DEVICE CacheRows(const KVCache& cache, const FastDivisor& page_size, int batch, int head_kv)
      : page_size_(page_size),
        pages_(cache.paged() ? cache.block_table + batch * cache.block_table_stride : nullptr),
        table_width_(cache.max_pages_per_sequence),
        num_pages_(cache.num_pages),
        entry_(cache.cache_batch_idx != nullptr ? cache.cache_batch_idx[batch] : batch),
        first_row_(cache.leftpad != nullptr ? cache.leftpad[batch] : 0),
        k_head_offset_(head_kv * cache.k.head_stride),
        v_head_offset_(head_kv * cache.v.head_stride) {}

  // Where logical key `key` (≥ 0) lives; page −1 where the key has no valid row.
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE CacheSlot locate(int key) const {
    const int row = first_row_ + key;
    const int page_slot = page_size_.quotient(row);
    const int slot = page_size_.remainder(row, page_slot);
    if (page_slot >= table_width_) return {-1, 0};
    const int page = pages_ != nullptr ? pages_[page_slot] : entry_;
    if (page < 0 || page >= num_pages_) return {-1, 0};
    return {page, slot};
  }
  // Element offsets of a located key's row of this KV head in K and in V.
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE int64_t k_offset(CacheSlot at, const KVCache& cache) const {
    return at.page * cache.k.batch_stride + at.slot * cache.k.row_stride + k_head_offset_;
  }
  ATTNKIT_DEVICE ATTNKIT_FORCEINLINE int64_t v_offset(CacheSlot at, const KVCache& cache) const {
    return at.page * cache.v.batch_stride + at.slot * cache.v.row_stride + v_head_offset_;
  }
  ATTNKIT_DEVICE int first_row() const { return first_row_; }

 private:
  FastDivisor page_size_;
  const int* pages_;  // this sequence's row of the block table, or nullptr
  int table_width_;
  int num_pages_;
  int entry_;  // contiguous: the cache entry
  int first_row_;
  int64_t k_head_offset_, v_head_offset_;
};

}  // namespace attnkit
