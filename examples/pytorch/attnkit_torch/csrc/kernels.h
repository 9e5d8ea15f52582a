// The extension's kernel entry points: plain C++ over attnkit's AttentionProblem, no torch
// types, so the CUDA translation units compile without the torch headers. One unit per
// (head dim, score modification), generated at build time (attnkit_torch/__init__.py), adds
// its pair of functions to the registry; the binding looks them up.
#pragma once

#include <cstdint>
#include <cstring>
#include <exception>
#include <map>
#include <utility>

#include <cuda_runtime_api.h>

#include <attnkit/attention/backward_problem.cuh>
#include <attnkit/attention/problem.cuh>
#include <attnkit/decode/decode_problem.cuh>

namespace attnkit_torch {

// flash-attn's score arguments: soft-capping (softcap > 0), ALiBi (alibi_slopes: fp32 on the
// device, one slope per query head, for every batch entry or per entry), or both, the cap
// first and the bias on the capped score, in flash-attn's order.
enum class ScoreModKind : int { none = 0, softcap = 1, alibi = 2, alibi_softcap = 3 };
struct ScoreMod {
  ScoreModKind kind = ScoreModKind::none;
  float softcap = 0.f;
  const float* alibi_slopes = nullptr;
  int64_t alibi_batch_stride = 0;  // between entries' rows of slopes; 0: one row for every entry
};

// How an entry point ended. An exception never leaves a kernel unit: it is caught in the unit
// that threw it (guarded, below) and its message handed to the binding as plain bytes, which
// raises it as a RuntimeError. (On the H200 machine with PyTorch 2.11 an attnkit::error let
// out of a kernel unit crashed the interpreter; the binding also runs attnkit's checks itself
// before launching, so the messages users meet come from there.)
struct LaunchStatus {
  bool failed = false;
  char message[2048] = {};
};

template <class Launch>
void guarded(LaunchStatus& status, Launch&& launch) noexcept {
  auto record = [&status](const char* what) {
    status.failed = true;
    std::strncpy(status.message, what, sizeof(status.message) - 1);
  };
  try {
    launch();
  } catch (const std::exception& e) {
    record(e.what());
  } catch (...) {
    record("attnkit_torch: unknown exception in a kernel unit");
  }
}

// O and LSE into problem.o / problem.lse.
using ForwardFn = void (*)(const attnkit::AttentionProblem&, const ScoreMod&, cudaStream_t, LaunchStatus&);
// dQ, dK, dV from grads.d_o, with `problem` the forward's (O and LSE set).
using BackwardFn = void (*)(const attnkit::AttentionProblem&, const attnkit::BackwardGradients&, const ScoreMod&,
                            cudaStream_t, LaunchStatus&);
// Decode over a KV cache (attnkit/decode): O and LSE into problem.o / problem.lse; `splits`
// 0 lets attnkit choose.
using DecodeFn = void (*)(const attnkit::DecodeProblem&, const ScoreMod&, int splits, cudaStream_t, LaunchStatus&);
struct Kernels {
  ForwardFn forward = nullptr;
  BackwardFn backward = nullptr;
  DecodeFn decode = nullptr;
};

// (head dim, ScoreModKind) → the kernels built for it. Defined in binding.cpp.
std::map<std::pair<int, int>, Kernels>& registry();

struct Registrar {
  Registrar(int head_dim, ScoreModKind kind, Kernels kernels) {
    registry()[{head_dim, static_cast<int>(kind)}] = kernels;
  }
};

}  // namespace attnkit_torch
