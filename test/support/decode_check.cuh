#pragma once
// Test support: a decode step over a KV cache on random data, checked against the float64
// reference. The host keeps its own copy of the cache and of the page table's meaning: it
// appends the new rows (rotated) itself, gathers each sequence's keys, and runs the
// reference on those as a varlen problem (seqlen_q new tokens against the sequence's keys,
// bottom-right). Checked: O under attnkit's tolerance rule (forward_check.cuh), LSE, the
// appended rows (within one rounding of the host's), and every other cache element untouched.

#include <algorithm>
#include <cstdint>
#include <functional>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch_test_macros.hpp>

#include "attnkit/decode/decode_problem.cuh"
#include "attnkit/reference/cpu_attention.cuh"
#include "attnkit/reference/host_tensor.cuh"
#include "support/device_array.cuh"
#include "support/tolerance_rule.h"

namespace attnkit::testing {

enum class CacheKind { contiguous, contiguous_indexed, paged, paged_shared_prefix };
enum class RotaryKind { none, interleaved, half_split };

struct DecodeCase {
  int heads_q = 8;
  int heads_kv = 2;
  int seqlen_q = 1;                   // new query tokens
  std::vector<int> varlen_q;          // per sequence, its query tokens (varlen queries); empty: seqlen_q each
  std::vector<int> cached = {100};    // per sequence: keys in the cache before the call
  std::vector<int> leftpad;           // per sequence, padding rows before them (empty: none)
  bool append = false;                // seqlen_new = seqlen_q new K/V rows
  CacheKind cache = CacheKind::paged;
  int page_size = 16;
  RotaryKind rotary = RotaryKind::none;
  int rotary_dim = 0;                 // 0: head_dim
  BandMask band = BandMask::none();
  int splits = 0;                     // forced split count; 0: the heuristic
  uint64_t seed = 1;

