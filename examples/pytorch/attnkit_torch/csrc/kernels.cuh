// The kernels behind kernels.h for one (head dim, score modification), included by each
// generated unit: `ATTNKIT_TORCH_REGISTER(64, softcap)`.
#pragma once

#include <attnkit/decode/decode.cuh>
#include <attnkit/fa2/backward.cuh>
#include <attnkit/fa2/forward.cuh>
#include <attnkit/hopper/backward.cuh>
#include <attnkit/hopper/forward.cuh>
#include <attnkit/mask/alibi.cuh>
#include <attnkit/mask/softcap.cuh>

#include "kernels.h"

namespace attnkit_torch {

// Soft-capping and ALiBi together in flash-attn's order: its kernels cap the scaled scores and
// add the bias afterwards, with the mask, so the bias is not squashed by the cap:
//   cap · tanh(s / cap) − slope · |diag(q) − k|,   derivative 1 − tanh²(s / cap).
struct AlibiSoftCap : attnkit::Alibi {
  attnkit::SoftCap softcap;

  // Alibi's own for_sequence would return an Alibi and drop the cap.
  ATTNKIT_HOST_DEVICE AlibiSoftCap for_sequence(int seqlen_q, int seqlen_k) const {
    AlibiSoftCap entry = *this;
    static_cast<attnkit::Alibi&>(entry) = attnkit::Alibi::for_sequence(seqlen_q, seqlen_k);
    return entry;
  }
  template <class T>
  ATTNKIT_HOST_DEVICE T score_mod(T score, int batch, int head, int q, int k) const {
    return attnkit::Alibi::score_mod(softcap.score_mod(score, batch, head, q, k), batch, head, q, k);
  }
  // The bias does not depend on the score: only the cap's derivative remains.
  template <class T>
  ATTNKIT_HOST_DEVICE T score_mod_grad(T score, int batch, int head, int q, int k) const {
    return softcap.score_mod_grad(score, batch, head, q, k);
  }
};

inline attnkit::Alibi make_alibi(const ScoreMod& mod) {
  attnkit::Alibi alibi;  // bottom-right aligned per batch entry, as flash-attn's
  alibi.slopes = mod.alibi_slopes;
  alibi.slopes_batch_stride = mod.alibi_batch_stride;
  return alibi;
}

template <ScoreModKind Kind>
auto make_variant(const ScoreMod& mod) {
  if constexpr (Kind == ScoreModKind::alibi) {
    return make_alibi(mod);
  } else if constexpr (Kind == ScoreModKind::alibi_softcap) {
    AlibiSoftCap variant;
    static_cast<attnkit::Alibi&>(variant) = make_alibi(mod);
    variant.softcap.cap = mod.softcap;
    return variant;
  } else if constexpr (Kind == ScoreModKind::softcap) {
    return attnkit::SoftCap{{}, mod.softcap};
  } else {
    return attnkit::NoVariant{};
  }
}

// The Hopper kernel on an sm_90 GPU for the problems it supports (no dropout), else FA2's.
template <int HeadDim, ScoreModKind Kind, class Element>
void forward_typed(const attnkit::AttentionProblem& problem, const ScoreMod& mod, cudaStream_t stream) {
  const auto variant = make_variant<Kind>(mod);
  if constexpr (HeadDim == 64 || HeadDim == 128 || HeadDim == 256) {  // the Hopper kernel's head dims
    int device = 0;
    ATTNKIT_CUDA_CHECK(cudaGetDevice(&device));
    if (attnkit::hopper::supports_problem(problem) && attnkit::hopper::device_supports_forward(device))
      return attnkit::hopper::forward<Element, HeadDim>(problem, variant, stream);
  }
  attnkit::fa2::forward<Element, HeadDim>(problem, variant, stream);
}

template <int HeadDim, ScoreModKind Kind>
void forward(const attnkit::AttentionProblem& problem, const ScoreMod& mod, cudaStream_t stream,
             LaunchStatus& status) {
  guarded(status, [&] {
    if (problem.dtype == attnkit::DType::bf16)
      return forward_typed<HeadDim, Kind, attnkit::bfloat16_t>(problem, mod, stream);
    forward_typed<HeadDim, Kind, attnkit::half_t>(problem, mod, stream);
  });
}

// Likewise the Hopper backward for the problems it supports (no dropout, not deterministic).
template <int HeadDim, ScoreModKind Kind, class Element>
void backward_typed(const attnkit::AttentionProblem& problem, const attnkit::BackwardGradients& grads,
                    const ScoreMod& mod, cudaStream_t stream) {
  const auto variant = make_variant<Kind>(mod);
  if constexpr (attnkit::hopper::is_supported_backward_head_dim(HeadDim)) {
    int device = 0;
    ATTNKIT_CUDA_CHECK(cudaGetDevice(&device));
    if (attnkit::hopper::supports_backward(problem, grads) && attnkit::hopper::device_supports_forward(device))
      return attnkit::hopper::backward<Element, HeadDim>(problem, grads, variant, stream);
  }
  attnkit::fa2::backward<Element, HeadDim>(problem, grads, variant, stream);
}

template <int HeadDim, ScoreModKind Kind>
void backward(const attnkit::AttentionProblem& problem, const attnkit::BackwardGradients& grads, const ScoreMod& mod,
              cudaStream_t stream, LaunchStatus& status) {
  guarded(status, [&] {
    if (problem.dtype == attnkit::DType::bf16)
      return backward_typed<HeadDim, Kind, attnkit::bfloat16_t>(problem, grads, mod, stream);
    backward_typed<HeadDim, Kind, attnkit::half_t>(problem, grads, mod, stream);
  });
}

template <int HeadDim, ScoreModKind Kind>
void decode(const attnkit::DecodeProblem& problem, const ScoreMod& mod, int splits, cudaStream_t stream,
            LaunchStatus& status) {
  guarded(status, [&] {
    const auto variant = make_variant<Kind>(mod);
    attnkit::DecodeOptions options;
    options.splits = splits;
    if (problem.dtype == attnkit::DType::bf16)
      return attnkit::decode<attnkit::bfloat16_t, HeadDim>(problem, variant, options, stream);
    attnkit::decode<attnkit::half_t, HeadDim>(problem, variant, options, stream);
  });
}

#define ATTNKIT_TORCH_REGISTER(HEAD_DIM, KIND)                                                             \
  namespace {                                                                                              \
  const attnkit_torch::Registrar registrar(                                                                \
      HEAD_DIM, attnkit_torch::ScoreModKind::KIND,                                                         \
      {&attnkit_torch::forward<HEAD_DIM, attnkit_torch::ScoreModKind::KIND>,                               \
       &attnkit_torch::backward<HEAD_DIM, attnkit_torch::ScoreModKind::KIND>,                              \
       &attnkit_torch::decode<HEAD_DIM, attnkit_torch::ScoreModKind::KIND>});                              \
  }

}  // namespace attnkit_torch
