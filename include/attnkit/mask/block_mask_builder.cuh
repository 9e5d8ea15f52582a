#pragma once
// GPU builders of block masks (mask/block_mask.cuh): the same lists build_block_mask_host
// makes, from
//   - a mask_mod functor, evaluated on every pair of every block (each block classified skip /
//     full / partial by what it keeps), or
//   - a dense boolean block mask [entries][q_blocks][kv_blocks] whose true blocks are kept
//     whole (full: no element mask), or
//   - tile classes computed elsewhere, [entries][q_blocks][kv_blocks] of TileClass as uint8.
// The classes are compacted row by row with cub::BlockScan: one CTA per list row (a query
// block's key blocks, or, transposed, a key block's query blocks) scans its row's flags in
// chunks and writes each kept block's index at its rank.
//
// DeviceBlockMask owns the device arrays; view() is what kernels take.

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include <cuda_runtime_api.h>
#if defined(__CUDACC__)
#include <cub/block/block_scan.cuh>
#endif

#include "../core/error.cuh"
#include "block_mask.cuh"

namespace attnkit {

class DeviceBlockMask {
 public:
  DeviceBlockMask() = default;
  DeviceBlockMask(int batches, int heads, int q_blocks, int kv_blocks, int block_m, int block_n,
                  cudaStream_t stream = nullptr) {
    view_ = {block_m, block_n, q_blocks, kv_blocks, batches, heads};
    const std::size_t entries = std::size_t(batches) * heads;
    const std::size_t q_rows = entries * q_blocks, kv_rows = entries * kv_blocks;
    const std::size_t cells = entries * q_blocks * kv_blocks;
    // One allocation: 4 count arrays and 4 index arrays, each 256-byte aligned.
    auto round_up = [](std::size_t ints) { return (ints * sizeof(int) + 255) / 256 * 256; };
    const std::size_t sizes[8] = {q_rows, cells, q_rows, cells, kv_rows, cells, kv_rows, cells};
    std::size_t offsets[8], total = 0;
    for (int i = 0; i < 8; ++i) {
      offsets[i] = total;
      total += round_up(sizes[i]);
    }
    ATTNKIT_CUDA_CHECK(cudaMalloc(&storage_, total));
    bytes_ = total;
    char* base = static_cast<char*>(storage_);
    int* arrays[8];
    for (int i = 0; i < 8; ++i) arrays[i] = reinterpret_cast<int*>(base + offsets[i]);
    view_.full_counts = arrays[0];
    view_.full_indices = arrays[1];
    view_.partial_counts = arrays[2];
    view_.partial_indices = arrays[3];
    view_.full_q_counts = arrays[4];
    view_.full_q_indices = arrays[5];
    view_.partial_q_counts = arrays[6];
    view_.partial_q_indices = arrays[7];
    // Index rows past their count read as 0 (the builders write counts and ranks only).
    ATTNKIT_CUDA_CHECK(cudaMemsetAsync(storage_, 0, total, stream));
  }
  ~DeviceBlockMask() {
    if (storage_ != nullptr) cudaFree(storage_);
  }
  DeviceBlockMask(DeviceBlockMask&& other) noexcept { swap(other); }
  DeviceBlockMask& operator=(DeviceBlockMask&& other) noexcept {
    swap(other);
    return *this;
  }
  DeviceBlockMask(const DeviceBlockMask&) = delete;
  DeviceBlockMask& operator=(const DeviceBlockMask&) = delete;

  const BlockMaskView& view() const { return view_; }

  // The lists of a host-built mask, copied to the device.
  static DeviceBlockMask upload(const HostBlockMask& host) {
    DeviceBlockMask mask(host.batches, host.heads, host.q_blocks, host.kv_blocks, host.block_m, host.block_n);
    auto copy = [](const int* to, const std::vector<int>& from) {
      ATTNKIT_CUDA_CHECK(cudaMemcpy(const_cast<int*>(to), from.data(), from.size() * sizeof(int), cudaMemcpyHostToDevice));
    };
    const BlockMaskView& v = mask.view_;
    copy(v.full_counts, host.full_counts);
    copy(v.full_indices, host.full_indices);
    copy(v.partial_counts, host.partial_counts);
    copy(v.partial_indices, host.partial_indices);
    copy(v.full_q_counts, host.full_q_counts);
    copy(v.full_q_indices, host.full_q_indices);
    copy(v.partial_q_counts, host.partial_q_counts);
    copy(v.partial_q_indices, host.partial_q_indices);
    return mask;
  }

