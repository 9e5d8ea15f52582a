// The Hopper blocks on their own, one warpgroup: TMA panel loads completing on an mbarrier,
// then S = A·Bᵀ (both operands K-major in shared memory) and O = P·V (P from registers, V
// MN-major across two 64-column panels), against float64 products on the host; then O as
// 16-bit elements through stmatrix into a swizzled tile and out by one TMA store per warp, into
// a map whose view ends inside the last warp's rows. Exercises sm90/tensor_map.cuh, sm90/tma_load.cuh,
// sm90/tma_store.cuh, sm90/stmatrix_store.cuh, sm90/mbarrier_pipeline.cuh, sm90/wgmma.cuh and the ownership map of
// layout/wgmma_layout.cuh.

#include <cmath>
#include <vector>

#include <catch2/catch_test_macros.hpp>

#include "attnkit/reference/host_tensor.cuh"
#include "attnkit/sm90/mbarrier_pipeline.cuh"
#include "attnkit/sm90/stmatrix_store.cuh"
#include "attnkit/sm90/tma_load.cuh"
#include "attnkit/sm90/tma_store.cuh"
#include "attnkit/sm90/wgmma.cuh"
#include "hopper_forward_cases.cuh"
#include "support/device_array.cuh"

namespace {

using namespace attnkit;
using namespace attnkit::testing;

constexpr int kM = 64;    // rows of A, S, O
constexpr int kK = 128;   // reduction dim of S (two panels)
constexpr int kN = 128;   // rows of B: columns of S
constexpr int kKeys = 64; // reduction dim of O = P·V: the first 64 columns of A act as P
constexpr int kD = 128;   // columns of V and O (two panels: the MN-major leading offset)
constexpr int kStoredRows = 60;  // rows of the O map's view: the TMA must skip rows 60..63

template <class Element>
struct Tiles {
  alignas(1024) Element a[kM * kK];
  alignas(1024) Element b[kN * kK];
  alignas(1024) Element v[kKeys * kD];
  uint64_t loaded;
};

struct Maps {
  CUtensorMap a, b, v;
  CUtensorMap o;  // 16-bit O, boxes of 16 rows (one warp's)
};

template <class Element>
__global__ void __launch_bounds__(128) gemm_blocks_kernel(const __grid_constant__ Maps maps, const Element* a_global,
                                                          float* s_out, float* o_out) {
#if ATTNKIT_DEVICE_SM90A
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  const uint32_t misalignment = hopper::shared_address(shared_bytes) % 1024;
  Tiles<Element>& tiles = *reinterpret_cast<Tiles<Element>*>(shared_bytes + (misalignment ? 1024 - misalignment : 0));
  const int thread = threadIdx.x;
  if (thread == 0) {
    cuda::ptx::mbarrier_init(&tiles.loaded, 1);
    cuda::ptx::fence_mbarrier_init(cuda::ptx::sem_release, cuda::ptx::scope_cluster);
  }
  __syncthreads();
  if (thread == 0) {
    cuda::ptx::mbarrier_arrive_expect_tx(cuda::ptx::sem_release, cuda::ptx::scope_cta, cuda::ptx::space_shared,
                                         &tiles.loaded, static_cast<uint32_t>(sizeof(tiles.a) + sizeof(tiles.b) + sizeof(tiles.v)));
    hopper::tma_load_panels<kK, kM * 64>(tiles.a, maps.a, 0, 0, 0, &tiles.loaded);
    hopper::tma_load_panels<kK, kN * 64>(tiles.b, maps.b, 0, 0, 0, &tiles.loaded);
    hopper::tma_load_panels<kD, kKeys * 64>(tiles.v, maps.v, 0, 0, 0, &tiles.loaded);
  }
  hopper::mbarrier_wait(&tiles.loaded, 0);

  AccumulatorTile<1, kN / 8> s;
  hopper::wgmma_fence();
  hopper::warpgroup_gemm_a_bt<Element, kM, kN, kK / 16>(s, tiles.a, tiles.b, false);
  hopper::wgmma_commit_group();
  hopper::wgmma_wait_group<0>();
  hopper::fence_operands(s);
  const int lane = thread % 32;
  for (int j = 0; j < kN / 2; ++j) {
    const layout::Coord c = layout::wgmma_accumulator_coord(thread, j);
    s_out[c.row * kN + c.col] = s.v[0][j / 4][j % 4];
  }

  // P: this warp's 16 rows of A's first kKeys columns, gathered by the m16n8k16 A map.
  OperandTileA<1, kKeys / 16> p;
  for (int t = 0; t < kKeys / 16; ++t)
    for (int reg = 0; reg < 4; ++reg) {
      const layout::Coord lo = layout::mma_a_coord(lane, reg, 0);
      const layout::Coord hi = layout::mma_a_coord(lane, reg, 1);
      const int row = (thread / 32) * 16;
      p.v[0][t][reg] = pack2<Element>(to_float(a_global[(row + lo.row) * kK + 16 * t + lo.col]),
                                      to_float(a_global[(row + hi.row) * kK + 16 * t + hi.col]));
    }
  AccumulatorTile<1, kD / 8> o;
  o.fill(0.5f);  // accumulates onto what is there
  hopper::wgmma_fence();
  hopper::warpgroup_gemm_regs_b<Element, kKeys>(o, p, tiles.v);
  hopper::wgmma_commit_group();
  hopper::wgmma_wait_group<0>();
  hopper::fence_operands(o);
  hopper::fence_operands(p);
  for (int j = 0; j < kD / 2; ++j) {
    const layout::Coord c = layout::wgmma_accumulator_coord(thread, j);
    o_out[c.row * kD + c.col] = o.v[0][j / 4][j % 4];
  }

  // O to 16 bits in the A tile (kM × kD like O; every warp's GEMM reads of it have retired,
  // the barrier keeps a fast warp from writing before a slow one's wait), then each warp's
  // 16 rows out by the TMA: generic writes, proxy fence, warp sync, then lane 0 issues.
  __syncthreads();
  const int warp_row = (thread / 32) * 16;
  hopper::store_accumulator_stmatrix<Element, layout::SwizzledTile<kM, kD>>(o, tiles.a, warp_row, lane);
  cuda::ptx::fence_proxy_async(cuda::ptx::space_shared);
  __syncwarp();
  if (lane == 0) {
    hopper::tma_store_panels<kD, kM * 64>(tiles.a + warp_row * 64, maps.o, warp_row, 0, 0);
    hopper::tma_store_wait();
  }
#endif
}

template <class Element>
void check_gemm_blocks(uint64_t seed) {
  std::vector<double> a_values = reference::random_normal(kM * kK, seed, 1.0);
  std::vector<double> b_values = reference::random_normal(kN * kK, seed + 1, 1.0);
  std::vector<double> v_values = reference::random_normal(kKeys * kD, seed + 2, 1.0);
  const std::vector<Element> a = round_to_elements<Element>(a_values);
  const std::vector<Element> b = round_to_elements<Element>(b_values);
  const std::vector<Element> v = round_to_elements<Element>(v_values);
  DeviceArray<Element> a_device(a), b_device(b), v_device(v);
  DeviceArray<float> s_device(kM * kN), o_device(kM * kD);
  // Poisoned: rows the TMA store must not reach keep this value.
  const Element poison = from_float<Element>(-777.f);
  DeviceArray<Element> o16_device(std::vector<Element>(kM * kD, poison));

  auto matrix = [](void* data, int cols) {
    TensorRef t;
    t.data = data;
    t.row_stride = cols;
    t.head_stride = cols;
    t.batch_stride = cols;
    return t;
  };
  const DType dtype = ElementTraits<Element>::dtype;
  Maps maps;
  maps.a = hopper::make_tensor_map(matrix(a_device.get(), kK), dtype, kK, kM, 1, 1, kM);
  maps.b = hopper::make_tensor_map(matrix(b_device.get(), kK), dtype, kK, kN, 1, 1, kN);
  maps.v = hopper::make_tensor_map(matrix(v_device.get(), kD), dtype, kD, kKeys, 1, 1, kKeys);
  maps.o = hopper::make_tensor_map(matrix(o16_device.get(), kD), dtype, kD, kStoredRows, 1, 1, 16);
  const int smem_bytes = static_cast<int>(sizeof(Tiles<Element>)) + 1024;
  ATTNKIT_CUDA_CHECK(
      cudaFuncSetAttribute(gemm_blocks_kernel<Element>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem_bytes));
  gemm_blocks_kernel<Element><<<1, 128, smem_bytes>>>(maps, a_device.get(), s_device.get(), o_device.get());
  ATTNKIT_CHECK_LAUNCH();
  ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());
  const std::vector<float> s = s_device.download();
  const std::vector<float> o = o_device.download();
  const std::vector<Element> o16 = o16_device.download();

