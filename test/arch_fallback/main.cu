// Runs attnkit's dispatch, forward and backward, on a small causal GQA problem and checks the
// result against the float64 reference. Given the kernel family a Hopper GPU must get from
// this build ("hopper" for a build with sm_90a, "sm80" for one without), it also checks the
// plan on a Hopper GPU, and that hopper::forward called directly throws attnkit::error (the
// context still usable afterwards) where the build has no sm_90a kernels.
//
//   arch_fallback hopper|sm80        prints "arch_fallback: skipped: ..." without a GPU

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>

#include <attnkit/dispatch_backward.cuh>
#include <attnkit/reference/cpu_attention.cuh>
#include <attnkit/reference/host_tensor.cuh>

#include "dispatch_calls.h"
#include "support/device_array.cuh"

namespace {

using Element = attnkit::bfloat16_t;
using attnkit::testing::DeviceArray;

constexpr int kBatch = 2, kHeadsQ = 4, kHeadsKv = 2, kSeqlenQ = 77, kSeqlenK = 133, kHeadDim = 64;
// bf16 inputs and outputs against the exact result: far above a correct kernel's error, far
// below that of a kernel that did not run.
constexpr double kTolerance = 3e-2;

struct Check {
  int failures = 0;
  void expect(bool condition, const std::string& what) {
    std::printf("arch_fallback: %s: %s\n", condition ? "ok" : "FAILED", what.c_str());
    failures += condition ? 0 : 1;
  }
};

std::vector<double> download(const DeviceArray<Element>& array) {
  return attnkit::testing::to_doubles(array.download());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 || (std::strcmp(argv[1], "hopper") != 0 && std::strcmp(argv[1], "sm80") != 0)) {
    std::fprintf(stderr, "usage: %s hopper|sm80\n", argv[0]);
    return 2;
  }
  const auto expected = std::strcmp(argv[1], "hopper") == 0 ? attnkit::KernelFamily::hopper : attnkit::KernelFamily::sm80;
  int device_count = 0;
  if (cudaGetDeviceCount(&device_count) != cudaSuccess || device_count == 0) {
    std::printf("arch_fallback: skipped: no CUDA device\n");
    return 0;
  }
  Check check;
  try {
    int device = 0, major = 0;
    ATTNKIT_CUDA_CHECK(cudaGetDevice(&device));
    ATTNKIT_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
    const bool hopper_gpu = major == 9;

    namespace ref = attnkit::reference;
    const ref::Shape shape =
        ref::Shape::dense(kBatch, kHeadsQ, kHeadsKv, kSeqlenQ, kSeqlenK, kHeadDim, attnkit::BandMask::causal());
    std::vector<double> q = ref::random_normal(std::size_t(kBatch) * kSeqlenQ * kHeadsQ * kHeadDim, 1);
    std::vector<double> k = ref::random_normal(std::size_t(kBatch) * kSeqlenK * kHeadsKv * kHeadDim, 2);
    std::vector<double> v = ref::random_normal(k.size(), 3);
    std::vector<double> d_o = ref::random_normal(q.size(), 4);
    const DeviceArray<Element> q_gpu(attnkit::testing::round_to_elements<Element>(q));
    const DeviceArray<Element> k_gpu(attnkit::testing::round_to_elements<Element>(k));
    const DeviceArray<Element> v_gpu(attnkit::testing::round_to_elements<Element>(v));
    const DeviceArray<Element> d_o_gpu(attnkit::testing::round_to_elements<Element>(d_o));
    DeviceArray<Element> o_gpu(q.size()), d_q_gpu(q.size()), d_k_gpu(k.size()), d_v_gpu(k.size());
    DeviceArray<float> lse_gpu(std::size_t(kBatch) * kHeadsQ * kSeqlenQ);

    attnkit::AttentionProblem problem =
        attnkit::make_bshd_problem(attnkit::DType::bf16, kBatch, kHeadsQ, kHeadsKv, kSeqlenQ, kSeqlenK, kHeadDim,
                                   q_gpu.get(), k_gpu.get(), v_gpu.get(), o_gpu.get(), lse_gpu.get());
    problem.band = attnkit::BandMask::causal();
    const attnkit::BackwardGradients grads =
        attnkit::make_gradients_like(problem, d_o_gpu.get(), d_q_gpu.get(), d_k_gpu.get(), d_v_gpu.get());

    const attnkit::Plan forward_plan = attnkit::plan(problem);
    const attnkit::Plan backward_plan = attnkit::plan(problem, grads);
    std::printf("arch_fallback: compute capability %d.x; forward runs %s%s%s, backward %s%s%s\n", major,
                attnkit::kernel_family_name(forward_plan.kernel), forward_plan.reason.empty() ? "" : ": ",
                forward_plan.reason.c_str(), attnkit::kernel_family_name(backward_plan.kernel),
                backward_plan.reason.empty() ? "" : ": ", backward_plan.reason.c_str());
    if (hopper_gpu) {
      check.expect(forward_plan.kernel == expected, "forward plan on a Hopper GPU is " + std::string(argv[1]));
      check.expect(backward_plan.kernel == expected, "backward plan on a Hopper GPU is " + std::string(argv[1]));
    }

    const ref::ForwardResult exact = ref::forward(shape, q, k, v);
    const ref::BackwardResult exact_grads = ref::backward(shape, q, k, v, d_o);
    auto check_outputs = [&](const char* when) {
      ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());
      const double o_error = ref::relative_error(download(o_gpu), exact.o);
      check.expect(o_error < kTolerance, std::string(when) + ": O relative error " + std::to_string(o_error));
    };

    run_forward(problem);
    check_outputs("forward");
    run_backward(problem, grads);
    ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());
    const double dq_error = ref::relative_error(download(d_q_gpu), exact_grads.dq);
    const double dk_error = ref::relative_error(download(d_k_gpu), exact_grads.dk);
    const double dv_error = ref::relative_error(download(d_v_gpu), exact_grads.dv);
    check.expect(dq_error < kTolerance && dk_error < kTolerance && dv_error < kTolerance,
                 "backward: dQ, dK, dV relative errors " + std::to_string(dq_error) + ", " + std::to_string(dk_error) +
                     ", " + std::to_string(dv_error));

    if (hopper_gpu && expected == attnkit::KernelFamily::sm80) {
      bool refused = false;
      try {
        run_hopper_forward(problem);
      } catch (const attnkit::error& refusal) {
        refused = std::strstr(refusal.what(), "sm_90a") != nullptr;
        std::printf("arch_fallback: hopper::forward refused: %s\n", refusal.what());
      }
      check.expect(refused, "hopper::forward on this build throws attnkit::error naming sm_90a");
      o_gpu.poison();
      run_forward(problem);
      check_outputs("forward after the refusal (the context is alive)");
    }
  } catch (const std::exception& failure) {
    std::printf("arch_fallback: FAILED: %s\n", failure.what());
    return 1;
  }
  std::printf("arch_fallback: %s\n", check.failures == 0 ? "PASSED" : "FAILED");
  return check.failures == 0 ? 0 : 1;
}
