#pragma once
// Part of the standard-attention test oracle (standard_attention.cuh), shaped by its needs.
// cuBLAS for the standard-attention reference: status checking, an owned handle, and one
// strided-batched GEMM written in row-major terms so the attention code reads like the math
// (S = Q Kᵀ, O = P V, dV = Pᵀ dO, ...).
//
// Precision is chosen by the element type:
//   float        CUBLAS_COMPUTE_32F_PEDANTIC: true fp32, no TF32 and no reduced-precision
//                shortcut even when NVIDIA_TF32_OVERRIDE or the handle's math mode would allow
//                one. This is the oracle the fused kernels are judged against.
//   half, bf16   16-bit operands and result, fp32 accumulation on tensor cores: the plain
//                same-precision implementation the papers time as their baseline.

#include <climits>
#include <cstdint>
#include <utility>

#include <cublas_v2.h>

#include "../core/element.cuh"
#include "../core/error.cuh"

namespace attnkit {

inline void check_cublas(cublasStatus_t status, const char* what, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS)
    detail::fail(what, " failed: ", cublasGetStatusName(status), " (", cublasGetStatusString(status), ") at ",
                 file, ":", line);
}

}  // namespace attnkit

// Checks a cuBLAS call; throws attnkit::error naming the call and the status.
#define ATTNKIT_CUBLAS_CHECK(call) ::attnkit::check_cublas((call), #call, __FILE__, __LINE__)

namespace attnkit::reference {

template <class Element>
struct CublasTypes;

template <>
struct CublasTypes<float> {
  static constexpr cudaDataType_t data = CUDA_R_32F;
  static constexpr cublasComputeType_t compute = CUBLAS_COMPUTE_32F_PEDANTIC;
};
template <>
struct CublasTypes<half_t> {
  static constexpr cudaDataType_t data = CUDA_R_16F;
  static constexpr cublasComputeType_t compute = CUBLAS_COMPUTE_32F;
};
template <>
struct CublasTypes<bfloat16_t> {
  static constexpr cudaDataType_t data = CUDA_R_16BF;
  static constexpr cublasComputeType_t compute = CUBLAS_COMPUTE_32F;
};

// Owns one cuBLAS handle; not copyable, movable.
class CublasHandle {
 public:
  CublasHandle() { ATTNKIT_CUBLAS_CHECK(cublasCreate(&handle_)); }
  ~CublasHandle() {
    if (handle_ != nullptr) cublasDestroy(handle_);  // a destructor must not throw
  }
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;
  CublasHandle(CublasHandle&& other) noexcept : handle_(other.handle_) { other.handle_ = nullptr; }
  CublasHandle& operator=(CublasHandle&& other) noexcept {
    std::swap(handle_, other.handle_);
    return *this;
  }

  cublasHandle_t get() const { return handle_; }

 private:
  cublasHandle_t handle_ = nullptr;
};

// A batch of row-major matrices: matrix i starts at data + i * batch_stride, and its rows are
// row_stride elements apart (columns have unit stride). `transposed` makes the GEMM use the
// matrix as stored transposed, e.g. K stored (s_k × d) read as Kᵀ.
template <class T>
struct RowMajorBatch {
  T* data = nullptr;
  int64_t row_stride = 0;
  int64_t batch_stride = 0;
  bool transposed = false;
};

template <class T>
RowMajorBatch<T> row_major(T* data, int64_t row_stride, int64_t batch_stride) {
  return {data, row_stride, batch_stride, false};
}
template <class T>
RowMajorBatch<T> transposed(T* data, int64_t row_stride, int64_t batch_stride) {
  return {data, row_stride, batch_stride, true};
}

// For each of `count` matrices: C (m × n) = alpha · op(A) (m × k) · op(B) (k × n) + beta · C.
// cuBLAS is column-major, and a row-major matrix is its column-major transpose, so this asks
// cuBLAS for Cᵀ = op(B)ᵀ op(A)ᵀ: the operands swap places and keep their transpose flags.
template <class Element>
void gemm_row_major(cublasHandle_t handle, int m, int n, int k, float alpha, RowMajorBatch<const Element> a,
                    RowMajorBatch<const Element> b, float beta, RowMajorBatch<Element> c, int count) {
  require(m > 0 && n > 0 && k > 0 && count > 0, "gemm_row_major: empty shape m = ", m, ", n = ", n, ", k = ", k,
          ", count = ", count);
  const int64_t leading_dimensions[] = {a.row_stride, b.row_stride, c.row_stride};
  for (const int64_t ld : leading_dimensions)
    require(ld > 0 && ld <= INT_MAX, "gemm_row_major: row stride ", ld, " outside cuBLAS's int range");
  const auto op = [](bool transposed_operand) { return transposed_operand ? CUBLAS_OP_T : CUBLAS_OP_N; };
  using Types = CublasTypes<Element>;
  ATTNKIT_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
      handle, op(b.transposed), op(a.transposed), n, m, k, &alpha,  //
      b.data, Types::data, static_cast<int>(b.row_stride), b.batch_stride,  //
      a.data, Types::data, static_cast<int>(a.row_stride), a.batch_stride, &beta,  //
      c.data, Types::data, static_cast<int>(c.row_stride), c.batch_stride,  //
      count, Types::compute, CUBLAS_GEMM_DEFAULT));
}

}  // namespace attnkit::reference
