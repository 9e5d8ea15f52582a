#pragma once
// The block-sparse backward's correctness matrix (fa2::backward_block_sparse, and the Hopper
// one without its dropout case), instantiated once per head dim: dQ, dK and dV against the float64 reference of dense attention with the
// equivalent element mask, under the backward's tolerance rule (support/backward_check.cuh),
// for every pattern of mask/mask_patterns.cuh, sequences that are not block multiples,
// s_q != s_k both ways, GQA and MQA, a mask shared by all heads, one per head and one per
// (batch entry, head), rows that keep no key (dQ = 0) and key blocks that no query keeps
// (dK = dV = 0), dropout, 128 × 128 and 256 × 256 mask blocks (2 × 1 and 4 × 2 kernel blocks
// each), the deterministic dQ, and masks from the host and from the GPU builders.
//
// The forward that leaves O and LSE is the dense one (tested on its own) with the pattern's
// element mask read from a table; the backward under test walks the mask's transposed lists and
// applies the same table on partial blocks (support/mask_table.cuh). The patterns themselves
// make the lists (their classify on the host, their mask_mod in the GPU builder).

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "attnkit/fa2/backward.cuh"
#include "attnkit/fa2/forward.cuh"
#include "attnkit/hopper/backward.cuh"
#include "attnkit/mask/block_mask_builder.cuh"
#include "attnkit/mask/mask_patterns.cuh"
#include "support/backward_check.cuh"
#include "support/device_array.cuh"
#include "support/mask_table.cuh"

namespace attnkit::testing {

// Every pattern of mask/mask_patterns.cuh behind one variant type, chosen at run time: the
// matrix then compiles one set of kernels (4 backward, 2 forward) per element type and head
// dim instead of one per pattern. The window's reach may depend on the batch entry and head,
// which only per-entry masks can follow.
struct AnyPattern : VariantBase {
  static constexpr bool has_mask_mod = true;
  enum class Kind { causal, window, local_global, strided, document };
  Kind kind = Kind::causal;
  CausalPattern causal;
  SlidingWindowPattern window;
  int window_head_step = 0, window_batch_step = 0;  // entry (b, h) keeps left + h·head_step − b·batch_step
  LocalGlobalPattern local_global;
  StridedPattern strided;
  DocumentPattern document;

  // A negative reach keeps nothing.
  ATTNKIT_HOST_DEVICE SlidingWindowPattern window_of(int batch, int head) const {
    SlidingWindowPattern entry = window;
    entry.left += head * window_head_step - batch * window_batch_step;
    return entry;
  }
  ATTNKIT_HOST_DEVICE bool mask_mod(int batch, int head, int q, int k) const {
    switch (kind) {
      case Kind::causal: return causal.mask_mod(batch, head, q, k);
      case Kind::window: return window_of(batch, head).mask_mod(batch, head, q, k);
      case Kind::local_global: return local_global.mask_mod(batch, head, q, k);
      case Kind::strided: return strided.mask_mod(batch, head, q, k);
      case Kind::document: return document.mask_mod(batch, head, q, k);
    }
    return false;
  }
  ATTNKIT_HOST_DEVICE TileClass classify(int batch, int head, TileBounds tile) const {
    switch (kind) {
      case Kind::causal: return causal.classify(batch, head, tile);
      case Kind::window: return window_of(batch, head).classify(batch, head, tile);
      case Kind::local_global: return local_global.classify(batch, head, tile);
      case Kind::strided: return strided.classify(batch, head, tile);
      case Kind::document: return document.classify(batch, head, tile);
    }
    return TileClass::partial;
  }

  static AnyPattern causal_with(int key_offset) {
    AnyPattern p;
    p.kind = Kind::causal;
    p.causal.key_offset = key_offset;
    return p;
  }
  static AnyPattern window_with(int left, int head_step, int batch_step) {
    AnyPattern p;
    p.kind = Kind::window;
    p.window.left = left;
    p.window_head_step = head_step;
    p.window_batch_step = batch_step;
    return p;
  }
  static AnyPattern local_global_with(int window, int globals) {
    AnyPattern p;
    p.kind = Kind::local_global;
    p.local_global.window = window;
    p.local_global.globals = globals;
    return p;
  }
  static AnyPattern strided_with(int stride) {
    AnyPattern p;
    p.kind = Kind::strided;
    p.strided.stride = stride;
    return p;
  }
  static AnyPattern causal_documents(const int* ids, int length) {
    AnyPattern p;
    p.kind = Kind::document;
    p.document.document = ids;
    p.document.length = length;
    p.document.causal = true;
    return p;
  }
};

// The dense FA2 forward under `host_pattern`'s element mask, for the problem's shape.
template <class Element, int HeadDim, class Pattern>
ForwardLauncher masked_forward_launcher(const Pattern& host_pattern) {
  return [host_pattern](const AttentionProblem& problem) {
    const DeviceMaskTable table(host_pattern, problem);
    fa2::forward<Element, HeadDim>(problem, table.variant());
    ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());  // before the table is freed
  };
}