  // A copy of the lists on the host, laid out as HostBlockMask (tests, inspection).
  HostBlockMask download() const {
    HostBlockMask host;
    host.block_m = view_.block_m;
    host.block_n = view_.block_n;
    host.q_blocks = view_.q_blocks;
    host.kv_blocks = view_.kv_blocks;
    host.batches = view_.batches;
    host.heads = view_.heads;
    const std::size_t entries = std::size_t(view_.batches) * view_.heads;
    const std::size_t cells = entries * view_.q_blocks * view_.kv_blocks;
    auto copy = [](std::vector<int>& to, const int* from, std::size_t count) {
      to.resize(count);
      ATTNKIT_CUDA_CHECK(cudaMemcpy(to.data(), from, count * sizeof(int), cudaMemcpyDeviceToHost));
    };
    copy(host.full_counts, view_.full_counts, entries * view_.q_blocks);
    copy(host.full_indices, view_.full_indices, cells);
    copy(host.partial_counts, view_.partial_counts, entries * view_.q_blocks);
    copy(host.partial_indices, view_.partial_indices, cells);
    copy(host.full_q_counts, view_.full_q_counts, entries * view_.kv_blocks);
    copy(host.full_q_indices, view_.full_q_indices, cells);
    copy(host.partial_q_counts, view_.partial_q_counts, entries * view_.kv_blocks);
    copy(host.partial_q_indices, view_.partial_q_indices, cells);
    return host;
  }

