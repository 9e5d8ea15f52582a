"""Block-sparse attention: a block mask built once on the GPU, then attention over it with autograd.

    mask = attnkit_torch.create_block_mask("local_global", 4096, window=256, globals=64)
    out = attnkit_torch.attention(q, k, v, block_mask=mask)     # q, k, v: (batch, heads, seqlen, head_dim)
    out.sum().backward()                                        # the same mask serves the backward

Layout is flex-attention's: q (batch, heads_q, seqlen_q, head_dim), k and v (batch, heads_kv,
seqlen_k, head_dim), heads_q a multiple of heads_kv (GQA), fp16 or bf16, last dimension contiguous.
Masks are aligned bottom-right when seqlen_q != seqlen_k: query i sits at key position
i + seqlen_k - seqlen_q, as flash_attn_func's causal mask and ALiBi do.
"""
import math

import torch

from . import _Attention, _load

__all__ = ["BlockMask", "create_block_mask", "attention"]

# The numbers of csrc/block_sparse.h's PatternKind (0: a boolean block tensor).
_PATTERNS = {"causal": 1, "sliding_window": 2, "local_global": 3, "strided": 4, "document": 5}
_SCORE_MOD_KINDS = {None: 0, "softcap": 1, "alibi": 2}  # csrc/kernels.h's ScoreModKind
_LISTS = ("full_counts", "full_indices", "partial_counts", "partial_indices",
          "full_q_counts", "full_q_indices", "partial_q_counts", "partial_q_indices")


class BlockMask:
    """Which key blocks each query block visits, on the GPU, in attnkit's block-mask layout
    (include/attnkit/mask/block_mask.cuh), int32:

        full_counts, partial_counts        (batch, heads, q_blocks)
        full_indices, partial_indices      (batch, heads, q_blocks, kv_blocks)   first `count` valid
        full_q_counts, partial_q_counts    (batch, heads, kv_blocks)             transposed, for
        full_q_indices, partial_q_indices  (batch, heads, kv_blocks, q_blocks)   the backward

    Full blocks are computed with no element test, partial ones with the pattern's element mask,
    others skipped. batch or heads of 1 is shared by all. Make one with create_block_mask."""

    def __init__(self, lists, q_len, kv_len, block_size, pattern, window=0, globals=0, stride=1, causal=False,
                 document_ids=None):
        for name, tensor in zip(_LISTS, lists):
            setattr(self, name, tensor)
        self.q_len, self.kv_len = int(q_len), int(kv_len)
        self.block_size = tuple(block_size)
        self.pattern = pattern  # a name of create_block_mask, or "blocks"
        self._pattern_kind = _PATTERNS.get(pattern, 0)
        self.window, self.globals, self.stride, self.causal = int(window), int(globals), int(stride), bool(causal)
        self.document_ids = document_ids  # kept here: the kernels read it on partial blocks

    @property
    def shape(self):
        """(batch, heads, q_blocks, kv_blocks)."""
        return tuple(self.full_counts.shape) + (self.full_indices.shape[-1],)

    def to_dense(self):
        """Bool (batch, heads, q_blocks, kv_blocks): True where a block is visited (full or partial)."""
        kv_blocks = self.shape[-1]
        dense = torch.zeros(*self.shape[:-1], kv_blocks + 1, dtype=torch.bool, device=self.full_counts.device)
        slots = torch.arange(kv_blocks, device=dense.device)
        for counts, indices in ((self.full_counts, self.full_indices), (self.partial_counts, self.partial_indices)):
            listed = torch.where(slots < counts.unsqueeze(-1), indices.long(), kv_blocks)  # past the count: dropped
            dense.scatter_(-1, listed, True)
        return dense[..., :kv_blocks]

    def density(self):
        """Visited blocks over all blocks."""
        kept = self.full_counts.sum() + self.partial_counts.sum()
        return kept.item() / math.prod(self.shape)

    def __repr__(self):
        return (f"BlockMask({self.pattern}, shape={self.shape}, block_size={self.block_size}, q_len={self.q_len}, "
                f"kv_len={self.kv_len}, density={self.density():.3f})")