// Per-token document ids of 1..400-token documents over `length` tokens (non-decreasing).
inline std::vector<int> document_ids(int length) {
  std::vector<int> ids(length);
  for (int i = 0, doc = 0, left = 1; i < length; ++i) {
    if (--left == 0) left = 1 + (++doc * 97) % 400;
    ids[i] = doc;
  }
  return ids;
}

// How a case's mask is made: on the host from the pattern's classify, or on the GPU from its
// mask_mod; one entry for all, one per query head, or one per (batch entry, query head).
struct MaskBuild {
  bool gpu_builder = false;
  bool per_head = false;
  bool per_batch = false;
  int block_m = kDefaultMaskBlock, block_n = kDefaultMaskBlock;

  std::string describe() const {
    return std::string(gpu_builder ? "GPU builder" : "host builder") +
           (per_batch ? ", a mask per entry" : per_head ? ", a mask per head" : ", one shared mask") + ", " +
           std::to_string(block_m) + " × " + std::to_string(block_n) + " blocks";
  }
};

// `host_pattern` must be readable on the host (the host builder's classify), `device_pattern`
// on the device (the GPU builder's mask_mod); they differ only where the pattern points at memory.
template <class Pattern>
DeviceBlockMask build_mask(const Pattern& host_pattern, const Pattern& device_pattern,
                           const AttentionProblem& problem, const MaskBuild& build) {
  const int batches = build.per_batch ? problem.batch : 1;
  const int heads = build.per_batch || build.per_head ? problem.heads_q : 1;
  if (build.gpu_builder) {
    return build_block_mask_from_mask_mod(device_pattern, batches, heads, problem.seqlen_q, problem.seqlen_k,
                                          build.block_m, build.block_n);
  }
  return DeviceBlockMask::upload(build_block_mask_host(
      batches, heads, problem.seqlen_q, problem.seqlen_k,
      [&](int b, int h, TileBounds tile) { return host_pattern.classify(b, h, tile); }, build.block_m,
      build.block_n));
}

// Which block-sparse backward the matrix runs: fa2::backward_block_sparse, or the Hopper one
// (which leaves dropout and the deterministic mode to the former).
enum class SparseBackwardKernel { fa2, hopper };

// The sparse backward under test, with its mask built for the problem's shape and the
// pattern's element mask as a table (one set of backward kernels for every pattern).
template <class Element, int HeadDim, SparseBackwardKernel Kernel, class Pattern>
BackwardLauncher sparse_backward_launcher(const Pattern& host_pattern, const Pattern& device_pattern,
                                          const MaskBuild& build, bool deterministic) {
  return [=](const AttentionProblem& problem, const BackwardGradients& grads) {
    const DeviceBlockMask mask = build_mask(host_pattern, device_pattern, problem, build);
    BackwardGradients given = grads;
    given.deterministic = deterministic;
    const DeviceMaskTable table(host_pattern, problem);
    if constexpr (Kernel == SparseBackwardKernel::hopper)
      hopper::backward_block_sparse<Element, HeadDim>(problem, given, mask.view(), table.variant());
    else
      fa2::backward_block_sparse<Element, HeadDim>(problem, given, mask.view(), table.variant());
    ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());  // before the mask and the table are freed
  };
}

template <class Element, int HeadDim, SparseBackwardKernel Kernel = SparseBackwardKernel::fa2, class Pattern>
void check_sparse_backward(const ForwardCase& c, const Pattern& host_pattern, const Pattern& device_pattern,
                           const MaskBuild& build, bool deterministic = false) {
  INFO(build.describe() << (deterministic ? ", deterministic dQ" : ", atomic dQ"));
  check_backward<Element>(
      HeadDim, c, masked_forward_launcher<Element, HeadDim>(host_pattern),
      sparse_backward_launcher<Element, HeadDim, Kernel>(host_pattern, device_pattern, build, deterministic),
      host_pattern, device_pattern);
}

// A pattern with no pointers reads the same on the host and the device.
template <class Element, int HeadDim, SparseBackwardKernel Kernel = SparseBackwardKernel::fa2, class Pattern>
void check_sparse_backward(const ForwardCase& c, const Pattern& pattern, const MaskBuild& build,
                           bool deterministic = false) {
  check_sparse_backward<Element, HeadDim, Kernel>(c, pattern, pattern, build, deterministic);
}

// A (case, pattern, mask) triple of the matrix; the document pattern's ids come separately.
struct SparseBackwardCase {
  const char* name;
  ForwardCase c;
  AnyPattern pattern;
  MaskBuild build;
};

inline MaskBuild host_mask() { return {}; }
inline MaskBuild gpu_mask() {
  MaskBuild build;
  build.gpu_builder = true;
  return build;
}

