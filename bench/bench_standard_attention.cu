// The baseline of the FlashAttention papers' plots: standard attention in bf16 (cuBLAS GEMMs
// with a materialized score matrix, reference/standard_attention.cuh), forward and backward,
// over the papers' grid.
//
// The score matrix is processed in chunks of heads within StandardAttention's default 4 GiB
// workspace budget, so every grid point fits on an 80 GB GPU (a framework that materializes
// all heads at once runs out of memory at the longest sequences). A point whose workspace
// cannot be allocated is skipped with the allocation error.

#include <cstddef>
#include <memory>
#include <string>

#include <cublas_v2.h>

#include "attention_tensors.cuh"
#include "attnkit/reference/standard_attention.cuh"
#include "harness.cuh"

namespace {

using attnkit::bfloat16_t;
using attnkit::DeviceBuffer;
using attnkit::GpuTimer;
using attnkit::bench::backward_bytes;
using attnkit::bench::forward_bytes;
using attnkit::bench::ForwardTensors;
using attnkit::bench::GridPoint;
using attnkit::bench::random_normal_buffer;
using Attention = attnkit::reference::StandardAttention<bfloat16_t>;

// One object for the whole run, so its workspace is allocated once, not per benchmark. Made on
// first use (it creates a cuBLAS handle, which needs a GPU) and destroyed by main, before the
// CUDA runtime shuts down.
std::unique_ptr<Attention>& attention_slot() {
  static std::unique_ptr<Attention> attention;
  return attention;
}
Attention& standard_attention() {
  if (!attention_slot()) attention_slot() = std::make_unique<Attention>();
  return *attention_slot();
}

void forward(benchmark::State& state, const GridPoint& point) {
  GpuTimer timer;
  ForwardTensors tensors(point);
  attnkit::bench::time_on_gpu(state, timer, point.flops(false), forward_bytes(point),
                              [&] { standard_attention().forward(tensors.problem, timer.stream()); });
}

void backward(benchmark::State& state, const GridPoint& point) {
  GpuTimer timer;
  ForwardTensors tensors(point);
  const std::size_t elements = point.tensor_elements();
  DeviceBuffer<bfloat16_t> d_out = random_normal_buffer<bfloat16_t>(elements, 4);
  DeviceBuffer<bfloat16_t> d_q(elements), d_k(elements), d_v(elements);
  const attnkit::AttentionProblem& problem = tensors.problem;
  auto with_data = [](attnkit::TensorRef layout, void* data) {
    layout.data = data;
    return layout;
  };
  const attnkit::TensorRef d_out_ref = with_data(problem.o, d_out.get());
  const attnkit::TensorRef d_q_ref = with_data(problem.q, d_q.get());
  const attnkit::TensorRef d_k_ref = with_data(problem.k, d_k.get());
  const attnkit::TensorRef d_v_ref = with_data(problem.v, d_v.get());

  standard_attention().forward(problem, timer.stream());  // the backward reads O
  attnkit::bench::time_on_gpu(state, timer, point.flops(true), backward_bytes(point), [&] {
    standard_attention().backward(problem, d_out_ref, d_q_ref, d_k_ref, d_v_ref, timer.stream());
  });
}

}  // namespace

int main(int argc, char** argv) {
  attnkit::bench::register_paper_grid("standard_fwd", forward);
  attnkit::bench::register_paper_grid("standard_bwd", backward);
  int cublas_major = 0, cublas_minor = 0, cublas_patch = 0;
  ATTNKIT_CUBLAS_CHECK(cublasGetProperty(MAJOR_VERSION, &cublas_major));
  ATTNKIT_CUBLAS_CHECK(cublasGetProperty(MINOR_VERSION, &cublas_minor));
  ATTNKIT_CUBLAS_CHECK(cublasGetProperty(PATCH_LEVEL, &cublas_patch));
  benchmark::AddCustomContext("cublas_version", std::to_string(cublas_major) + "." + std::to_string(cublas_minor) +
                                                    "." + std::to_string(cublas_patch));
  benchmark::AddCustomContext("standard_attention_workspace_budget_bytes",
                              std::to_string(Attention::kDefaultWorkspaceBudget));
  const int status = attnkit::bench::run_benchmarks(argc, argv);
  attention_slot().reset();
  return status;
}
