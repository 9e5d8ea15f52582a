#pragma once
// Host side of the tensor-memory accelerator: a CUtensorMap that describes one strided
// (batch, row, head, head_dim) tensor, such as attention's Q, K or V, to the TMA, built through the driver's cuTensorMapEncodeTiled. The entry
// point is fetched from the runtime (cudaGetDriverEntryPointByVersion), so nothing links
// against libcuda.
//
// The map sees the tensor as 4-D, fastest dimension first: (head_dim, rows, heads, batch), with
// the TensorRef's strides; a varlen tensor is (head_dim, total rows, heads, 1). One copy moves a
// box of 64 columns × `box_rows` rows of one head: a 128-byte-swizzled panel
// (layout/wgmma_layout.cuh). Rows past the end of the tensor arrive as zeros.

#include <cstdint>

#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_runtime_api.h>

#include "../core/element.cuh"
#include "../core/error.cuh"
#include "../core/tensor_ref.cuh"

namespace attnkit::hopper {

inline constexpr int kTmaPanelColumns = 64;  // 128 bytes of 16-bit elements: the swizzle's row

inline PFN_cuTensorMapEncodeTiled_v12000 tensor_map_encoder() {
  static const PFN_cuTensorMapEncodeTiled_v12000 encoder = [] {
    void* function = nullptr;
    cudaDriverEntryPointQueryResult found = cudaDriverEntryPointSymbolNotFound;
    ATTNKIT_CUDA_CHECK(
        cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &function, 12000, cudaEnableDefault, &found));
    require(found == cudaDriverEntryPointSuccess && function != nullptr,
            "the driver has no cuTensorMapEncodeTiled (query result ", static_cast<int>(found), ")");
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(function);
  }();
  return encoder;
}

// `rows`: seqlen (dense) or total packed rows (varlen); `batch`: 1 for varlen.
inline CUtensorMap make_tensor_map(const TensorRef& tensor, DType dtype, int head_dim, int64_t rows, int heads,
                                   int batch, int box_rows) {
  require(head_dim % kTmaPanelColumns == 0, "head_dim = ", head_dim,
          " is not a multiple of 64 (the TMA copies 64-column swizzled panels)");
  require(box_rows > 0 && box_rows <= 256, "TMA box of ", box_rows, " rows (at most 256)");
  constexpr int64_t kElementBytes = 2;
  const cuuint64_t dims[4] = {static_cast<cuuint64_t>(head_dim), static_cast<cuuint64_t>(rows),
                              static_cast<cuuint64_t>(heads), static_cast<cuuint64_t>(batch)};
  const int64_t batch_stride = batch > 1 ? tensor.batch_stride : rows * tensor.row_stride;
  const cuuint64_t strides[3] = {static_cast<cuuint64_t>(tensor.row_stride * kElementBytes),
                                 static_cast<cuuint64_t>(tensor.head_stride * kElementBytes),
                                 static_cast<cuuint64_t>(batch_stride * kElementBytes)};
  const cuuint32_t box[4] = {static_cast<cuuint32_t>(kTmaPanelColumns), static_cast<cuuint32_t>(box_rows), 1, 1};
  const cuuint32_t element_strides[4] = {1, 1, 1, 1};
  CUtensorMap map;
  const CUresult status = tensor_map_encoder()(
      &map, dtype == DType::bf16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 4, tensor.data,
      dims, strides, box, element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
      CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  require(status == CUDA_SUCCESS, "cuTensorMapEncodeTiled failed with CUresult ", static_cast<int>(status),
          " (data ", tensor.data, ", rows ", rows, ", heads ", heads, ", batch ", batch, ", strides ", tensor.row_stride,
          "/", tensor.head_stride, "/", batch_stride, " elements, box ", box_rows, " rows)");
  return map;
}

}  // namespace attnkit::hopper
