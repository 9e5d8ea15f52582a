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
    conventions: (batch, seqlen, heads, dim), bottom-right aligned masks, GQA by head groups, ALiBi
    slopes (heads,) or (batch, heads) added after soft-capping."""
    b, s_q, h, d = q.shape
    s_k, h_k = k.shape[1], k.shape[2]
    scale = d ** -0.5 if scale is None else scale
    q, k, v = (t.to(dtype).transpose(1, 2) for t in (q, k, v))
    k = k.repeat_interleave(h // h_k, dim=1)
    v = v.repeat_interleave(h // h_k, dim=1)
    scores = (q @ k.transpose(-1, -2)) * scale
    rows = torch.arange(s_q, device=q.device)[:, None] + (s_k - s_q)
    cols = torch.arange(s_k, device=q.device)[None, :]
    if softcap > 0:
        scores = softcap * torch.tanh(scores / softcap)
    if alibi is not None:
        slopes = alibi.to(dtype).reshape(-1, h)[:, :, None, None]  # a row for every entry, or one each
        scores = scores - slopes * (rows - cols).abs()
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


def cu_seqlens(lengths):
    return torch.tensor([0] + list(torch.tensor(lengths).cumsum(0)), device="cuda", dtype=torch.int32)


def varlen_reference(lengths_q, lengths_k, dtype, alibi=None, **kwargs):
    """reference() on each packed sequence alone, for (total, heads, dim) q, k, v; alibi (heads,)
    for every sequence or (sequences, heads), a row each."""
    def run(q, k, v):
        outs, start_q, start_k = [], 0, 0
        for i, (n_q, n_k) in enumerate(zip(lengths_q, lengths_k)):
            slopes = alibi[i] if alibi is not None and alibi.dim() == 2 else alibi
            outs.append(reference(q[None, start_q:start_q + n_q], k[None, start_k:start_k + n_k],
                                  v[None, start_k:start_k + n_k], alibi=slopes, dtype=dtype, **kwargs)[0])
            start_q, start_k = start_q + n_q, start_k + n_k
        return torch.cat(outs)
    return run


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
    per_entry = torch.stack([slopes, 4 * slopes.flip(0)])  # (batch, nheads): each entry its own row
    cases = [dict(causal=True), dict(window=(64, 0)), dict(window=(100, 30)), dict(softcap=5.0, causal=True),
             dict(alibi=slopes, causal=True), dict(alibi=slopes), dict(alibi=per_entry, causal=True),
             dict(softcap=5.0, alibi=slopes), dict(softcap=5.0, alibi=per_entry, window=(100, 30))]
    for case in cases:
        window = case.get("window", (-1, -1))
        kwargs = dict(causal=case.get("causal", False), window_size=window, softcap=case.get("softcap", 0.0),
                      alibi_slopes=case.get("alibi"))
        check_against_reference(q, k, v, d_out, lambda q, k, v: attnkit_torch.flash_attn_func(q, k, v, **kwargs),
                                causal=kwargs["causal"], window=window, softcap=kwargs["softcap"],
                                alibi=kwargs["alibi_slopes"])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("softcap, alibi", [(0.0, None), (0.0, "heads"), (0.0, "sequences"), (5.0, "sequences")])
def test_varlen(dtype, causal, softcap, alibi):
    """Packed sequences against the reference run on each sequence alone. The entries differ in
    length and in s_k - s_q, so ALiBi must be aligned per sequence, not once for the batch; with
    (batch, nheads) slopes each sequence reads its own row."""
    lengths_q, lengths_k, h, h_k, d = [1, 200, 77, 512], [5, 150, 300, 512], 4, 2, 64
    slopes = torch.tensor([0.5, 0.25, 0.125, 0.0625], device="cuda")
    if alibi == "sequences":
        slopes = slopes * torch.tensor([[1.0], [0.25], [2.0], [0.5]], device="cuda")
    elif alibi is None:
        slopes = None
    g = torch.Generator(device="cuda").manual_seed(11)
    make = lambda n, heads: torch.randn(n, heads, d, device="cuda", dtype=dtype, generator=g).requires_grad_()
    q, k, v = make(sum(lengths_q), h), make(sum(lengths_k), h_k), make(sum(lengths_k), h_k)
    d_out = torch.randn(sum(lengths_q), h, d, device="cuda", dtype=dtype, generator=g)

    settings = dict(causal=causal, softcap=softcap, alibi=slopes)
    exact = outputs_and_grads(varlen_reference(lengths_q, lengths_k, torch.float32, **settings), q, k, v, d_out,
                              torch.float32)
    baseline = outputs_and_grads(varlen_reference(lengths_q, lengths_k, dtype, **settings), q, k, v, d_out)
    actual = outputs_and_grads(
        lambda q, k, v: attnkit_torch.flash_attn_varlen_func(q, k, v, cu_seqlens(lengths_q), cu_seqlens(lengths_k),
                                                             max(lengths_q), max(lengths_k), causal=causal,
                                                             softcap=softcap, alibi_slopes=slopes),
        q, k, v, d_out)
    check_rule(actual, baseline, exact)


def packed_outputs_and_grads(fn, inputs, d_out):
    """fn's output and the gradients of its (packed) inputs, as float32, on leaf copies."""
    inputs = [t.detach().clone().requires_grad_() for t in inputs]
    out = fn(*inputs)
    out.backward(d_out.to(out.dtype))
    return [out.float()] + [t.grad.float() for t in inputs]


