// The block-sparse half of the extension's kernel interface (kernels.h holds the dense half):
// which element mask partial blocks apply, the block-mask builder, and the sparse forward and
// backward entry points. Plain C++ over attnkit's types, no torch, as in kernels.h.
#pragma once

#include <cstdint>
#include <map>
#include <utility>

#include <cuda_runtime_api.h>

#include <attnkit/attention/backward_problem.cuh>
#include <attnkit/attention/problem.cuh>
#include <attnkit/mask/block_mask.cuh>

#include "kernels.h"

namespace attnkit_torch {

// The patterns of attnkit/mask/mask_patterns.cuh by number, as attnkit_torch/__init__.py names
// them; `blocks` is a mask given as a boolean block tensor, whose kept blocks are kept whole.
enum class PatternKind : int { blocks = 0, causal = 1, sliding_window = 2, local_global = 3, strided = 4, document = 5 };

// One pattern with its parameters, chosen at run time (the kernels evaluate it on partial
// blocks only). Positions as in mask_patterns.cuh: query q sits at key position q + key_offset,
// with key_offset = seqlen_k − seqlen_q (bottom-right alignment, as flash_attn_func's masks).
struct PatternMask {
  PatternKind kind = PatternKind::blocks;
  int window = 0;   // sliding_window: keys kept before the diagonal; local_global: on each side
  int globals = 0;  // local_global: positions [0, globals) are global tokens
  int stride = 1;   // strided
  bool causal = false;  // document: also k <= q + key_offset
  int key_offset = 0;
  // document: int32 ids, (batches, length) row-major on the device, non-decreasing in each row;
  // batch entry b reads row b, or row 0 when there is one row.
  const int* document_ids = nullptr;
  int document_rows = 1;
  int length = 0;  // tokens per row of document_ids
};

// The lists of attnkit::BlockMaskView in caller-owned device memory (torch tensors).
struct BlockMaskArrays {
  int* full_counts;
  int* full_indices;
  int* partial_counts;
  int* partial_indices;
  int* full_q_counts;
  int* full_q_indices;
  int* partial_q_counts;
  int* partial_q_indices;
};

// What the builder makes: `batches` × `heads` mask entries of ceil(seqlen / block) blocks.
struct BlockMaskRequest {
  PatternMask pattern;
  int batches = 1, heads = 1;
  int seqlen_q = 0, seqlen_k = 0;
  int block_m = attnkit::kDefaultMaskBlock, block_n = attnkit::kDefaultMaskBlock;
  // pattern.kind == blocks: (batches, heads, q_blocks, kv_blocks) bools on the device.
  const bool* dense_blocks = nullptr;
};

// Builds the lists on the GPU (block_masks.cu): every pair evaluated by the pattern's mask_mod
// (blocks it drops entirely are skipped, blocks it keeps entirely are full), or, for `blocks`,
// each true block full. The arrays of `lists` are written whole.
void build_block_mask(const BlockMaskRequest& request, const BlockMaskArrays& lists, cudaStream_t stream,
                      LaunchStatus& status);

// O and LSE into problem.o / problem.lse over the listed blocks; partial ones apply `pattern`.
using SparseForwardFn = void (*)(const attnkit::AttentionProblem&, const attnkit::BlockMaskView&,
                                 const PatternMask&, const ScoreMod&, bool allow_hopper, cudaStream_t,
                                 LaunchStatus&);
// dQ, dK, dV over the same mask, with `problem` the forward's (O and LSE set).
using SparseBackwardFn = void (*)(const attnkit::AttentionProblem&, const attnkit::BackwardGradients&,
                                  const attnkit::BlockMaskView&, const PatternMask&, const ScoreMod&, cudaStream_t,
                                  LaunchStatus&);
struct SparseKernels {
  SparseForwardFn forward = nullptr;
  SparseBackwardFn backward = nullptr;
};

// (head dim, ScoreModKind) → the sparse kernels built for it. Defined in binding.cpp.
std::map<std::pair<int, int>, SparseKernels>& sparse_registry();

struct SparseRegistrar {
  SparseRegistrar(int head_dim, ScoreModKind kind, SparseKernels kernels) {
    sparse_registry()[{head_dim, static_cast<int>(kind)}] = kernels;
  }
};

}  // namespace attnkit_torch
