"""attnkit from PyTorch: flash-attn's function signatures over attnkit's kernels, and
block-sparse attention over masks built on the GPU.

    import attnkit_torch
    out = attnkit_torch.flash_attn_func(q, k, v, causal=True)          # (batch, seqlen, heads, head_dim)
    out = attnkit_torch.flash_attn_varlen_func(q, k, v, cu_seqlens_q, cu_seqlens_k,
                                               max_seqlen_q, max_seqlen_k, causal=True)
    mask = attnkit_torch.create_block_mask("sliding_window", 8192, window=1024)
    out = attnkit_torch.attention(q, k, v, block_mask=mask)            # (batch, heads, seqlen, head_dim)

Arguments, shapes and return values follow the flash-attn package (2.x): fp16/bf16 CUDA
tensors, GQA/MQA when k, v have fewer heads, sliding windows (window_size), soft-capping,
ALiBi (slopes of shape (nheads,)), dropout, a deterministic backward. Autograd gives dq, dk, dv.
On an sm_90 GPU the forward runs attnkit's Hopper kernel where it can (no dropout); everything
else runs the FA2 kernels. attention (block_sparse.py) takes flex-attention's layout and a
BlockMask from create_block_mask.

The extension compiles on first import (torch.utils.cpp_extension.load, ninja) into
ATTNKIT_TORCH_BUILD_DIR (default: build/ next to this file), for the head dims in
ATTNKIT_TORCH_HEAD_DIMS (default "64 128"; any of 32 64 96 128 192 256) and the visible GPU's
architecture (sm_90a on Hopper). Each head dim is a few compile units; fewer head dims build
faster.
"""
import os

import torch
from torch.utils import cpp_extension

__all__ = ["flash_attn_func", "flash_attn_varlen_func", "built_head_dims", "BlockMask", "create_block_mask",
           "attention"]

_HERE = os.path.dirname(os.path.abspath(__file__))
_INCLUDE = os.path.normpath(os.path.join(_HERE, "..", "..", "..", "include"))  # attnkit's headers
_SCORE_MODS = ("none", "softcap", "alibi")
_ext = None


def _load():
    global _ext
    if _ext is not None:
        return _ext
    head_dims = [int(d) for d in os.environ.get("ATTNKIT_TORCH_HEAD_DIMS", "64 128").replace(",", " ").split()]
    build_dir = os.environ.get("ATTNKIT_TORCH_BUILD_DIR", os.path.join(_HERE, "build"))
    os.makedirs(build_dir, exist_ok=True)
    if "TORCH_CUDA_ARCH_LIST" not in os.environ:
        major, minor = torch.cuda.get_device_capability()
        # The Hopper kernels use wgmma and setmaxnreg: sm_90a, not plain sm_90.
        os.environ["TORCH_CUDA_ARCH_LIST"] = "9.0a" if (major, minor) == (9, 0) else f"{major}.{minor}"
    sources = [os.path.join(_HERE, "csrc", "binding.cpp"), os.path.join(_HERE, "csrc", "block_masks.cu")]
    # One unit per (head dim, score mod) for the dense kernels and one for the block-sparse ones,
    # so that ninja compiles them in parallel.
    units = [("kernels", "kernels.cuh", "ATTNKIT_TORCH_REGISTER"),
             ("sparse", "block_sparse.cuh", "ATTNKIT_TORCH_REGISTER_SPARSE")]
    for d in head_dims:
        for mod in _SCORE_MODS:
            for prefix, header, register in units:
                path = os.path.join(build_dir, f"{prefix}_d{d}_{mod}.cu")
                text = f'#include "{header}"\n{register}({d}, {mod})\n'
                if not os.path.exists(path) or open(path).read() != text:  # unchanged files keep ninja's cache
                    with open(path, "w") as f:
                        f.write(text)
                sources.append(path)
    _ext = cpp_extension.load(
        name="attnkit_torch_ext",
        sources=sources,
        extra_include_paths=[_INCLUDE, os.path.join(_HERE, "csrc")],
        extra_cflags=["-O2"],  # torch picks the C++ standard its headers need
        extra_cuda_cflags=["-O3", "--expt-relaxed-constexpr"],
        build_directory=build_dir,
        verbose=os.environ.get("ATTNKIT_TORCH_VERBOSE") == "1",
    )
    return _ext


