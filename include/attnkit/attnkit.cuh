#pragma once
// attnkit: composable building blocks for fused attention kernels. This header includes every
// header under attnkit/, grouped by layer, each layer using only the ones before it; each header
// also stands alone, so a unit may include just the blocks it uses.
//
// Including it costs parse time only. Every kernel is a template, instantiated where a launcher
// is called rather than where this header is included; the same holds for the runtime dispatch
// (attnkit::forward, attnkit::backward), whose kernels are compiled only in the unit that calls
// it. The reference oracles are included too, as the supported API docs/reference.md describes:
// they need the toolkit's cuBLAS header to compile, and a program links cuBLAS (CUDA::cublas) or a
// threads library only when it calls them.
//
// The test headers.umbrella (test/headers/check_umbrella.cmake) fails when a header is missing
// here; keep each group in alphabetical order.

// version: ATTNKIT_VERSION_MAJOR/MINOR/PATCH, attnkit::version()
#include "version.cuh"

// core: element types (16-bit and FP8), math, hashing, configuration macros, host errors, workspaces
#include "core/config.cuh"
#include "core/element.cuh"
#include "core/error.cuh"
#include "core/fast_divisor.cuh"
#include "core/fp8.cuh"
#include "core/hash.cuh"
#include "core/launch.cuh"
#include "core/math.cuh"
#include "core/scoped_workspace.cuh"
#include "core/tensor_ref.cuh"
#include "core/warp_uniform.cuh"

// layout: pure index math (swizzles, mma fragment ownership, copy partitions)
#include "layout/block_copy.cuh"
#include "layout/mma_fragment.cuh"
#include "layout/padded_rows.cuh"
#include "layout/swizzle.cuh"
#include "layout/wgmma_layout.cuh"

// tile: moving tiles between global memory, shared memory and registers
#include "tile/atomic_accumulate.cuh"
#include "tile/cp_async.cuh"
#include "tile/gather_to_shared.cuh"
#include "tile/global_rescale_accumulate.cuh"
#include "tile/global_to_shared.cuh"
#include "tile/ldmatrix.cuh"
#include "tile/shared_to_global.cuh"
#include "tile/turn_semaphore.cuh"
#include "tile/warp_global_to_shared.cuh"

// mma: warp-level tensor-core products and register tiles
#include "mma/accumulator_store.cuh"
#include "mma/mma_sync.cuh"
#include "mma/register_tile.cuh"
#include "mma/row_reduce.cuh"
#include "mma/warp_gemm.cuh"

// softmax: the online-softmax accumulator, its merges, dropout
#include "softmax/cross_warp_combine.cuh"
#include "softmax/dropout.cuh"
#include "softmax/online_softmax.cuh"
#include "softmax/softmax_merge.cuh"

// mask: band (causal, window), tile classification, block-sparse masks, variants
#include "mask/alibi.cuh"
#include "mask/attention_mask.cuh"
#include "mask/band.cuh"
#include "mask/block_mask.cuh"
#include "mask/block_mask_builder.cuh"
#include "mask/mask_patterns.cuh"
#include "mask/mask_score_tile.cuh"
#include "mask/softcap.cuh"
#include "mask/tile_class.cuh"
#include "mask/variant.cuh"

// quant: FP8 quantization with per-tensor or per-block scales, the random Hadamard transform
#include "quant/fp8_quantize.cuh"
#include "quant/hadamard.cuh"
#include "quant/quantize_fp8_kernel.cuh"
#include "quant/warp_hadamard.cuh"

// attention: the problem description, its validation, sequences and block walks
#include "attention/backward_problem.cuh"
#include "attention/key_block_walk.cuh"
#include "attention/problem.cuh"
#include "attention/query_block_walk.cuh"
#include "attention/sequence.cuh"
#include "attention/validate.cuh"
#include "attention/validate_block_mask.cuh"

