"""attnkit_torch.flash_attn_with_kvcache (and flash_attn_varlen_func over a paged cache) against a
float32 reference built from the same cache:
contiguous and paged caches (shuffled pages of several sizes), uneven lengths, appended tokens
with rotary in both forms, GQA, causal and windowed, forced split counts, and the cache written
in place; under attnkit's tolerance rule (test_attnkit_torch.py)."""
import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import attnkit_torch  # noqa: E402
from test_attnkit_torch import reference  # noqa: E402

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def rotate(x, cos, sin, positions, interleaved):
    """x (..., seqlen, heads, d) rotated by positions (seqlen,) in float32, features [0, 2 * cos.shape[1])."""
    half = cos.shape[1]
    c = cos.float()[positions][:, None, :]
    s = sin.float()[positions][:, None, :]
    x = x.float().clone()
    if interleaved:
        a, b = x[..., 0:2 * half:2].clone(), x[..., 1:2 * half:2].clone()
        x[..., 0:2 * half:2], x[..., 1:2 * half:2] = a * c - b * s, a * s + b * c
    else:
        a, b = x[..., :half].clone(), x[..., half:2 * half].clone()
        x[..., :half], x[..., half:2 * half] = a * c - b * s, a * s + b * c
    return x


def make_cache(lengths, seqlen_new, h_k, d, dtype, page_size, g):
    """A cache holding `lengths` rows per sequence with room for seqlen_new more: contiguous
    (page_size None) or paged in shuffled order. Returns k_cache, v_cache, block_table, rows(b) -> the
    (page, slot) index pairs of sequence b's rows."""
    batch = len(lengths)
    rows_needed = max(lengths) + seqlen_new
    if page_size is None:
        k_cache = torch.randn(batch, rows_needed + 3, h_k, d, device="cuda", dtype=dtype, generator=g)
        return k_cache, torch.randn_like(k_cache), None, lambda b, n: (torch.full((n,), b), torch.arange(n))
    width = (rows_needed + page_size - 1) // page_size
    pages = torch.randperm(batch * width + 2, generator=torch.Generator().manual_seed(1))
    table = pages[:batch * width].reshape(batch, width).to(torch.int32).cuda()
    k_cache = torch.randn(batch * width + 2, page_size, h_k, d, device="cuda", dtype=dtype, generator=g)

    def rows(b, n):
        r = torch.arange(n)
        return table[b].cpu().long()[r // page_size], r % page_size
    return k_cache, torch.randn_like(k_cache), table, rows


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("page_size", [None, 1, 16, 48, 256])
@pytest.mark.parametrize("rotary", [None, "interleaved", "half"])
def test_kvcache_matches_reference(dtype, page_size, rotary):
    g = torch.Generator(device="cuda").manual_seed(7)
    lengths, seqlen_new, h, h_k, d = [300, 1, 77], 4, 8, 2, 128
    k_cache, v_cache, table, rows = make_cache(lengths, seqlen_new, h_k, d, dtype, page_size, g)
    k_before, v_before = k_cache.clone(), v_cache.clone()
    q = torch.randn(len(lengths), seqlen_new, h, d, device="cuda", dtype=dtype, generator=g)
    k_new = torch.randn(len(lengths), seqlen_new, h_k, d, device="cuda", dtype=dtype, generator=g)
    v_new = torch.randn_like(k_new)
    cos = sin = None
    if rotary:
        angles = torch.arange(512, device="cuda")[:, None] * 10000.0 ** (-torch.arange(32, device="cuda") / 32)
        cos, sin = angles.cos().to(dtype), angles.sin().to(dtype)
    seqlens = torch.tensor(lengths, dtype=torch.int32, device="cuda")
    out, lse = attnkit_torch.flash_attn_with_kvcache(
        q, k_cache, v_cache, k_new, v_new, rotary_cos=cos, rotary_sin=sin, cache_seqlens=seqlens, block_table=table,
        causal=True, rotary_interleaved=rotary == "interleaved", return_softmax_lse=True)
    assert lse.shape == (len(lengths), h, seqlen_new)

    for b, length in enumerate(lengths):
        positions = torch.arange(length, length + seqlen_new, device="cuda")
        k_b_new = rotate(k_new[b], cos, sin, positions, rotary == "interleaved").to(dtype) if rotary else k_new[b]
        q_b = rotate(q[b], cos, sin, positions, rotary == "interleaved").to(dtype) if rotary else q[b]
        page, slot = rows(b, length + seqlen_new)
        k_b, v_b = k_cache[page, slot], v_cache[page, slot]
        # The appended rows, in place: exactly the new values (K within one rounding of the rotation).
        torch.testing.assert_close(k_b[length:].float(), k_b_new.float(), atol=2e-2, rtol=1e-2)
        assert torch.equal(v_b[length:], v_new[b])
        # Everything before them untouched.
        assert torch.equal(k_b[:length], k_before[page, slot][:length])
        args = (q_b[None], k_b[None], v_b[None])
        exact = reference(*args, causal=True)
        baseline = reference(*args, causal=True, dtype=dtype).float()
        error = (out[b].float() - exact[0]).abs().max().item()
        allowed = 2 * (baseline[0] - exact[0]).abs().max().item() + 1e-3 * max(1.0, exact.abs().max().item())
        assert error <= allowed, f"sequence {b}: error {error} > {allowed}"
    # No page outside the sequences' was written.
    if table is not None:
        unused = sorted(set(range(k_cache.shape[0])) - set(table.flatten().tolist()))
        assert torch.equal(k_cache[unused], k_before[unused]) and torch.equal(v_cache[unused], v_before[unused])


@pytest.mark.parametrize("splits", [1, 3, 16])
def test_kvcache_splits_window_alibi(splits):
    g = torch.Generator(device="cuda").manual_seed(11)
    lengths, h, h_k, d, dtype = [2000, 513], 8, 1, 64, torch.bfloat16
    k_cache, v_cache, table, rows = make_cache(lengths, 0, h_k, d, dtype, 64, g)
    q = torch.randn(len(lengths), 1, h, d, device="cuda", dtype=dtype, generator=g)
    slopes = torch.linspace(0.01, 0.1, h, device="cuda")
    # int64 lengths (what torch.tensor gives) on one of the runs: converted, not refused.
    seqlens = torch.tensor(lengths, device="cuda")
    out = attnkit_torch.flash_attn_with_kvcache(q, k_cache, v_cache, cache_seqlens=seqlens if splits == 3 else seqlens.int(),
                                                block_table=table, window_size=(100, 0), alibi_slopes=slopes,
                                                softcap=10.0, num_splits=splits)
    for b, length in enumerate(lengths):
        page, slot = rows(b, length)
        args = (q[b][None], k_cache[page, slot][None], v_cache[page, slot][None])
        kwargs = dict(window=(100, 0), alibi=slopes, softcap=10.0)
        exact = reference(*args, **kwargs)
        baseline = reference(*args, dtype=dtype, **kwargs).float()
        error = (out[b].float() - exact[0]).abs().max().item()
        assert error <= 2 * (baseline[0] - exact[0]).abs().max().item() + 1e-3


@pytest.mark.parametrize("page_size", [1, 16, 256])
@pytest.mark.parametrize("window", [(-1, -1), (40, 0)])
def test_paged_varlen_prefill(page_size, window):
    """flash_attn_varlen_func with block_table: uneven query chunks (one empty, one of one token)
    over each sequence's paged keys, bottom-right causal or windowed; out and LSE (nheads, total_q)."""
    g = torch.Generator(device="cuda").manual_seed(13)
    lengths_k, lengths_q, h, h_k, d, dtype = [300, 40, 129, 64], [5, 0, 33, 1], 8, 2, 128, torch.bfloat16
    k_cache, v_cache, table, rows = make_cache(lengths_k, 0, h_k, d, dtype, page_size, g)
    cu_q = torch.tensor([0] + lengths_q, device="cuda").cumsum(0).to(torch.int32)
    cu_k = torch.tensor([0] + lengths_k, device="cuda").cumsum(0).to(torch.int32)
    q = torch.randn(sum(lengths_q), h, d, device="cuda", dtype=dtype, generator=g)
    causal = window == (-1, -1)
    with torch.no_grad():
        out, lse, _ = attnkit_torch.flash_attn_varlen_func(
            q, k_cache, v_cache, cu_q, cu_k, max(lengths_q), max(lengths_k), causal=causal, window_size=window,
            return_attn_probs=True, block_table=table)
    assert out.shape == q.shape and lse.shape == (h, sum(lengths_q))
    for b, (length_q, length_k) in enumerate(zip(lengths_q, lengths_k)):
        if length_q == 0:
            continue
        page, slot = rows(b, length_k)
        begin = int(cu_q[b])
        args = (q[begin:begin + length_q][None], k_cache[page, slot][None], v_cache[page, slot][None])
        kwargs = dict(causal=causal, window=window)
        exact = reference(*args, **kwargs)
        baseline = reference(*args, dtype=dtype, **kwargs).float()
        error = (out[begin:begin + length_q].float() - exact[0]).abs().max().item()
        assert error <= 2 * (baseline[0] - exact[0]).abs().max().item() + 1e-3 * max(1.0, exact.abs().max().item())
        # The LSE of the same rows, from the float32 scores.
        scores = torch.einsum("qhd,khd->hqk", args[0][0].float(), args[1][0].float().repeat_interleave(h // h_k, 1))
        rows_q = torch.arange(length_q, device="cuda")[:, None] + length_k - length_q
        cols = torch.arange(length_k, device="cuda")[None, :]
        keep = (cols <= rows_q) & (cols >= rows_q - window[0] if window[0] >= 0 else True)
        expected = (scores * d ** -0.5).masked_fill(~keep, float("-inf")).logsumexp(-1)
        torch.testing.assert_close(lse[:, begin:begin + length_q], expected, atol=1e-3, rtol=1e-3)
    with pytest.raises(ValueError, match="dropout_p"):
        attnkit_torch.flash_attn_varlen_func(q, k_cache, v_cache, cu_q, cu_k, 33, 300, dropout_p=0.1,
                                             block_table=table)


def test_kvcache_errors_name_the_value():
    q = torch.randn(2, 1, 8, 128, device="cuda", dtype=torch.bfloat16)
    k_cache = torch.randn(2, 64, 2, 128, device="cuda", dtype=torch.bfloat16)
    k_new = torch.randn(2, 1, 2, 128, device="cuda", dtype=torch.bfloat16)
    with pytest.raises(RuntimeError, match="cache_seqlens\\[0\\] = 64 plus 1 new tokens exceeds"):
        attnkit_torch.flash_attn_with_kvcache(q, k_cache, k_cache.clone(), k_new, k_new.clone(), cache_seqlens=64)
    with pytest.raises(RuntimeError, match="block_table"):
        attnkit_torch.flash_attn_with_kvcache(q, k_cache, k_cache.clone(), cache_seqlens=3,
                                              block_table=torch.zeros(3, 1, dtype=torch.int32, device="cuda"))
    with pytest.raises(RuntimeError, match="must share a dtype"):
        attnkit_torch.flash_attn_with_kvcache(q.half(), k_cache, k_cache.clone(), cache_seqlens=3)
    with pytest.raises(RuntimeError, match="cache_seqlens must be"):
        attnkit_torch.flash_attn_with_kvcache(q, k_cache, k_cache.clone(),
                                              cache_seqlens=torch.ones(3, dtype=torch.int32, device="cuda"))