def built_head_dims():
    return list(_load().built_head_dims())


def _window(causal, window_size):
    left, right = window_size
    if causal:
        right = 0
    return int(left), int(right)


class _Attention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k, dropout_p, softmax_scale,
                causal, window_size, softcap, alibi_slopes, deterministic):
        ext = _load()
        scale = q.shape[-1] ** -0.5 if softmax_scale is None else float(softmax_scale)
        left, right = _window(causal, window_size)
        # flash-attn draws its dropout mask from torch's generator; here a seed drawn from it
        # keys attnkit's Philox stream, and the backward regenerates the same mask from it.
        seed = int(torch.randint(0, 2**62, (1,)).item()) if dropout_p > 0 else 0
        out, lse = ext.forward(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k, scale, left, right,
                               float(softcap), alibi_slopes, float(dropout_p), seed)
        ctx.save_for_backward(q, k, v, out, lse, cu_seqlens_q, cu_seqlens_k, alibi_slopes)
        ctx.settings = (max_seqlen_q, max_seqlen_k, scale, left, right, float(softcap), float(dropout_p), seed,
                        bool(deterministic))
        ctx.mark_non_differentiable(lse)
        return out, lse

    @staticmethod
    def backward(ctx, d_out, d_lse):
        q, k, v, out, lse, cu_seqlens_q, cu_seqlens_k, alibi_slopes = ctx.saved_tensors
        max_q, max_k, scale, left, right, softcap, dropout_p, seed, deterministic = ctx.settings
        dq, dk, dv = _load().backward(d_out, q, k, v, out, lse, cu_seqlens_q, cu_seqlens_k, max_q, max_k, scale, left,
                                      right, softcap, alibi_slopes, dropout_p, seed, deterministic)
        return dq, dk, dv, None, None, None, None, None, None, None, None, None, None, None


def flash_attn_func(q, k, v, dropout_p=0.0, softmax_scale=None, causal=False, window_size=(-1, -1), softcap=0.0,
                    alibi_slopes=None, deterministic=False, return_attn_probs=False):
    """q: (batch, seqlen_q, nheads, headdim); k, v: (batch, seqlen_k, nheads_k, headdim).
    Returns out (batch, seqlen_q, nheads, headdim); with return_attn_probs, (out, softmax_lse
    (batch, nheads, seqlen_q), None): the attention probabilities are never materialized."""
    out, lse = _Attention.apply(q, k, v, None, None, q.shape[1], k.shape[1], dropout_p, softmax_scale, causal,
                                window_size, softcap, alibi_slopes, deterministic)
    return (out, lse, None) if return_attn_probs else out


def flash_attn_varlen_func(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k, dropout_p=0.0,
                           softmax_scale=None, causal=False, window_size=(-1, -1), softcap=0.0, alibi_slopes=None,
                           deterministic=False, return_attn_probs=False):
    """q: (total_q, nheads, headdim), k, v: (total_k, nheads_k, headdim), packed sequences;
    cu_seqlens_*: int32 (batch + 1,) prefix offsets. Returns out (total_q, nheads, headdim);
    with return_attn_probs, (out, softmax_lse (nheads, total_q), None)."""
    out, lse = _Attention.apply(q, k, v, cu_seqlens_q, cu_seqlens_k, int(max_seqlen_q), int(max_seqlen_k), dropout_p,
                                softmax_scale, causal, window_size, softcap, alibi_slopes, deterministic)
    return (out, lse, None) if return_attn_probs else out


from .block_sparse import BlockMask, attention, create_block_mask  # noqa: E402  (uses _load, _Attention)