  // fp32 accumulation of exact 16-bit products: a few ulps of the sum's magnitude.
  double s_error = 0, o_error = 0, o16_error = 0;
  int o16_unwritten = 0, o16_past_view = 0;
  for (int m = 0; m < kM; ++m)
    for (int n = 0; n < kN; ++n) {
      double expected = 0;
      for (int k = 0; k < kK; ++k) expected += to_double(a[m * kK + k]) * to_double(b[n * kK + k]);
      s_error = std::fmax(s_error, std::fabs(s[m * kN + n] - expected));
    }
  for (int m = 0; m < kM; ++m)
    for (int d = 0; d < kD; ++d) {
      double expected = 0.5;
      for (int k = 0; k < kKeys; ++k) expected += to_double(a[m * kK + k]) * to_double(v[k * kD + d]);
      o_error = std::fmax(o_error, std::fabs(o[m * kD + d] - expected));
      const float stored = to_float(o16[m * kD + d]);
      if (m < kStoredRows) {
        // One rounding to 16 bits (half an ulp: 2^-9 relative for bf16, 2^-12 for fp16) on top
        // of the fp32 sum's error: within |expected|·2^-8 + 1e-3, as a fraction of that bound.
        o16_unwritten += stored == to_float(poison);
        o16_error = std::fmax(o16_error, std::fabs(stored - expected) / (std::fabs(expected) / 256 + 1e-3));
      } else {
        o16_past_view += stored != to_float(poison);
      }
    }
  INFO(ElementTraits<Element>::name << ": max |S - S_ref| = " << s_error << ", max |O - O_ref| = " << o_error
                                    << ", 16-bit O: max error / bound " << o16_error << ", " << o16_unwritten
                                    << " elements unwritten, " << o16_past_view << " written past the view");
  CHECK(s_error < 1e-3);
  CHECK(o_error < 1e-3);
  CHECK(o16_error <= 1.0);
  CHECK(o16_unwritten == 0);
  CHECK(o16_past_view == 0);
}

}  // namespace

TEST_CASE("hopper blocks: TMA panels, wgmma A·Bᵀ from shared memory and P·V from registers, stmatrix and TMA store",
          "[hopper][blocks]") {
  skip_unless_hopper();
  check_gemm_blocks<bfloat16_t>(11);
  check_gemm_blocks<half_t>(12);
}
