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

// core: element types, math, configuration macros, host errors, workspaces
#include "core/config.cuh"
#include "core/element.cuh"
#include "core/error.cuh"
#include "core/fast_divisor.cuh"
#include "core/launch.cuh"
#include "core/math.cuh"
#include "core/scoped_workspace.cuh"
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

// attention: problem description, validation, block walks, the FA1 and FA2 kernels and launchers
#include "attention/backward_key_block.cuh"
#include "attention/backward_problem.cuh"
#include "attention/fa1_backward.cuh"
#include "attention/fa1_backward_kernel.cuh"
#include "attention/fa1_block_mask_schedule.cuh"
#include "attention/fa1_block_sizes.cuh"
#include "attention/fa1_forward.cuh"
#include "attention/fa1_forward_config.cuh"
#include "attention/fa1_forward_kernel.cuh"
#include "attention/fa1_schedule.cuh"
#include "attention/fa1_workspace.cuh"
#include "attention/fa2_backward.cuh"
#include "attention/fa2_backward_config.cuh"
#include "attention/fa2_backward_kernel.cuh"
#include "attention/fa2_backward_pre_post.cuh"
#include "attention/fa2_forward.cuh"
#include "attention/fa2_forward_config.cuh"
#include "attention/fa2_forward_kernel.cuh"
#include "attention/key_block_walk.cuh"
#include "attention/problem.cuh"
#include "attention/query_block_walk.cuh"
#include "attention/sequence.cuh"
#include "attention/validate.cuh"
#include "attention/validate_block_mask.cuh"

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

// hopper: sm_90a blocks (TMA, mbarrier pipeline, wgmma, warp specialization), the roles a kernel
// is wired from (tile scheduler, producer, main loop, epilogue), the forward and backward, and
// whether this program can run them on the current device
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
#include "hopper/mbarrier_pipeline.cuh"
#include "hopper/shared_storage.cuh"
#include "hopper/stmatrix_store.cuh"
#include "hopper/tensor_map.cuh"
#include "hopper/tile_schedule.cuh"
#include "hopper/tma_load.cuh"
#include "hopper/tma_store.cuh"
#include "hopper/warp_specialization.cuh"
#include "hopper/wgmma.cuh"
#include "hopper/wgmma_ops.cuh"

// dispatch: one call for every head dim and dtype, forward and backward, and attnkit::plan
#include "dispatch.cuh"
#include "dispatch_backward.cuh"

// reference: the oracles (float64 CPU attention, cuBLAS standard attention); docs/reference.md
#include "reference/cpu_attention.cuh"
#include "reference/finite_difference.cuh"
#include "reference/host_tensor.cuh"
#include "reference/standard_attention.cuh"
#include "reference/standard_gemm.cuh"
#include "reference/standard_softmax.cuh"
