"""attnkit from PyTorch: flash-attn's function signatures over attnkit's kernels, and
block-sparse attention over masks built on the GPU.

    import attnkit_torch
    out = attnkit_torch.flash_attn_func(q, k, v, causal=True)          # (batch, seqlen, heads, head_dim)
    out = attnkit_torch.flash_attn_qkvpacked_func(qkv, causal=True)    # qkv (batch, seqlen, 3, heads, head_dim)
    out = attnkit_torch.flash_attn_varlen_func(q, k, v, cu_seqlens_q, cu_seqlens_k,
                                               max_seqlen_q, max_seqlen_k, causal=True)
    out = attnkit_torch.flash_attn_with_kvcache(q, k_cache, v_cache, k, v, cache_seqlens=lengths,
                                                block_table=pages, causal=True)   # decoding
    mask = attnkit_torch.create_block_mask("sliding_window", 8192, window=1024)
    out = attnkit_torch.attention(q, k, v, block_mask=mask)            # (batch, heads, seqlen, head_dim)

Arguments, shapes and return values follow the flash-attn package (2.x), packed q/k/v and
k/v included: fp16/bf16 CUDA tensors, any head dim up to 256, GQA/MQA when k, v have fewer
heads, sliding windows (window_size), soft-capping, ALiBi (slopes of shape (nheads,) or
(batch, nheads)), both together, dropout, a deterministic backward. Autograd gives dq, dk, dv
(or the packed tensor's gradient).
On an sm_90 GPU the forward runs attnkit's Hopper kernel where it can (no dropout); everything
else runs the FA2 kernels. attention (block_sparse.py) takes flex-attention's layout and a
BlockMask from create_block_mask.

Installed with pip (setup.py: `pip install --no-build-isolation examples/pytorch`), the
extension is built ahead of time. Otherwise, or with ATTNKIT_TORCH_JIT=1, it compiles on first
use (torch.utils.cpp_extension.load, ninja) into ATTNKIT_TORCH_BUILD_DIR (default: build/ next
to this file), for the head dims in ATTNKIT_TORCH_HEAD_DIMS (default "64 128"; any of 32 64 96
128 192 256) and the visible GPU's architecture (sm_90a on Hopper). Each head dim is a few
compile units; fewer head dims build faster. A head dim not built runs zero-padded to the
smallest built one above it (with the default, 80 runs at 128; build 96 to run it there).
"""
import os

import torch
import torch.nn.functional as F
from torch.utils import cpp_extension

__all__ = ["flash_attn_func", "flash_attn_kvpacked_func", "flash_attn_qkvpacked_func", "flash_attn_varlen_func",
           "flash_attn_varlen_kvpacked_func", "flash_attn_varlen_qkvpacked_func", "flash_attn_with_kvcache",
           "built_head_dims", "BlockMask", "create_block_mask", "attention"]

from . import _sources

_HERE = os.path.dirname(os.path.abspath(__file__))
_MAX_HEAD_DIM = 256  # flash-attn's, and attnkit's largest kernel
_ext = None
_built_head_dims = None


def _load():
    """The extension: the one pip built (attnkit_torch._C), or one compiled now."""
    global _ext
    if _ext is not None:
        return _ext
    if os.environ.get("ATTNKIT_TORCH_JIT") != "1":
        try:
            from . import _C
            _ext = _C
            return _ext
        except ImportError:
            pass
    if not os.path.isdir(_sources.INCLUDE):
        raise RuntimeError(f"attnkit_torch: no prebuilt extension and no attnkit headers at {_sources.INCLUDE} to "
                           f"build one; install with pip from an attnkit checkout, or run from the checkout")
    head_dims = _sources.head_dims_from_env()
    build_dir = os.environ.get("ATTNKIT_TORCH_BUILD_DIR", os.path.join(_HERE, "build"))
    if "TORCH_CUDA_ARCH_LIST" not in os.environ:
        major, minor = torch.cuda.get_device_capability()
        # The Hopper kernels use wgmma and setmaxnreg: sm_90a, not plain sm_90.
        os.environ["TORCH_CUDA_ARCH_LIST"] = "9.0a" if (major, minor) == (9, 0) else f"{major}.{minor}"
    _ext = cpp_extension.load(
        name="attnkit_torch_ext",
        sources=_sources.sources(build_dir, head_dims),
        extra_include_paths=[_sources.INCLUDE, _sources.CSRC],
        extra_cflags=_sources.CXX_FLAGS,
        extra_cuda_cflags=_sources.CUDA_FLAGS,
        build_directory=build_dir,
        verbose=os.environ.get("ATTNKIT_TORCH_VERBOSE") == "1",
    )
    return _ext