  int batch() const { return static_cast<int>(cached.size()); }
  std::string describe(int head_dim, const char* dtype) const {
    static const char* const kCache[] = {"contiguous", "contiguous+batch_idx", "paged", "paged+shared"};
    static const char* const kRotary[] = {"none", "interleaved", "half"};
    std::ostringstream s;
    s << dtype << " d=" << head_dim << " hq=" << heads_q << " hkv=" << heads_kv << " sq=" << seqlen_q << " cached={";
    for (int c : cached) s << c << ",";
    s << "} " << kCache[static_cast<int>(cache)] << " page=" << page_size << (append ? " append" : "")
      << " rotary=" << kRotary[static_cast<int>(rotary)] << " band=(" << band.left << "," << band.right
      << ") splits=" << splits << (leftpad.empty() ? "" : " leftpad");
    if (!varlen_q.empty()) {
      s << " varlen_q={";
      for (int t : varlen_q) s << t << ",";
      s << "}";
    }
    return s.str();
  }
};

using DecodeLauncher = std::function<void(const DecodeProblem&, int splits)>;

template <class Element, class HostVariant = NoVariant>
void check_decode(int head_dim, const DecodeCase& c, const DecodeLauncher& launch, const HostVariant& host_variant = {}) {
  INFO(c.describe(head_dim, ElementTraits<Element>::name));
  const int batch = c.batch();
  const int d = head_dim;
  const int seqlen_new = c.append ? c.seqlen_q : 0;
  std::vector<int> leftpad = c.leftpad.empty() ? std::vector<int>(batch, 0) : c.leftpad;
  std::mt19937_64 rng(c.seed);

  // Rows each sequence needs (padding, cached keys, appended keys); pages to hold them.
  std::vector<int> rows_needed(batch);
  for (int b = 0; b < batch; ++b) rows_needed[b] = leftpad[b] + c.cached[b] + seqlen_new;
  const bool paged = c.cache == CacheKind::paged || c.cache == CacheKind::paged_shared_prefix;
  const int max_rows = std::max(1, *std::max_element(rows_needed.begin(), rows_needed.end()));
  const int page_size = paged ? c.page_size : max_rows + 5;  // a contiguous entry with spare rows
  const int width = paged ? (max_rows + page_size - 1) / page_size + 1 : 1;
  std::vector<int> table(static_cast<std::size_t>(batch) * width, -1);
  int num_pages = 0;
  std::vector<int> entry_of(batch);
  if (paged) {
    // Every sequence's pages from a shuffled pool; with a shared prefix, sequence b > 0 reuses
    // sequence 0's pages that hold only cached keys of both (never a page either appends to).
    std::vector<int> pool(batch * width + 3);
    std::iota(pool.begin(), pool.end(), 0);
    std::shuffle(pool.begin(), pool.end(), rng);
    num_pages = static_cast<int>(pool.size());
    int next = 0;
    for (int b = 0; b < batch; ++b) {
      const int pages = (rows_needed[b] + page_size - 1) / page_size;
      for (int p = 0; p < pages; ++p) {
        const bool shareable = c.cache == CacheKind::paged_shared_prefix && b > 0 && leftpad[b] == leftpad[0] &&
                               (p + 1) * page_size <= leftpad[0] + std::min(c.cached[0], c.cached[b]);
        table[b * width + p] = shareable ? table[p] : pool[next++];
      }
    }
  } else {
    num_pages = batch + 2;
    std::vector<int> entries(num_pages);
    std::iota(entries.begin(), entries.end(), 0);
    if (c.cache == CacheKind::contiguous_indexed) std::shuffle(entries.begin(), entries.end(), rng);
    for (int b = 0; b < batch; ++b) entry_of[b] = entries[b];
  }
  auto cache_row = [&](int b, int row) -> int64_t {  // row index into (pages × page_size), -1 if unmapped
    const int page = paged ? table[b * width + row / page_size] : entry_of[b];
    return page < 0 ? -1 : int64_t(page) * page_size + (paged ? row % page_size : row);
  };

  const int64_t cache_elements = int64_t(num_pages) * page_size * c.heads_kv * d;
  std::vector<double> k_cache = reference::random_normal(cache_elements, c.seed + 1);
  std::vector<double> v_cache = reference::random_normal(cache_elements, c.seed + 2);
  // Query tokens per sequence, packed (sequence-major) in Q, O and in the reference.
  const bool varlen_q = !c.varlen_q.empty();
  const std::vector<int> seqlens_q = varlen_q ? c.varlen_q : std::vector<int>(batch, c.seqlen_q);
  std::vector<int> cu_seqlens_q(batch + 1, 0);
  std::partial_sum(seqlens_q.begin(), seqlens_q.end(), cu_seqlens_q.begin() + 1);
  const int total_q = cu_seqlens_q[batch];
  const int max_seqlen_q = *std::max_element(seqlens_q.begin(), seqlens_q.end());
  std::vector<double> q = reference::random_normal(int64_t(total_q) * c.heads_q * d, c.seed + 3);
  std::vector<double> k_new = reference::random_normal(int64_t(batch) * std::max(seqlen_new, 1) * c.heads_kv * d, c.seed + 4);
  std::vector<double> v_new = reference::random_normal(k_new.size(), c.seed + 5);
  const std::vector<Element> k_cache_elements = round_to_elements<Element>(k_cache);
  const std::vector<Element> v_cache_elements = round_to_elements<Element>(v_cache);
  const std::vector<Element> q_elements = round_to_elements<Element>(q);
  const std::vector<Element> k_new_elements = round_to_elements<Element>(k_new);
  const std::vector<Element> v_new_elements = round_to_elements<Element>(v_new);

  // Rotary tables: angles of a RoPE base, rounded to Element as the kernel reads them.
  const int rotary_dim = c.rotary == RotaryKind::none ? 0 : (c.rotary_dim > 0 ? c.rotary_dim : d);
  const int positions = max_rows + c.seqlen_q + 1;
  std::vector<double> cos_table(std::max(1, positions * rotary_dim / 2)), sin_table(cos_table.size());
  for (int p = 0; p < positions; ++p)
    for (int i = 0; i < rotary_dim / 2; ++i) {
      const double angle = p * std::pow(10000.0, -2.0 * i / rotary_dim);
      cos_table[p * rotary_dim / 2 + i] = std::cos(angle);
      sin_table[p * rotary_dim / 2 + i] = std::sin(angle);
    }
  const std::vector<Element> cos_elements = round_to_elements<Element>(cos_table);
  const std::vector<Element> sin_elements = round_to_elements<Element>(sin_table);
  auto rotate = [&](double* x, int position) {  // in place, features [0, rotary_dim)
    for (int i = 0; i < rotary_dim / 2; ++i) {
      const int a = c.rotary == RotaryKind::interleaved ? 2 * i : i;
      const int b = c.rotary == RotaryKind::interleaved ? 2 * i + 1 : i + rotary_dim / 2;
      const double cs = cos_table[position * rotary_dim / 2 + i], sn = sin_table[position * rotary_dim / 2 + i];
      const double xa = x[a], xb = x[b];
      x[a] = xa * cs - xb * sn;
      x[b] = xa * sn + xb * cs;
    }
  };

  // The host's append: rotated K rounded to Element, as the kernel stores it.
  std::vector<double> k_expected = k_cache, v_expected = v_cache;
  std::vector<char> appended(cache_elements, 0);
  for (int b = 0; b < batch; ++b)
    for (int t = 0; t < seqlen_new; ++t) {
      const int64_t row = cache_row(b, leftpad[b] + c.cached[b] + t);
      for (int h = 0; h < c.heads_kv; ++h) {
        std::vector<double> k_row(d);
        for (int f = 0; f < d; ++f) k_row[f] = k_new[((int64_t(b) * seqlen_new + t) * c.heads_kv + h) * d + f];
        rotate(k_row.data(), c.cached[b] + t);
        for (int f = 0; f < d; ++f) {
          const int64_t at = (row * c.heads_kv + h) * d + f;
          k_expected[at] = to_double(from_double<Element>(k_row[f]));
          v_expected[at] = v_new[((int64_t(b) * seqlen_new + t) * c.heads_kv + h) * d + f];
          appended[at] = 1;
        }
      }
    }

  // The reference problem: per sequence, its keys gathered from the expected cache, and its
  // queries rotated (rounded to Element, as the kernel keeps them in shared memory).
  std::vector<int> seqlens_k(batch);
  for (int b = 0; b < batch; ++b) seqlens_k[b] = c.cached[b] + seqlen_new;
  const reference::Shape shape = reference::Shape::varlen(c.heads_q, c.heads_kv, d, seqlens_q, seqlens_k, c.band);
  std::vector<double> k_ref(shape.kv_size()), v_ref(shape.kv_size()), q_ref = q;
  for (int b = 0; b < batch; ++b)
    for (int j = 0; j < seqlens_k[b]; ++j) {
      const int64_t row = cache_row(b, leftpad[b] + j);
      for (int h = 0; h < c.heads_kv; ++h)
        for (int f = 0; f < d; ++f) {
          k_ref[shape.kv_index(b, j, h, f)] = k_expected[(row * c.heads_kv + h) * d + f];
          v_ref[shape.kv_index(b, j, h, f)] = v_expected[(row * c.heads_kv + h) * d + f];
        }
    }
  if (rotary_dim > 0) {
    const bool per_token = c.band.bounded();
    for (int b = 0; b < batch; ++b)
      for (int t = 0; t < seqlens_q[b]; ++t)
        for (int h = 0; h < c.heads_q; ++h) {
          double* const row = &q_ref[shape.q_index(b, t, h, 0)];
          rotate(row, c.cached[b] + (per_token ? t : 0));
          for (int f = 0; f < d; ++f) row[f] = to_double(from_double<Element>(row[f]));
        }
  }

  // The device side.
  DeviceArray<Element> k_cache_device(k_cache_elements), v_cache_device(v_cache_elements);
  DeviceArray<Element> q_device(q_elements), o_device(q_elements.size());
  DeviceArray<Element> k_new_device(k_new_elements), v_new_device(v_new_elements);
  DeviceArray<Element> cos_device(cos_elements), sin_device(sin_elements);
  DeviceArray<float> lse_device(std::size_t(total_q) * c.heads_q);
  DeviceArray<int> cu_seqlens_q_device(cu_seqlens_q);
  // cache_seqlens count the padding rows: a sequence's keys are rows leftpad .. seqlens − 1.
  std::vector<int> seqlens(batch);
  for (int b = 0; b < batch; ++b) seqlens[b] = leftpad[b] + c.cached[b];
  DeviceArray<int> seqlens_device(seqlens), leftpad_device(leftpad), table_device(table), entry_device(entry_of);
  const KVCache cache =
      paged ? make_paged_kv_cache(k_cache_device.get(), v_cache_device.get(), num_pages, page_size, c.heads_kv, d,
                                  table_device.get(), width, seqlens_device.get(),
                                  c.leftpad.empty() ? nullptr : leftpad_device.get())
            : make_contiguous_kv_cache(k_cache_device.get(), v_cache_device.get(), num_pages, page_size, c.heads_kv,
                                       d, seqlens_device.get(),
                                       c.cache == CacheKind::contiguous_indexed ? entry_device.get() : nullptr,
                                       c.leftpad.empty() ? nullptr : leftpad_device.get());
  DecodeProblem problem = make_decode_problem(ElementTraits<Element>::dtype, batch, c.heads_q, c.seqlen_q, d,
                                              q_device.get(), o_device.get(), cache, c.heads_kv, lse_device.get());
  if (varlen_q) set_varlen_queries(problem, cu_seqlens_q_device.get(), total_q, max_seqlen_q);
  problem.band = c.band;
  problem.host_seqlens = seqlens.data();
  if (c.append) set_appended_kv(problem, k_new_device.get(), v_new_device.get(), seqlen_new);
  if (rotary_dim > 0) {
    problem.rotary.cos = cos_device.get();
    problem.rotary.sin = sin_device.get();
    problem.rotary.dim = rotary_dim;
    problem.rotary.positions = positions;
    problem.rotary.interleaved = c.rotary == RotaryKind::interleaved;
  }
  launch(problem, c.splits);
  ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());

