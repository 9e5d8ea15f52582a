#pragma once
// The scratch memory of the FlashAttention-1 forward: what Algorithm 1 keeps in HBM between
// steps besides the inputs. For every (batch, query head, query row):
//   m, ℓ    the running row max and row sum (fp32 each)
//   O       the running, normalized output, in fp32 (head_dim floats): the FA1 kernels kept
//           an fp32 copy of O between K/V blocks too; rounding it to 16 bits at every block
//           would add one rounding per K/V block to the result (tile/global_rescale_accumulate.cuh)
// Rows are (batch · heads_q + head) · seqlen_q + row, seqlen_q being the longest sequence for
// varlen, so each (batch, head) owns one contiguous range.
//
// A row that kept no key (masked out, or reached by no tile of a block-sparse walk) ends with
// m = −∞, ℓ = 0, as the kernel initialized it. Readers must take ℓ = 0 as "no key", never look
// at m alone: the finalize writes LSE = −∞ for it, and fa1::backward (RowMaxAndSum) makes its
// P zero, whether or not its own walk visits the row.
//
// forward_workspace_bytes() says how much; pass a buffer of at least that many bytes (256-byte
// aligned) to fa1::forward, or none to have it taken from the stream-ordered allocator
// (cudaMallocAsync) for the call.

#include <cstddef>
#include <cstdint>

#include "../attention/problem.cuh"
#include "../core/config.cuh"

namespace attnkit::fa1 {

// A caller-provided workspace; data == nullptr asks the launcher to allocate one.
struct ForwardWorkspace {
  void* data = nullptr;
  std::size_t bytes = 0;
};

// Where the three arrays lie in the workspace, each 256-byte aligned: O (rows × head_dim
// floats) at offset 0, then m (rows floats), then ℓ (rows floats).
struct ForwardWorkspaceLayout {
  std::size_t rows;        // batch · heads_q · seqlen_q
  std::size_t max_offset;  // bytes from the start to m
  std::size_t sum_offset;  // bytes from the start to ℓ
  std::size_t total;       // bytes in all
};

inline ForwardWorkspaceLayout forward_workspace_layout(const AttentionProblem& p) {
  auto round_up = [](std::size_t bytes) { return (bytes + 255) / 256 * 256; };
  ForwardWorkspaceLayout layout;
  layout.rows = static_cast<std::size_t>(p.batch) * static_cast<std::size_t>(p.heads_q) *
                static_cast<std::size_t>(p.seqlen_q);
  layout.max_offset = round_up(layout.rows * static_cast<std::size_t>(p.head_dim) * sizeof(float));
  layout.sum_offset = layout.max_offset + round_up(layout.rows * sizeof(float));
  layout.total = layout.sum_offset + round_up(layout.rows * sizeof(float));
  return layout;
}

// Bytes of scratch the FA1 forward needs for `problem`.
inline std::size_t forward_workspace_bytes(const AttentionProblem& p) { return forward_workspace_layout(p).total; }

// The workspace as the kernel sees it.
struct ForwardWorkspaceView {
  float* output;   // O, fp32
  float* row_max;  // m
  float* row_sum;  // ℓ
  int heads_q;
  int seqlen_q;

  // Index of row 0 of (batch, head).
  ATTNKIT_HOST_DEVICE int64_t first_row(int batch, int head) const {
    return (static_cast<int64_t>(batch) * heads_q + head) * seqlen_q;
  }
};

inline ForwardWorkspaceView forward_workspace_view(const AttentionProblem& p, void* workspace) {
  const ForwardWorkspaceLayout layout = forward_workspace_layout(p);
  char* const base = static_cast<char*>(workspace);
  return {reinterpret_cast<float*>(base), reinterpret_cast<float*>(base + layout.max_offset),
          reinterpret_cast<float*>(base + layout.sum_offset), p.heads_q, p.seqlen_q};
}

}  // namespace attnkit::fa1