 private:
  void swap(DeviceBlockMask& other) noexcept {
    std::swap(view_, other.view_);
    std::swap(storage_, other.storage_);
    std::swap(bytes_, other.bytes_);
  }
  BlockMaskView view_{};
  void* storage_ = nullptr;
  std::size_t bytes_ = 0;
};

#if defined(__CUDACC__)
namespace detail {

inline constexpr int kCompactThreads = 256;

// One CTA per list row: `rows` rows of `length` cells, cell c of row r at
// classes[(r / rows_per_entry) * entry_stride + (r % rows_per_entry) * row_step + c * cell_step].
// Writes each full (partial) cell's position c at its rank among the row's full (partial)
// cells, and the two counts. Flags are scanned packed in one int: full in the low 16 bits,
// partial in the high 16 (a chunk has at most Threads of each, so no carry crosses).
// (The kernels of this header are templates so that a program including it in several
// translation units links: a plain __global__ function would be defined in each.)
template <int Threads>
__global__ void __launch_bounds__(Threads)
    compact_block_rows_kernel(const uint8_t* classes, int rows_per_entry, int64_t entry_stride, int64_t row_step,
                              int64_t cell_step, int length, int* full_counts, int* full_indices,
                              int* partial_counts, int* partial_indices) {
  using Scan = cub::BlockScan<int, Threads>;
  __shared__ typename Scan::TempStorage scan_storage;
  const int row = blockIdx.x;
  const uint8_t* row_classes =
      classes + (row / rows_per_entry) * entry_stride + int64_t(row % rows_per_entry) * row_step;
  int full_total = 0, partial_total = 0;
  for (int chunk = 0; chunk < length; chunk += Threads) {
    const int cell = chunk + int(threadIdx.x);
    const int c = cell < length ? row_classes[cell * cell_step] : int(TileClass::skip);
    const int flags = (c == int(TileClass::full) ? 1 : 0) | (c == int(TileClass::partial) ? 1 << 16 : 0);
    int rank = 0, chunk_sum = 0;
    Scan(scan_storage).ExclusiveSum(flags, rank, chunk_sum);
    if (c == int(TileClass::full)) full_indices[int64_t(row) * length + full_total + (rank & 0xffff)] = cell;
    if (c == int(TileClass::partial))
      partial_indices[int64_t(row) * length + partial_total + (rank >> 16)] = cell;
    full_total += chunk_sum & 0xffff;
    partial_total += chunk_sum >> 16;
    __syncthreads();  // the scan's storage is reused by the next chunk
  }
  if (threadIdx.x == 0) {
    full_counts[row] = full_total;
    partial_counts[row] = partial_total;
  }
}

// Grid (kv_blocks, q_blocks, entries): one CTA per block, its pairs cut to the sequence.
template <class MaskMod>
__global__ void __launch_bounds__(256)
    classify_blocks_kernel(const MaskMod mask_mod, int heads, int seqlen_q, int seqlen_k, int block_m, int block_n,
                           uint8_t* classes) {
  const int j = blockIdx.x, i = blockIdx.y, entry = blockIdx.z;
  const int batch = entry / heads, head = entry % heads;
  const int q_begin = i * block_m, k_begin = j * block_n;
  const int rows = min(block_m, seqlen_q - q_begin), cols = min(block_n, seqlen_k - k_begin);
  bool kept = false, dropped = false;
  for (int e = threadIdx.x; e < rows * cols; e += blockDim.x) {
    const bool keep = mask_mod.mask_mod(batch, head, q_begin + e / cols, k_begin + e % cols);
    kept |= keep;
    dropped |= !keep;
  }
  const bool any_kept = __syncthreads_or(kept), any_dropped = __syncthreads_or(dropped);
  if (threadIdx.x == 0)
    classes[(int64_t(entry) * gridDim.y + i) * gridDim.x + j] =
        uint8_t(!any_kept ? TileClass::skip : any_dropped ? TileClass::partial : TileClass::full);
}

template <class Flag>
__global__ void dense_to_classes_kernel(const Flag* kept, std::size_t cells, uint8_t* classes) {
  const std::size_t cell = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (cell < cells) classes[cell] = uint8_t(kept[cell] ? TileClass::full : TileClass::skip);
}

}  // namespace detail

// From tile classes on the device, [batches · heads][q_blocks][kv_blocks] of TileClass values.
inline DeviceBlockMask build_block_mask(const uint8_t* classes, int batches, int heads, int q_blocks, int kv_blocks,
                                        int block_m = kDefaultMaskBlock, int block_n = kDefaultMaskBlock,
                                        cudaStream_t stream = nullptr) {
  require(batches > 0 && heads > 0 && q_blocks > 0 && kv_blocks > 0, "block mask of ", batches, " × ", heads, " × ",
          q_blocks, " × ", kv_blocks, " blocks: every extent must be positive");
  DeviceBlockMask mask(batches, heads, q_blocks, kv_blocks, block_m, block_n, stream);
  const BlockMaskView& v = mask.view();
  const int entries = batches * heads;
  const int64_t entry_cells = int64_t(q_blocks) * kv_blocks;
  // Forward lists: row (entry, i) walks j; transposed: row (entry, j) walks i.
  detail::compact_block_rows_kernel<detail::kCompactThreads><<<entries * q_blocks, detail::kCompactThreads, 0, stream>>>(
      classes, q_blocks, entry_cells, kv_blocks, 1, kv_blocks, const_cast<int*>(v.full_counts),
      const_cast<int*>(v.full_indices), const_cast<int*>(v.partial_counts), const_cast<int*>(v.partial_indices));
  ATTNKIT_CHECK_LAUNCH();
  detail::compact_block_rows_kernel<detail::kCompactThreads><<<entries * kv_blocks, detail::kCompactThreads, 0, stream>>>(
      classes, kv_blocks, entry_cells, 1, kv_blocks, q_blocks, const_cast<int*>(v.full_q_counts),
      const_cast<int*>(v.full_q_indices), const_cast<int*>(v.partial_q_counts),
      const_cast<int*>(v.partial_q_indices));
  ATTNKIT_CHECK_LAUNCH();
  return mask;
}

// From a dense boolean block mask on the device: true blocks are kept whole (full).
inline DeviceBlockMask build_block_mask_from_dense(const bool* kept, int batches, int heads, int q_blocks,
                                                   int kv_blocks, int block_m = kDefaultMaskBlock,
                                                   int block_n = kDefaultMaskBlock, cudaStream_t stream = nullptr) {
  const std::size_t cells = std::size_t(batches) * heads * q_blocks * kv_blocks;
  uint8_t* classes = nullptr;
  ATTNKIT_CUDA_CHECK(cudaMallocAsync(&classes, cells, stream));
  detail::dense_to_classes_kernel<<<unsigned((cells + 255) / 256), 256, 0, stream>>>(kept, cells, classes);
  ATTNKIT_CHECK_LAUNCH();
  DeviceBlockMask mask = build_block_mask(classes, batches, heads, q_blocks, kv_blocks, block_m, block_n, stream);
  ATTNKIT_CUDA_CHECK(cudaFreeAsync(classes, stream));
  return mask;
}

// From a mask_mod functor (anything with `bool mask_mod(batch, head, q, k) const` callable on
// the device, e.g. the patterns of mask_patterns.cuh), evaluated on every pair.
template <class MaskMod>
DeviceBlockMask build_block_mask_from_mask_mod(const MaskMod& mask_mod, int batches, int heads, int seqlen_q,
                                               int seqlen_k, int block_m = kDefaultMaskBlock,
                                               int block_n = kDefaultMaskBlock, cudaStream_t stream = nullptr) {
  require(seqlen_q > 0 && seqlen_k > 0 && block_m > 0 && block_n > 0, "block mask of seqlen_q = ", seqlen_q,
          ", seqlen_k = ", seqlen_k, " in ", block_m, " × ", block_n, " blocks: every extent must be positive");
  const int q_blocks = (seqlen_q + block_m - 1) / block_m, kv_blocks = (seqlen_k + block_n - 1) / block_n;
  const std::size_t cells = std::size_t(batches) * heads * q_blocks * kv_blocks;
  uint8_t* classes = nullptr;
  ATTNKIT_CUDA_CHECK(cudaMallocAsync(&classes, cells, stream));
  detail::classify_blocks_kernel<<<dim3(kv_blocks, q_blocks, batches * heads), 256, 0, stream>>>(
      mask_mod, heads, seqlen_q, seqlen_k, block_m, block_n, classes);
  ATTNKIT_CHECK_LAUNCH();
  DeviceBlockMask mask = build_block_mask(classes, batches, heads, q_blocks, kv_blocks, block_m, block_n, stream);
  ATTNKIT_CUDA_CHECK(cudaFreeAsync(classes, stream));
  return mask;
}

#endif  // __CUDACC__

}  // namespace attnkit