def check_packed(packing, packed_fn, unpacked_fn, reference_fn, q, k, v, d_out, dim):
    """The packed call against the unpacked one on the same values: both under the rule against
    the float32 reference, and the packed tensors' gradients against the separate ones stacked
    as the packing lays them out. packing: "qkv" (packed_fn(qkv)) or "kv" (packed_fn(q, kv)),
    stacked along `dim`; reference_fn(dtype) gives the reference in that dtype."""
    exact = outputs_and_grads(reference_fn(torch.float32), q, k, v, d_out, torch.float32)
    baseline = outputs_and_grads(reference_fn(q.dtype), q, k, v, d_out)
    unpacked = outputs_and_grads(unpacked_fn, q, k, v, d_out)
    check_rule(unpacked, baseline, exact)
    if packing == "qkv":
        inputs = [torch.stack([q, k, v], dim=dim)]
        regroup = lambda r: [r[0], torch.stack(r[1:], dim=dim)]
        names = ("out", "dqkv")
    else:
        inputs = [q, torch.stack([k, v], dim=dim)]
        regroup = lambda r: [r[0], r[1], torch.stack(r[2:], dim=dim)]
        names = ("out", "dq", "dkv")
    packed = packed_outputs_and_grads(packed_fn, inputs, d_out)
    # The same kernels read the same values through other strides: no further from the oracle
    # than the unpacked call is (the rule, with it as the same-precision implementation).
    check_rule(packed, regroup(unpacked), regroup(exact), names)
    check_rule(packed, regroup(baseline), regroup(exact), names)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [False, True])