  // The cache afterwards: appended rows within one rounding, everything else unchanged.
  const std::vector<double> k_after = to_doubles(k_cache_device.download());
  const std::vector<double> v_after = to_doubles(v_cache_device.download());
  int64_t changed = 0;
  double appended_error = 0.0;
  for (int64_t i = 0; i < cache_elements; ++i) {
    if (appended[i]) {
      appended_error = std::max(appended_error, std::abs(k_after[i] - k_expected[i]) / std::max(1.0, std::abs(k_expected[i])));
      changed += v_after[i] != v_expected[i];
    } else {
      changed += k_after[i] != k_expected[i] || v_after[i] != v_expected[i];
    }
  }
  INFO("cache elements changed where they should not = " << changed << ", appended K error = " << appended_error);
  CHECK(changed == 0);
  CHECK(appended_error <= 1.0 / 64);

  const reference::ForwardResult exact = reference::forward(shape, q_ref, k_ref, v_ref, host_variant);
  const reference::ForwardResult rounded =
      reference::forward(shape, q_ref, k_ref, v_ref, host_variant, reference::RoundedLike<Element>{});
  const std::vector<double> o = to_doubles(o_device.download());  // (total_q, heads_q, d) = packed order
  check_tolerance_rule("O", o, rounded.o, exact.o);

  const std::vector<float> lse = lse_device.download();  // (batch, heads_q, seqlen_q), varlen (heads_q, total_q)
  double lse_error = 0.0;
  int64_t mismatched_infinities = 0;
  for (int b = 0; b < batch; ++b)
    for (int h = 0; h < c.heads_q; ++h)
      for (int t = 0; t < seqlens_q[b]; ++t) {
        const double expected = exact.lse[shape.lse_index(b, h, t)];
        const double actual = lse[varlen_q ? int64_t(h) * total_q + cu_seqlens_q[b] + t
                                           : (int64_t(b) * c.heads_q + h) * c.seqlen_q + t];
        if (std::isinf(expected) || !std::isfinite(actual)) {
          mismatched_infinities += !(std::isinf(expected) && std::isinf(actual) && actual < 0);
        } else {
          lse_error = std::max(lse_error, std::abs(actual - expected) / std::max(1.0, std::abs(expected)));
        }
      }
  INFO("max relative LSE error = " << lse_error << ", -inf mismatches = " << mismatched_infinities);
  CHECK(mismatched_infinities == 0);
  CHECK(lse_error <= 1e-4);
}

}  // namespace attnkit::testing
