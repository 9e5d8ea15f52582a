"""attnkit_torch against PyTorch: values and gradients of flash_attn_func / flash_attn_varlen_func
compared with torch.nn.functional.scaled_dot_product_attention and with a float32 math
reference, under attnkit's tolerance rule: error <= 2 x (error of the same computation in the
input precision) + slack, both measured against the float32 reference."""
import math
import os
import sys

import pytest
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import attnkit_torch  # noqa: E402

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
DTYPES = [torch.bfloat16, torch.float16]


def reference(q, k, v, causal=False, window=(-1, -1), softcap=0.0, alibi=None, scale=None, dtype=torch.float32):
    """Attention in `dtype` (float32: the oracle; q.dtype: the same-precision baseline), flash-attn's
    conventions: (batch, seqlen, heads, dim), bottom-right aligned masks, GQA by head groups."""
    b, s_q, h, d = q.shape
    s_k, h_k = k.shape[1], k.shape[2]
    scale = d ** -0.5 if scale is None else scale
    q, k, v = (t.to(dtype).transpose(1, 2) for t in (q, k, v))
    k = k.repeat_interleave(h // h_k, dim=1)
    v = v.repeat_interleave(h // h_k, dim=1)
    scores = (q @ k.transpose(-1, -2)) * scale
    rows = torch.arange(s_q, device=q.device)[:, None] + (s_k - s_q)
    cols = torch.arange(s_k, device=q.device)[None, :]
    if alibi is not None:
        scores = scores - alibi.to(dtype)[None, :, None, None] * (rows - cols).abs()
    if softcap > 0:
        scores = softcap * torch.tanh(scores / softcap)
    left, right = window
    if causal:
        right = 0
    keep = torch.ones(s_q, s_k, dtype=torch.bool, device=q.device)
    if left >= 0:
        keep &= cols >= rows - left
    if right >= 0:
        keep &= cols <= rows + right
    scores = scores.masked_fill(~keep, float("-inf"))
    probs = torch.softmax(scores.float(), dim=-1).nan_to_num(0.0).to(dtype)
    return (probs @ v).transpose(1, 2)


def random_inputs(b, s_q, s_k, h, h_k, d, dtype, seed):
    g = torch.Generator(device="cuda").manual_seed(seed)
    make = lambda *shape: torch.randn(*shape, device="cuda", dtype=dtype, generator=g).requires_grad_()
    return make(b, s_q, h, d), make(b, s_k, h_k, d), make(b, s_k, h_k, d), torch.randn(
        b, s_q, h, d, device="cuda", dtype=dtype, generator=g)


def outputs_and_grads(fn, q, k, v, d_out, leaves=None):
    """fn's output and dq, dk, dv, as float32. leaves=torch.float32 differentiates float32 copies
    of q, k, v (the oracle: gradients of 16-bit leaves would be rounded to 16 bits)."""
    if leaves is not None:
        q, k, v = (t.detach().to(leaves).requires_grad_() for t in (q, k, v))
    for t in (q, k, v):
        t.grad = None
    out = fn(q, k, v)
    out.backward(d_out.to(out.dtype))
    return [out.float(), q.grad.float(), k.grad.float(), v.grad.float()]


def check_rule(actual, baseline, exact, names=("out", "dq", "dk", "dv")):
    for name, a, s, e in zip(names, actual, baseline, exact):
        error = (a - e).abs().max().item()
        base = (s - e).abs().max().item()
        slack = 1e-3 * max(1.0, e.abs().max().item())
        assert math.isfinite(error), f"{name}: not finite"
        assert error <= 2 * base + slack, f"{name}: error {error:.3g} > 2 x baseline {base:.3g} + {slack:.3g}"


def check_against_reference(q, k, v, d_out, attnkit_fn, **kwargs):
    exact = outputs_and_grads(lambda *t: reference(*t, **kwargs), q, k, v, d_out, torch.float32)
    baseline = outputs_and_grads(lambda *t: reference(*t, dtype=q.dtype, **kwargs), q, k, v, d_out)
    actual = outputs_and_grads(attnkit_fn, q, k, v, d_out)
    check_rule(actual, baseline, exact)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d", [64, 128])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("heads", [(8, 8), (8, 2)])
@pytest.mark.parametrize("seqlen", [1, 129, 1000])
def test_matches_sdpa(dtype, d, causal, heads, seqlen):
    """Against SDPA (PyTorch's own choice of backend) and its math backend, values and gradients."""
    h, h_k = heads
    q, k, v, d_out = random_inputs(2, seqlen, seqlen, h, h_k, d, dtype, seed=seqlen + d + h_k)
    exact = outputs_and_grads(lambda *t: reference(*t, causal=causal), q, k, v, d_out, torch.float32)

    def sdpa(q, k, v):
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                             is_causal=causal, enable_gqa=h != h_k)
        return out.transpose(1, 2)

    baseline = outputs_and_grads(sdpa, q, k, v, d_out)
    with torch.nn.attention.sdpa_kernel([torch.nn.attention.SDPBackend.MATH]):
        math_backend = outputs_and_grads(sdpa, q, k, v, d_out)
    actual = outputs_and_grads(lambda q, k, v: attnkit_torch.flash_attn_func(q, k, v, causal=causal), q, k, v, d_out)
    check_rule(actual, baseline, exact)
    check_rule(actual, math_backend, exact)


@pytest.mark.parametrize("dtype", DTYPES)
def test_unequal_lengths_window_softcap_alibi(dtype):
    """s_q != s_k (bottom-right alignment), sliding windows, soft-capping and ALiBi."""
    q, k, v, d_out = random_inputs(2, 300, 517, 4, 2, 128, dtype, seed=7)
    slopes = torch.tensor([2.0 ** (-8 * (i + 1) / 4) for i in range(4)], device="cuda")
    cases = [dict(causal=True), dict(window=(64, 0)), dict(window=(100, 30)), dict(softcap=5.0, causal=True),
             dict(alibi=slopes, causal=True), dict(alibi=slopes)]
    for case in cases:
        window = case.get("window", (-1, -1))
        kwargs = dict(causal=case.get("causal", False), window_size=window, softcap=case.get("softcap", 0.0),
                      alibi_slopes=case.get("alibi"))
        check_against_reference(q, k, v, d_out, lambda q, k, v: attnkit_torch.flash_attn_func(q, k, v, **kwargs),
                                causal=kwargs["causal"], window=window, softcap=kwargs["softcap"],
                                alibi=kwargs["alibi_slopes"])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("alibi", [False, True])
def test_varlen(dtype, causal, alibi):
    """Packed sequences against the reference run on each sequence alone. The entries differ in
    length and in s_k - s_q, so ALiBi must be aligned per sequence, not once for the batch."""
    lengths_q, lengths_k, h, h_k, d = [1, 200, 77, 512], [5, 150, 300, 512], 4, 2, 64
    slopes = torch.tensor([0.5, 0.25, 0.125, 0.0625], device="cuda") if alibi else None
    g = torch.Generator(device="cuda").manual_seed(11)
    make = lambda n, heads: torch.randn(n, heads, d, device="cuda", dtype=dtype, generator=g).requires_grad_()
    q, k, v = make(sum(lengths_q), h), make(sum(lengths_k), h_k), make(sum(lengths_k), h_k)
    d_out = torch.randn(sum(lengths_q), h, d, device="cuda", dtype=dtype, generator=g)
    cu = lambda lengths: torch.tensor([0] + list(torch.tensor(lengths).cumsum(0)), device="cuda", dtype=torch.int32)

    def per_sequence(fn_dtype):
        def run(q, k, v):
            outs, start_q, start_k = [], 0, 0
            for n_q, n_k in zip(lengths_q, lengths_k):
                outs.append(reference(q[None, start_q:start_q + n_q], k[None, start_k:start_k + n_k],
                                      v[None, start_k:start_k + n_k], causal=causal, alibi=slopes,
                                      dtype=fn_dtype)[0])
                start_q, start_k = start_q + n_q, start_k + n_k
            return torch.cat(outs)
        return run

    exact = outputs_and_grads(per_sequence(torch.float32), q, k, v, d_out, torch.float32)
    baseline = outputs_and_grads(per_sequence(dtype), q, k, v, d_out)
    actual = outputs_and_grads(
        lambda q, k, v: attnkit_torch.flash_attn_varlen_func(q, k, v, cu(lengths_q), cu(lengths_k), max(lengths_q),
                                                             max(lengths_k), causal=causal, alibi_slopes=slopes),
        q, k, v, d_out)
    check_rule(actual, baseline, exact)


def test_return_attn_probs_gives_lse():
    q, k, v, _ = random_inputs(2, 100, 100, 4, 4, 64, torch.bfloat16, seed=3)
    out, lse, probs = attnkit_torch.flash_attn_func(q, k, v, causal=True, return_attn_probs=True)
    assert probs is None and lse.shape == (2, 4, 100) and lse.dtype == torch.float32
    scores = torch.einsum("bqhd,bkhd->bhqk", q.float(), k.float()) / 8.0
    scores = scores.masked_fill(torch.ones(100, 100, dtype=torch.bool, device="cuda").triu(1), float("-inf"))
    torch.testing.assert_close(lse, torch.logsumexp(scores, dim=-1), atol=1e-3, rtol=1e-3)


def test_dropout():
    """Same torch seed, same mask (forward and backward; the deterministic backward, so the
    gradients can be compared bit for bit); kept values scaled so E[out] is kept."""
    q, k, _, d_out = random_inputs(2, 512, 1024, 4, 4, 64, torch.bfloat16, seed=5)
    v = torch.ones_like(k).requires_grad_()  # out = sum_j P_j Z_j / (1 - p): mean 1 over many rows
    runs = []
    for _ in range(2):
        torch.manual_seed(1234)
        runs.append(outputs_and_grads(lambda q, k, v: attnkit_torch.flash_attn_func(q, k, v, dropout_p=0.3,
                                                                                deterministic=True), q, k, v,
                                      d_out))
    for first, second in zip(*runs):
        assert torch.equal(first, second)
    assert abs(runs[0][0].mean().item() - 1.0) < 0.02
    torch.manual_seed(99)
    other = attnkit_torch.flash_attn_func(q, k, v, dropout_p=0.3)
    assert not torch.equal(other.float(), runs[0][0])


def test_deterministic_backward_is_bitwise_repeatable():
    q, k, v, d_out = random_inputs(2, 2048, 2048, 8, 2, 128, torch.bfloat16, seed=9)
    fn = lambda q, k, v: attnkit_torch.flash_attn_func(q, k, v, causal=True, deterministic=True)
    first = outputs_and_grads(fn, q, k, v, d_out)
    for _ in range(3):
        for a, b in zip(first, outputs_and_grads(fn, q, k, v, d_out)):
            assert torch.equal(a, b)


def test_errors_name_the_bad_value():
    q = torch.randn(1, 16, 2, 80, device="cuda", dtype=torch.bfloat16)
    with pytest.raises(RuntimeError, match="80"):
        attnkit_torch.flash_attn_func(q, q, q)
    q = torch.randn(1, 16, 2, 64, device="cuda", dtype=torch.float32)
    with pytest.raises(RuntimeError, match="Float"):
        attnkit_torch.flash_attn_func(q, q, q)
    q = torch.randn(1, 16, 6, 64, device="cuda", dtype=torch.bfloat16)
    k = torch.randn(1, 16, 4, 64, device="cuda", dtype=torch.bfloat16)
    with pytest.raises(RuntimeError, match="heads"):
        attnkit_torch.flash_attn_func(q, k, k)