def built_head_dims():
    """The head dims this build has kernels for, ascending."""
    global _built_head_dims
    if _built_head_dims is None:  # asked on every call of the flash_attn functions
        _built_head_dims = sorted(int(d) for d in _load().built_head_dims())
    return list(_built_head_dims)


def _kernel_head_dim(d):
    """The built head dim that a head dim of d runs at: d itself, else the smallest above it."""
    if d > _MAX_HEAD_DIM:
        raise ValueError(f"attnkit_torch: head_dim = {d} is above {_MAX_HEAD_DIM}, the largest supported")
    built = built_head_dims()
    above = [b for b in built if b >= d]
    if not above:
        raise ValueError(f"attnkit_torch: head_dim = {d} needs a built head dim >= {d} to be padded to; this build "
                         f"has {built}: add one of 32 64 96 128 192 256 to ATTNKIT_TORCH_HEAD_DIMS before the first "
                         f"import")
    return above[0]


def _in_place_or_copy(t):
    """t where the kernels can read it as it is (unit stride along head_dim, 16-byte aligned start
    and strides), else a contiguous copy: a slice of a packed tensor is read in place whenever
    the packing allows it."""
    granule = 16 // t.element_size()
    readable = (t.stride(-1) == 1 and t.data_ptr() % 16 == 0
                and all(stride % granule == 0 for stride in t.stride()[:-1]))
    return t if readable else t.contiguous()


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


def _attend(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k, dropout_p, softmax_scale, causal,
            window_size, softcap, alibi_slopes, deterministic, packed=False):
    """_Attention for any head dim up to 256, as flash-attn takes it: a head dim with no kernel
    runs zero-padded to the next built one (zero columns add nothing to q·k, so the softmax and
    LSE are unchanged, and v's zero columns only give output columns that are cut off again).
    packed: q, k, v are slices of a packed tensor, copied only where the kernels cannot read
    them in place. Returns (out, lse)."""
    d = q.shape[-1]
    scale = d ** -0.5 if softmax_scale is None else float(softmax_scale)  # the caller's d, not the padded one
    kernel_d = _kernel_head_dim(d)
    if kernel_d != d:
        if k.shape[-1] != d or v.shape[-1] != d:  # padded to one width, a mismatch would go unnoticed
            raise ValueError(f"attnkit_torch: q, k, v must share head_dim, got {d}, {k.shape[-1]}, {v.shape[-1]}")
        q, k, v = (F.pad(t, (0, kernel_d - d)) for t in (q, k, v))
    elif packed:
        q, k, v = (_in_place_or_copy(t) for t in (q, k, v))
    out, lse = _Attention.apply(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k, dropout_p, scale,
                                causal, window_size, softcap, alibi_slopes, deterministic)
    return (out[..., :d] if kernel_d != d else out), lse


def flash_attn_func(q, k, v, dropout_p=0.0, softmax_scale=None, causal=False, window_size=(-1, -1), softcap=0.0,
                    alibi_slopes=None, deterministic=False, return_attn_probs=False):
    """q: (batch, seqlen_q, nheads, headdim); k, v: (batch, seqlen_k, nheads_k, headdim).
    Returns out (batch, seqlen_q, nheads, headdim); with return_attn_probs, (out, softmax_lse
    (batch, nheads, seqlen_q), None): the attention probabilities are never materialized.
    alibi_slopes: float32 (nheads,) or (batch, nheads)."""
    out, lse = _attend(q, k, v, None, None, q.shape[1], k.shape[1], dropout_p, softmax_scale, causal, window_size,
                       softcap, alibi_slopes, deterministic)
    return (out, lse, None) if return_attn_probs else out


def flash_attn_qkvpacked_func(qkv, dropout_p=0.0, softmax_scale=None, causal=False, window_size=(-1, -1), softcap=0.0,
                              alibi_slopes=None, deterministic=False, return_attn_probs=False):
    """flash_attn_func on qkv: (batch, seqlen, 3, nheads, headdim), read in place; the gradient
    comes back as qkv's."""
    q, k, v = qkv.unbind(dim=2)
    out, lse = _attend(q, k, v, None, None, q.shape[1], k.shape[1], dropout_p, softmax_scale, causal, window_size,
                       softcap, alibi_slopes, deterministic, packed=True)
    return (out, lse, None) if return_attn_probs else out