def _device_index(device, *tensors):
    """The CUDA device the mask goes to: `device`, else that of a CUDA input, else the current one."""
    for t in tensors:
        if device is None and t is not None and t.is_cuda:
            device = t.device
    device = torch.device("cuda" if device is None else device)
    if device.type != "cuda":
        raise ValueError(f"attnkit_torch: block masks live on a CUDA device, not {device}")
    return device.index if device.index is not None else torch.cuda.current_device()


def create_block_mask(pattern, q_len, kv_len=None, *, window=None, globals=0, stride=None, document_ids=None,
                      causal=False, block_size=128, device=None):
    """Builds a BlockMask on the GPU.

    pattern, for query i and key j with diag = i + kv_len - q_len (bottom-right alignment):
      "causal"                       j <= diag
      "sliding_window", window=w     diag - w <= j <= diag
      "local_global", window=w,      |j - diag| <= w, or j < g, or i < g  (g global tokens that see
        globals=g                    and are seen by every position)
      "strided", stride=s            j <= diag and (diag - j < s or (diag - j) % s == 0)
      "document", document_ids=ids   ids[i] == ids[j] (and j <= diag with causal=True); ids (seqlen,)
                                     or (batch, seqlen), non-decreasing (packed documents); needs
                                     q_len == kv_len
      a bool tensor                  (batch|1, heads|1, q_blocks, kv_blocks) or (q_blocks, kv_blocks):
                                     True blocks are kept whole, the rest skipped
    Named patterns are evaluated on every pair to classify each block as skipped, full or partial;
    partial blocks apply the same element mask inside the kernels. block_size: int or
    (query rows, keys), multiples of 128."""
    kv_len = q_len if kv_len is None else kv_len
    block_m, block_n = (block_size, block_size) if isinstance(block_size, int) else block_size
    ids, blocks = None, None
    batches = heads = 1
    if isinstance(pattern, torch.Tensor):
        blocks = pattern
        if blocks.dtype != torch.bool:
            raise TypeError(f"attnkit_torch: a block tensor must be bool, got {blocks.dtype}")
        if blocks.dim() == 2:
            blocks = blocks[None, None]
        if blocks.dim() != 4:
            raise ValueError(f"attnkit_torch: a block tensor is (batch|1, heads|1, q_blocks, kv_blocks), "
                             f"got shape {tuple(pattern.shape)}")
        batches, heads = blocks.shape[0], blocks.shape[1]
        name, kind = "blocks", 0
    elif pattern in _PATTERNS:
        name, kind = pattern, _PATTERNS[pattern]
        needs = {"sliding_window": ("window", window), "local_global": ("window", window),
                 "strided": ("stride", stride), "document": ("document_ids", document_ids)}
        if name in needs and needs[name][1] is None:
            raise ValueError(f"attnkit_torch: pattern {name!r} needs {needs[name][0]}=")
        if name == "document":
            ids = document_ids if document_ids.dim() == 2 else document_ids[None]
            if ids.dim() != 2 or ids.dtype.is_floating_point or ids.dtype == torch.bool:
                raise ValueError(f"attnkit_torch: document_ids must be integer ids of shape (seqlen,) or "
                                 f"(batch, seqlen), got {document_ids.dtype} {tuple(document_ids.shape)}")
            if ids.shape[1] > 1 and not bool((ids[:, 1:] >= ids[:, :-1]).all()):
                raise ValueError("attnkit_torch: document_ids must be non-decreasing along the sequence")
            batches = ids.shape[0]
    else:
        raise ValueError(f"attnkit_torch: unknown pattern {pattern!r}; one of {sorted(_PATTERNS)} or a bool tensor")

    index = _device_index(device, ids, blocks)
    target = torch.device("cuda", index)
    if ids is not None:
        ids = ids.to(device=target, dtype=torch.int32).contiguous()
    if blocks is not None:
        blocks = blocks.to(target).contiguous()
    window = 0 if window is None else int(window)
    stride = 1 if stride is None else int(stride)
    lists = _load().build_block_mask(kind, int(q_len), int(kv_len), batches, heads, int(block_m), int(block_n),
                                     window, int(globals), stride, bool(causal), ids, blocks, index)
    return BlockMask(lists, q_len, kv_len, (block_m, block_n), name, window, globals, stride, causal, ids)