// backward: the passes every backward schedule runs around its main kernel (workspace,
// preprocess, postprocess)
#include "backward/passes.cuh"
#include "backward/pre_post.cuh"
#include "backward/scratch.cuh"

// fa2: the FlashAttention-2 kernels and launchers, and the key-block pass of the backward
// that FA1's backward shares
#include "fa2/backward.cuh"
#include "fa2/backward_config.cuh"
#include "fa2/backward_kernel.cuh"
#include "fa2/backward_key_block.cuh"
#include "fa2/forward.cuh"
#include "fa2/forward_config.cuh"
#include "fa2/forward_kernel.cuh"

// fa1: the FlashAttention-1 kernels and launchers (its backward: fa2's key-block pass on FA1's
// schedule)
#include "fa1/backward.cuh"
#include "fa1/backward_kernel.cuh"
#include "fa1/block_mask_schedule.cuh"
#include "fa1/block_sizes.cuh"
#include "fa1/forward.cuh"
#include "fa1/forward_config.cuh"
#include "fa1/forward_kernel.cuh"
#include "fa1/schedule.cuh"
#include "fa1/workspace.cuh"

// decode: attention over a KV cache (paged or contiguous), the cache append and rotary, GQA row
// packing, split-KV and its merge, the decode kernel and launcher
#include "decode/decode.cuh"
#include "decode/decode_config.cuh"
#include "decode/decode_kernel.cuh"
#include "decode/decode_problem.cuh"
#include "decode/gqa_rows.cuh"
#include "decode/kv_cache.cuh"
#include "decode/rotary.cuh"
#include "decode/split_kv.cuh"
#include "decode/validate_decode.cuh"

// sm90: the sm_90a building blocks (TMA, mbarrier pipeline, wgmma, warp specialization,
// stmatrix); namespace attnkit::hopper, as the kernels built from them
#include "sm90/mbarrier_pipeline.cuh"
#include "sm90/stmatrix_store.cuh"
#include "sm90/tensor_map.cuh"
#include "sm90/tma_load.cuh"
#include "sm90/tma_store.cuh"
#include "sm90/warp_specialization.cuh"
#include "sm90/wgmma.cuh"
#include "sm90/wgmma_ops.cuh"

// hopper: the roles a Hopper kernel is wired from (tile scheduler, producer, main loop,
// epilogue), the forward and backward, and whether this program can run them on the current
// device
#include "hopper/backward.cuh"
#include "hopper/backward_config.cuh"
#include "hopper/backward_epilogue.cuh"
#include "hopper/backward_kernel.cuh"
#include "hopper/backward_mainloop.cuh"
#include "hopper/backward_producer.cuh"
#include "hopper/backward_tensor_maps.cuh"
#include "hopper/backward_tile.cuh"
#include "hopper/device_support.cuh"
#include "hopper/forward.cuh"
#include "hopper/forward_config.cuh"
#include "hopper/forward_epilogue.cuh"
#include "hopper/forward_kernel.cuh"
#include "hopper/forward_mainloop.cuh"
#include "hopper/forward_policies.cuh"
#include "hopper/forward_producer.cuh"
#include "hopper/forward_tensor_maps.cuh"
#include "hopper/forward_tile_scheduler.cuh"
#include "hopper/shared_storage.cuh"
#include "hopper/tensor_map_rows.cuh"
#include "hopper/tile_schedule.cuh"

// dispatch: one call for every head dim and dtype, forward and backward, and attnkit::plan
#include "dispatch.cuh"
#include "dispatch_backward.cuh"

// host: support for programs around the kernels (device buffers, GPU timers)
#include "host/device_buffer.cuh"
#include "host/gpu_timer.cuh"

// reference: the oracles (float64 CPU attention, cuBLAS standard attention); docs/reference.md
#include "reference/cpu_attention.cuh"
#include "reference/finite_difference.cuh"
#include "reference/host_tensor.cuh"
#include "reference/standard_attention.cuh"
#include "reference/standard_gemm.cuh"
#include "reference/standard_softmax.cuh"