def flash_attn_kvpacked_func(q, kv, dropout_p=0.0, softmax_scale=None, causal=False, window_size=(-1, -1), softcap=0.0,
                             alibi_slopes=None, deterministic=False, return_attn_probs=False):
    """flash_attn_func on q: (batch, seqlen_q, nheads, headdim) and kv: (batch, seqlen_k, 2,
    nheads_k, headdim), read in place; the gradients come back as q's and kv's."""
    k, v = kv.unbind(dim=2)
    out, lse = _attend(q, k, v, None, None, q.shape[1], k.shape[1], dropout_p, softmax_scale, causal, window_size,
                       softcap, alibi_slopes, deterministic, packed=True)
    return (out, lse, None) if return_attn_probs else out


def flash_attn_varlen_func(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k, dropout_p=0.0,
                           softmax_scale=None, causal=False, window_size=(-1, -1), softcap=0.0, alibi_slopes=None,
                           deterministic=False, return_attn_probs=False, block_table=None):
    """q: (total_q, nheads, headdim), k, v: (total_k, nheads_k, headdim), packed sequences;
    cu_seqlens_*: int32 (batch + 1,) prefix offsets. Returns out (total_q, nheads, headdim);
    with return_attn_probs, (out, softmax_lse (nheads, total_q), None). alibi_slopes: float32
    (nheads,) or (batch, nheads), a row per sequence.
    block_table: int32 (batch, max_pages) makes k, v a paged cache (num_pages, page_size,
    nheads_k, headdim) of any page size, sequence b's keys the first cu_seqlens_k[b + 1] -
    cu_seqlens_k[b] rows of its pages (paged prefill). Inference only: no dropout, no gradient."""
    if block_table is not None:
        if dropout_p:
            raise ValueError(f"attnkit_torch: dropout_p = {dropout_p} with block_table: the paged path is inference only")
        if torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v)):
            raise NotImplementedError("attnkit_torch: flash_attn_varlen_func with block_table has no backward; call it "
                                      "under torch.no_grad() or with tensors that do not require grad")
        seqlens_k = cu_seqlens_k[1:] - cu_seqlens_k[:-1]
        out, lse = _kvcache(q, k, v, None, None, None, None, seqlens_k, None, None, block_table, softmax_scale, causal,
                            window_size, softcap, True, alibi_slopes, 0, cu_seqlens_q, int(max_seqlen_q))
    else:
        out, lse = _attend(q, k, v, cu_seqlens_q, cu_seqlens_k, int(max_seqlen_q), int(max_seqlen_k), dropout_p,
                           softmax_scale, causal, window_size, softcap, alibi_slopes, deterministic)
    return (out, lse, None) if return_attn_probs else out


def flash_attn_varlen_qkvpacked_func(qkv, cu_seqlens, max_seqlen, dropout_p=0.0, softmax_scale=None, causal=False,
                                     window_size=(-1, -1), softcap=0.0, alibi_slopes=None, deterministic=False,
                                     return_attn_probs=False):
    """flash_attn_varlen_func on qkv: (total, 3, nheads, headdim), with the same sequences for
    queries and keys (cu_seqlens, max_seqlen); the gradient comes back as qkv's."""
    q, k, v = qkv.unbind(dim=1)
    out, lse = _attend(q, k, v, cu_seqlens, cu_seqlens, int(max_seqlen), int(max_seqlen), dropout_p, softmax_scale,
                       causal, window_size, softcap, alibi_slopes, deterministic, packed=True)
    return (out, lse, None) if return_attn_probs else out


def flash_attn_varlen_kvpacked_func(q, kv, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k, dropout_p=0.0,
                                    softmax_scale=None, causal=False, window_size=(-1, -1), softcap=0.0,
                                    alibi_slopes=None, deterministic=False, return_attn_probs=False):
    """flash_attn_varlen_func on q: (total_q, nheads, headdim) and kv: (total_k, 2, nheads_k,
    headdim); the gradients come back as q's and kv's."""
    k, v = kv.unbind(dim=1)
    out, lse = _attend(q, k, v, cu_seqlens_q, cu_seqlens_k, int(max_seqlen_q), int(max_seqlen_k), dropout_p,
                       softmax_scale, causal, window_size, softcap, alibi_slopes, deterministic, packed=True)
    return (out, lse, None) if return_attn_probs else out