// The cases whose patterns point at no memory.
inline std::vector<SparseBackwardCase> sparse_backward_cases(uint64_t seed) {
  std::vector<SparseBackwardCase> cases;
  const ForwardCase square = gqa_case(1000, 1000, seed);
  auto with_seed = [&](ForwardCase c) {
    c.seed = seed += 10;
    return c;
  };
  cases.push_back({"causal", with_seed(square), AnyPattern::causal_with(0), host_mask()});
  cases.push_back({"causal, s_q < s_k (bottom-right)", with_seed(gqa_case(700, 1000, 0)),
                   AnyPattern::causal_with(300), gpu_mask()});
  // Key k is kept from query k + 200 on: queries 0..199 keep no key (dQ = 0) and keys 800..999
  // no query, so the last key block's lists are empty (dK = dV = 0).
  cases.push_back({"causal shifted by -200: empty rows and empty key blocks", with_seed(square),
                   AnyPattern::causal_with(-200), host_mask()});
  {
    // 900 rows are 15 kernel query blocks of 64: the last 256-row mask block holds 3 of them
    // and one past the sequence, which the walk must leave out. 700 keys in 256-key mask blocks
    // are 2 kernel key blocks each, the last one short.
    MaskBuild wide = gpu_mask();
    wide.block_m = wide.block_n = 256;
    cases.push_back({"causal, s_q > s_k, 256 × 256 mask blocks", with_seed(gqa_case(900, 700, 0)),
                     AnyPattern::causal_with(-200), wide});
  }
  {
    // Reaches of 300, 150, 0 and -150 (nothing) keys for heads 0..3 of entry 0, 50 fewer in entry 1.
    MaskBuild per_entry = gpu_mask();
    per_entry.per_batch = true;
    cases.push_back({"sliding windows per entry and head, one head keeping nothing", with_seed(square),
                     AnyPattern::window_with(300, -150, 50), per_entry});
    MaskBuild per_head = host_mask();
    per_head.per_head = true;
    cases.push_back({"sliding windows per head, host builder", with_seed(gqa_case(333, 1000, 0)),
                     AnyPattern::window_with(200, 100, 0), per_head});
  }
  cases.push_back({"local 100 + 40 global tokens", with_seed(square), AnyPattern::local_global_with(100, 40),
                   gpu_mask()});
  {
    ForwardCase mqa = with_seed(square);
    mqa.heads_kv = 1;
    cases.push_back({"strided, stride 150, MQA", mqa, AnyPattern::strided_with(150), host_mask()});
  }
  {
    ForwardCase dropout = with_seed(square);
    dropout.dropout = 0.2f;
    cases.push_back({"causal with dropout 0.2", dropout, AnyPattern::causal_with(0), host_mask()});
  }
  // One query row: its 128-row mask block is two kernel query blocks, the second past the
  // sequence (and past the row's turn counters).
  cases.push_back({"one query row, 129 keys", with_seed(gqa_case(1, 129, 0)), AnyPattern::causal_with(128),
                   host_mask()});
  cases.push_back({"65 query rows, 17 keys, bottom-right causal", with_seed(gqa_case(65, 17, 0)),
                   AnyPattern::causal_with(-48), gpu_mask()});
  return cases;
}

// The matrix at one head dim and element type: every case with atomic dQ, causal documents
// (ids on the host for the reference and the host builder, on the device for the kernels).
template <class Element, int HeadDim, SparseBackwardKernel Kernel = SparseBackwardKernel::fa2>
void run_sparse_backward_matrix(uint64_t seed) {
  for (const SparseBackwardCase& sparse : sparse_backward_cases(seed)) {
    if (Kernel == SparseBackwardKernel::hopper && sparse.c.dropout > 0.f) continue;
    INFO("pattern: " << sparse.name);
    check_sparse_backward<Element, HeadDim, Kernel>(sparse.c, sparse.pattern, sparse.build);
  }
  {
    INFO("pattern: causal documents of 1..400 tokens");
    const std::vector<int> ids = document_ids(1000);
    const DeviceArray<int> device_ids(ids);
    check_sparse_backward<Element, HeadDim, Kernel>(gqa_case(1000, 1000, seed + 500),
                                                    AnyPattern::causal_documents(ids.data(), 1000),
                                                    AnyPattern::causal_documents(device_ids.get(), 1000), gpu_mask());
  }
}

// The patterns' own types reach the kernels too (as users pass them): causal, on the host's mask.
template <class Element, int HeadDim, SparseBackwardKernel Kernel = SparseBackwardKernel::fa2>
void check_pattern_type(uint64_t seed) {
  INFO("pattern: CausalPattern");
  check_sparse_backward<Element, HeadDim, Kernel>(gqa_case(1000, 777, seed), CausalPattern{{}, -223}, host_mask());
}

}  // namespace attnkit::testing
