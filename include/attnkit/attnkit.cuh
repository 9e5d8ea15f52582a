#pragma once
// attnkit: composable building blocks for fused attention kernels. This header includes every
// block and kernel launcher; each header under attnkit/ also stands alone.

// core: element types, math, configuration macros, host errors
#include "core/config.cuh"
#include "core/element.cuh"
#include "core/error.cuh"
#include "core/math.cuh"
#include "core/scoped_workspace.cuh"

// layout: pure index math (swizzles, mma fragment ownership)
#include "layout/block_copy.cuh"
#include "layout/mma_fragment.cuh"
#include "layout/padded_rows.cuh"
#include "layout/swizzle.cuh"
#include "layout/wgmma_layout.cuh"

// tile: moving tiles between global memory, shared memory and registers
#include "tile/atomic_accumulate.cuh"
#include "tile/cp_async.cuh"
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

// softmax: the online-softmax accumulator
#include "softmax/cross_warp_combine.cuh"
#include "softmax/dropout.cuh"
#include "softmax/online_softmax.cuh"
#include "softmax/softmax_merge.cuh"

// mask: band (causal, window), tile classification, variants
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

// attention: problem description, validation, kernels and launchers
#include "attention/backward_key_block.cuh"
#include "attention/backward_problem.cuh"
#include "attention/fa1_backward.cuh"
#include "attention/fa1_forward.cuh"
#include "attention/fa2_backward.cuh"
#include "attention/fa2_forward.cuh"
#include "attention/problem.cuh"
#include "attention/sequence.cuh"
#include "attention/validate.cuh"

// hopper: sm_90a blocks (TMA, mbarrier pipeline, wgmma, warp specialization) and the forward
#include "hopper/forward.cuh"
#include "hopper/forward_config.cuh"
#include "hopper/forward_kernel.cuh"
#include "hopper/mbarrier_pipeline.cuh"
#include "hopper/tensor_map.cuh"
#include "hopper/tma_load.cuh"
#include "hopper/warp_specialization.cuh"
#include "hopper/wgmma.cuh"
#include "hopper/wgmma_ops.cuh"