def flash_attn_with_kvcache(q, k_cache, v_cache, k=None, v=None, rotary_cos=None, rotary_sin=None,
                            cache_seqlens=None, cache_batch_idx=None, cache_leftpad=None, block_table=None,
                            softmax_scale=None, causal=False, window_size=(-1, -1), softcap=0.0,
                            rotary_interleaved=True, alibi_slopes=None, num_splits=0, return_softmax_lse=False):
    """Decoding over a KV cache, flash-attn's signature (no autograd: inference).
    q: (batch, seqlen_q, nheads, headdim), a few new tokens per sequence.
    k_cache, v_cache: (batch_cache, seqlen_cache, nheads_k, headdim), or with block_table
    (batch, max_pages) int32, pages (num_pages, page_size, nheads_k, headdim) of any page size.
    k, v (optional): (batch, seqlen_new, nheads_k, headdim), written into the cache at
    cache_seqlens (in place) before attending, rotated first when rotary_cos/rotary_sin
    (seqlen_ro, rotary_dim / 2) are given; q is rotated too, at cache_seqlens + i when causal or
    windowed, else at cache_seqlens.
    cache_seqlens: int or int32 (batch,), rows filled before this call (None: the whole cache);
    cache_batch_idx: int32 (batch,) cache entries; cache_leftpad: int32 (batch,) first valid row.
    num_splits: 0 chooses split-KV from the GPU and the shapes. Returns out (batch, seqlen_q,
    nheads, headdim), with return_softmax_lse (out, softmax_lse (batch, nheads, seqlen_q)).
    Lengths given as a Python int are checked against the cache's capacity; a device tensor of
    lengths is not read on the host (no synchronization): lengths past the cache read nothing
    outside it, and give a meaningless answer."""
    out, lse = _kvcache(q, k_cache, v_cache, k, v, rotary_cos, rotary_sin, cache_seqlens, cache_batch_idx,
                        cache_leftpad, block_table, softmax_scale, causal, window_size, softcap, rotary_interleaved,
                        alibi_slopes, num_splits)
    return (out, lse) if return_softmax_lse else out


def _kvcache(q, k_cache, v_cache, k, v, rotary_cos, rotary_sin, cache_seqlens, cache_batch_idx, cache_leftpad,
             block_table, softmax_scale, causal, window_size, softcap, rotary_interleaved, alibi_slopes, num_splits,
             cu_seqlens_q=None, max_seqlen_q=0):
    """flash_attn_with_kvcache and the paged flash_attn_varlen_func: (out, lse). With
    cu_seqlens_q, q is (total_q, nheads, headdim) and lse (nheads, total_q)."""
    ext = _load()
    d = q.shape[-1]
    if d not in built_head_dims():
        raise ValueError(f"attnkit_torch: attention over a KV cache needs a built head dim, got head_dim = {d}; this "
                         f"build has {built_head_dims()} (ATTNKIT_TORCH_HEAD_DIMS before the first import); the "
                         f"cache is updated in place, so it is not padded")
    batch = q.shape[0] if cu_seqlens_q is None else cu_seqlens_q.shape[0] - 1
    host_lengths = None
    if cache_seqlens is None:
        cache_seqlens = k_cache.shape[1] * (1 if block_table is None else block_table.shape[1])
    if isinstance(cache_seqlens, int):
        host_lengths = [cache_seqlens] * batch
        cache_seqlens = torch.full((batch,), cache_seqlens, dtype=torch.int32, device=q.device)
    elif cache_seqlens.device.type == "cpu":
        host_lengths = [int(x) for x in cache_seqlens.tolist()]
        cache_seqlens = cache_seqlens.to(device=q.device, dtype=torch.int32)
    # Index tensors of another integer type (torch.tensor([...]) is int64) are converted on the
    # device, without a synchronization; the kernels read int32.
    cache_seqlens, cache_batch_idx, cache_leftpad, block_table, cu_seqlens_q = (
        t.to(torch.int32) if t is not None and not t.is_floating_point() and t.dtype != torch.int32 else t
        for t in (cache_seqlens, cache_batch_idx, cache_leftpad, block_table, cu_seqlens_q))
    if rotary_cos is not None:
        rotary_cos, rotary_sin = (t.to(q.dtype).contiguous() for t in (rotary_cos, rotary_sin))
    scale = d ** -0.5 if softmax_scale is None else float(softmax_scale)
    left, right = _window(causal, window_size)
    return ext.decode(q, k_cache, v_cache, k, v, rotary_cos, rotary_sin, cache_seqlens, cache_batch_idx,
                      cache_leftpad, block_table, scale, left, right, float(softcap), bool(rotary_interleaved),
                      alibi_slopes, int(num_splits), host_lengths, cu_seqlens_q, int(max_seqlen_q))


from .block_sparse import BlockMask, attention, create_block_mask  # noqa: E402  (uses _load, _Attention)
