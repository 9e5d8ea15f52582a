// The GPU block-mask builders (mask/block_mask_builder.cuh) against the host builder
// (mask/block_mask.cuh): from every pattern of mask_patterns.cuh through its mask_mod, from a
// dense boolean block mask, per-entry and broadcast, with blocks that do not divide the
// sequence. The lists must be equal entry for entry (index rows up to their counts).

#include <catch2/catch_test_macros.hpp>

#include <random>
#include <vector>

#include "attnkit/mask/block_mask_builder.cuh"
#include "attnkit/mask/mask_patterns.cuh"
#include "support/device_array.cuh"

using namespace attnkit;
using attnkit::testing::DeviceArray;

namespace {

void check_equal(const HostBlockMask& expected, const HostBlockMask& actual) {
  REQUIRE(actual.q_blocks == expected.q_blocks);
  REQUIRE(actual.kv_blocks == expected.kv_blocks);
  CHECK(actual.full_counts == expected.full_counts);
  CHECK(actual.partial_counts == expected.partial_counts);
  CHECK(actual.full_q_counts == expected.full_q_counts);
  CHECK(actual.partial_q_counts == expected.partial_q_counts);
  auto compare_lists = [](const std::vector<int>& counts, const std::vector<int>& want, const std::vector<int>& got,
                          int length) {
    for (std::size_t row = 0; row < counts.size(); ++row)
      for (int n = 0; n < counts[row]; ++n) CHECK(got[row * length + n] == want[row * length + n]);
  };
  compare_lists(expected.full_counts, expected.full_indices, actual.full_indices, expected.kv_blocks);
  compare_lists(expected.partial_counts, expected.partial_indices, actual.partial_indices, expected.kv_blocks);
  compare_lists(expected.full_q_counts, expected.full_q_indices, actual.full_q_indices, expected.q_blocks);
  compare_lists(expected.partial_q_counts, expected.partial_q_indices, actual.partial_q_indices, expected.q_blocks);
}

// The host list of a mask_mod by brute force over each block's pairs (what the GPU builder
// does), so patterns with a conservative classify (strided) compare equal too.
template <class Pattern>
HostBlockMask host_by_elements(const Pattern& pattern, int batches, int heads, int seqlen_q, int seqlen_k,
                               int block_m, int block_n) {
  return build_block_mask_host(
      batches, heads, seqlen_q, seqlen_k,
      [&](int b, int h, TileBounds t) {
        bool kept = false, dropped = false;
        for (int q = t.q_begin; q < t.q_end; ++q)
          for (int k = t.k_begin; k < t.k_end; ++k) (pattern.mask_mod(b, h, q, k) ? kept : dropped) = true;
        return !kept ? TileClass::skip : dropped ? TileClass::partial : TileClass::full;
      },
      block_m, block_n);
}

template <class Pattern>
void check_pattern(const Pattern& pattern, int batches, int heads, int seqlen_q, int seqlen_k, int block_m,
                   int block_n) {
  INFO(seqlen_q << " × " << seqlen_k << " in " << block_m << " × " << block_n << " blocks, " << batches << " × "
                << heads << " entries");
  const DeviceBlockMask device =
      build_block_mask_from_mask_mod(pattern, batches, heads, seqlen_q, seqlen_k, block_m, block_n);
  ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());
  check_equal(host_by_elements(pattern, batches, heads, seqlen_q, seqlen_k, block_m, block_n), device.download());
}

}  // namespace

TEST_CASE("GPU block-mask builder from mask_mod equals the host builder", "[mask][block_mask][gpu]") {
  check_pattern(CausalPattern{}, 1, 1, 1000, 1000, 128, 128);
  check_pattern(CausalPattern{{}, 300}, 2, 1, 700, 1000, 64, 128);
  check_pattern(SlidingWindowPattern{{}, 256, 0}, 1, 2, 3000, 3000, 128, 128);
  check_pattern(LocalGlobalPattern{{}, 200, 64, 0}, 1, 1, 4100, 4100, 128, 128);
  check_pattern(StridedPattern{{}, 100, 0}, 1, 1, 2000, 2000, 64, 64);
  std::vector<int> ids(2500);
  for (int i = 0; i < 2500; ++i) ids[i] = i / 333;
  DeviceArray<int> device_ids(ids);
  DocumentPattern on_device{{}, device_ids.get(), 2500, true, 0};
  // The host side evaluates the same pattern over the host copy of the ids.
  const DeviceBlockMask device = build_block_mask_from_mask_mod(on_device, 1, 1, 2500, 2500, 128, 128);
  ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());
  DocumentPattern on_host = on_device;
  on_host.document = ids.data();
  check_equal(host_by_elements(on_host, 1, 1, 2500, 2500, 128, 128), device.download());
}

TEST_CASE("GPU block-mask builder from a dense boolean block mask", "[mask][block_mask][gpu]") {
  std::mt19937 rng(1);
  const int batches = 2, heads = 3, q_blocks = 37, kv_blocks = 300;  // rows longer than a scan chunk
  std::vector<char> kept(std::size_t(batches) * heads * q_blocks * kv_blocks);
  for (char& k : kept) k = rng() % 3 == 0;
  DeviceArray<char> device_kept(kept);
  const DeviceBlockMask device = build_block_mask_from_dense(reinterpret_cast<const bool*>(device_kept.get()),
                                                             batches, heads, q_blocks, kv_blocks);
  ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());
  const HostBlockMask host = build_block_mask_host(
      batches, heads, q_blocks * 128, kv_blocks * 128, [&](int b, int h, TileBounds t) {
        const std::size_t cell = ((std::size_t(b) * heads + h) * q_blocks + t.q_begin / 128) * kv_blocks + t.k_begin / 128;
        return kept[cell] ? TileClass::full : TileClass::skip;
      });
  check_equal(host, device.download());
}