def test_packed(dtype, causal):
    """flash_attn_qkvpacked_func and flash_attn_kvpacked_func against flash_attn_func (GQA and
    s_q != s_k for kvpacked): values, and gradients reaching the packed tensors."""
    q, k, v, d_out = random_inputs(2, 257, 257, 4, 4, 64, dtype, seed=21)
    check_packed("qkv", lambda qkv: attnkit_torch.flash_attn_qkvpacked_func(qkv, causal=causal),
                 lambda q, k, v: attnkit_torch.flash_attn_func(q, k, v, causal=causal),
                 lambda dtype: lambda *t: reference(*t, causal=causal, dtype=dtype), q, k, v, d_out, 2)
    q, k, v, d_out = random_inputs(2, 150, 333, 4, 2, 128, dtype, seed=22)
    check_packed("kv", lambda q, kv: attnkit_torch.flash_attn_kvpacked_func(q, kv, causal=causal),
                 lambda q, k, v: attnkit_torch.flash_attn_func(q, k, v, causal=causal),
                 lambda dtype: lambda *t: reference(*t, causal=causal, dtype=dtype), q, k, v, d_out, 2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_varlen_packed(dtype):
    """flash_attn_varlen_qkvpacked_func and flash_attn_varlen_kvpacked_func against
    flash_attn_varlen_func on uneven sequences, causal."""
    lengths_q, lengths_k, h, h_k, d = [1, 130, 77, 300], [5, 150, 300, 300], 4, 2, 64
    g = torch.Generator(device="cuda").manual_seed(23)
    make = lambda n, heads: torch.randn(n, heads, d, device="cuda", dtype=dtype, generator=g).requires_grad_()

    q, k, v = make(sum(lengths_k), h), make(sum(lengths_k), h), make(sum(lengths_k), h)
    d_out = torch.randn(sum(lengths_k), h, d, device="cuda", dtype=dtype, generator=g)
    cu, longest = cu_seqlens(lengths_k), max(lengths_k)
    check_packed("qkv", lambda qkv: attnkit_torch.flash_attn_varlen_qkvpacked_func(qkv, cu, longest, causal=True),
                 lambda q, k, v: attnkit_torch.flash_attn_varlen_func(q, k, v, cu, cu, longest, longest, causal=True),
                 lambda dtype: varlen_reference(lengths_k, lengths_k, dtype, causal=True), q, k, v, d_out, 1)

    q, k, v = make(sum(lengths_q), h), make(sum(lengths_k), h_k), make(sum(lengths_k), h_k)
    d_out = torch.randn(sum(lengths_q), h, d, device="cuda", dtype=dtype, generator=g)
    cu_q, cu_k = cu_seqlens(lengths_q), cu_seqlens(lengths_k)
    max_q, max_k = max(lengths_q), max(lengths_k)
    check_packed("kv", lambda q, kv: attnkit_torch.flash_attn_varlen_kvpacked_func(q, kv, cu_q, cu_k, max_q, max_k,
                                                                                    causal=True),
                 lambda q, k, v: attnkit_torch.flash_attn_varlen_func(q, k, v, cu_q, cu_k, max_q, max_k, causal=True),
                 lambda dtype: varlen_reference(lengths_q, lengths_k, dtype, causal=True), q, k, v, d_out, 1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d", [40, 59, 72, 80, 160])
def test_unbuilt_head_dims_are_padded(dtype, d):
    """A head dim with no kernel runs zero-padded to the next built one, with the default scale
    d^-0.5 of its own d: values and gradients against the reference at d."""
    built = attnkit_torch.built_head_dims()
    if not any(b >= d for b in built):
        pytest.skip(f"head_dim {d} pads to a built head dim >= {d}; this build has {built} "
                    f"(ATTNKIT_TORCH_HEAD_DIMS)")
    q, k, v, d_out = random_inputs(2, 150, 211, 4, 2, d, dtype, seed=d)
    check_against_reference(q, k, v, d_out, lambda q, k, v: attnkit_torch.flash_attn_func(q, k, v, causal=True),
                            causal=True)
    # The zero columns leave q·k, and so the LSE, as they are at d.
    _, lse, _ = attnkit_torch.flash_attn_func(q, k, v, causal=True, return_attn_probs=True)
    scores = torch.einsum("bqhd,bkhd->bhqk", q.float(), k.float().repeat_interleave(2, dim=2)) * d ** -0.5
    keep = torch.ones(150, 211, dtype=torch.bool, device="cuda").tril(211 - 150)  # bottom-right causal
    torch.testing.assert_close(lse, torch.logsumexp(scores.masked_fill(~keep, float("-inf")), dim=-1), atol=1e-3,
                               rtol=1e-3)


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
    q = torch.randn(1, 16, 2, 264, device="cuda", dtype=torch.bfloat16)
    with pytest.raises(ValueError, match="264"):
        attnkit_torch.flash_attn_func(q, q, q)
    largest = max(attnkit_torch.built_head_dims())
    if largest < 256:  # nothing built to pad to
        q = torch.randn(1, 16, 2, largest + 8, device="cuda", dtype=torch.bfloat16)
        with pytest.raises(ValueError, match=str(largest + 8)):
            attnkit_torch.flash_attn_func(q, q, q)
    q = torch.randn(1, 16, 4, 64, device="cuda", dtype=torch.bfloat16)
    with pytest.raises(RuntimeError, match="alibi_slopes"):
        attnkit_torch.flash_attn_func(q, q, q, alibi_slopes=torch.ones(2, 4, device="cuda"))  # batch is 1
    q = torch.randn(1, 16, 2, 64, device="cuda", dtype=torch.float32)
    with pytest.raises(RuntimeError, match="Float"):
        attnkit_torch.flash_attn_func(q, q, q)
    q = torch.randn(1, 16, 6, 64, device="cuda", dtype=torch.bfloat16)
    k = torch.randn(1, 16, 4, 64, device="cuda", dtype=torch.bfloat16)
    with pytest.raises(RuntimeError, match="heads"):
        attnkit_torch.flash_attn_func(q, k, k)