class _BlockSparseAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, block_mask, scale, score_mod, softcap, alibi_slopes, allow_hopper):
        out, lse = _load().sparse_forward(q, k, v, block_mask, scale, score_mod, softcap, alibi_slopes, allow_hopper)
        ctx.save_for_backward(q, k, v, out, lse, alibi_slopes)
        ctx.block_mask = block_mask
        ctx.settings = (scale, score_mod, softcap)
        ctx.mark_non_differentiable(lse)
        return out, lse

    @staticmethod
    def backward(ctx, d_out, d_lse):
        q, k, v, out, lse, alibi_slopes = ctx.saved_tensors
        scale, score_mod, softcap = ctx.settings
        dq, dk, dv = _load().sparse_backward(d_out, q, k, v, out, lse, ctx.block_mask, scale, score_mod, softcap,
                                             alibi_slopes)
        return dq, dk, dv, None, None, None, None, None, None


def attention(q, k, v, block_mask=None, score_mod=None, scale=None, *, softcap=0.0, alibi_slopes=None,
              return_lse=False, forward_kernel="auto"):
    """Attention over a BlockMask, with autograd. q: (batch, heads_q, seqlen_q, head_dim); k, v:
    (batch, heads_kv, seqlen_k, head_dim). Returns out shaped like q, or (out, lse) with
    return_lse (lse: float32 (batch, heads_q, seqlen_q); rows that keep no key give out = 0 and
    lse = -inf).

    block_mask: from create_block_mask for these q_len, kv_len; None attends to every key (the
    dense kernels of flash_attn_func). score_mod: None, "softcap" (cap · tanh(s / cap), cap =
    softcap) or "alibi" (s - slope_h · |diag - j|, alibi_slopes: float32 (heads_q,)). scale:
    default head_dim ** -0.5. forward_kernel: "auto" runs attnkit's Hopper kernel on sm_90 GPUs
    for head dims 64 and 128, FA2's otherwise; "fa2" always FA2's. The backward is FA2's."""
    if score_mod not in _SCORE_MOD_KINDS:
        raise ValueError(f"attnkit_torch: unknown score_mod {score_mod!r}; one of None, 'softcap', 'alibi'")
    if score_mod == "softcap" and not softcap > 0:
        raise ValueError(f"attnkit_torch: score_mod 'softcap' needs softcap > 0, got {softcap}")
    if score_mod == "alibi" and alibi_slopes is None:
        raise ValueError("attnkit_torch: score_mod 'alibi' needs alibi_slopes")
    if forward_kernel not in ("auto", "fa2"):
        raise ValueError(f"attnkit_torch: forward_kernel must be 'auto' or 'fa2', got {forward_kernel!r}")
    scale = q.shape[-1] ** -0.5 if scale is None else float(scale)
    if block_mask is None:
        out, lse = _Attention.apply(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), None, None, q.shape[2],
                                    k.shape[2], 0.0, scale, False, (-1, -1),
                                    float(softcap) if score_mod == "softcap" else 0.0,
                                    alibi_slopes if score_mod == "alibi" else None, False)
        out = out.transpose(1, 2)
    else:
        out, lse = _BlockSparseAttention.apply(q, k, v, block_mask, scale, _SCORE_MOD_KINDS[score_mod],
                                               float(softcap) if score_mod == "softcap" else 0.0,
                                               alibi_slopes if score_mod == "alibi" else None,
                                               forward_kernel == "auto")
    return (out, lse) if return_lse else out
