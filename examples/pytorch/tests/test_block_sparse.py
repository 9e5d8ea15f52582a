"""attnkit_torch.attention over block masks from create_block_mask, against
torch.nn.functional.scaled_dot_product_attention (math backend) with the equivalent boolean
attn_mask, values and gradients, under attnkit's rule: error <= 2 x (error of the math backend
in the input precision) + slack, both measured against the math backend in float32.
Layout (batch, heads, seqlen, head_dim) throughout."""
import os
import sys

import pytest
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import attnkit_torch  # noqa: E402
from test_attnkit_torch import check_rule, outputs_and_grads  # noqa: E402

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
DTYPES = [torch.bfloat16, torch.float16]
BLOCK = 128


def element_mask(pattern, q_len, kv_len, window=0, globals=0, stride=1, document_ids=None, causal=False):
    """The pairs a pattern keeps, as create_block_mask's docstring defines them: bool
    (batch|1, 1, q_len, kv_len), or (batch|1, heads|1, ...) for a block tensor."""
    if isinstance(pattern, torch.Tensor):
        blocks = pattern if pattern.dim() == 4 else pattern[None, None]
        dense = blocks.repeat_interleave(BLOCK, dim=-2).repeat_interleave(BLOCK, dim=-1)
        return dense[..., :q_len, :kv_len]
    i = torch.arange(q_len, device="cuda")[:, None]
    j = torch.arange(kv_len, device="cuda")[None, :]
    distance = i + (kv_len - q_len) - j  # diag - j
    if pattern == "causal":
        keep = distance >= 0
    elif pattern == "sliding_window":
        keep = (distance >= 0) & (distance <= window)
    elif pattern == "local_global":
        keep = (distance.abs() <= window) | (j < globals) | (i < globals)
    elif pattern == "strided":
        keep = (distance >= 0) & ((distance < stride) | (distance % stride == 0))
    elif pattern == "document":
        ids = document_ids if document_ids.dim() == 2 else document_ids[None]
        keep = ids[:, :, None] == ids[:, None, :]
        if causal:
            keep = keep & (distance >= 0)
        return keep[:, None]
    else:
        raise ValueError(pattern)
    return keep[None, None]


def packed_documents(lengths, batch=1):
    """Non-decreasing ids for documents of the given lengths, the same in every batch row unless
    batch > 1, where row b's documents are shifted by b tokens (different masks per row)."""
    ids = torch.repeat_interleave(torch.arange(len(lengths)), torch.tensor(lengths))
    rows = [torch.cat([torch.zeros(b, dtype=torch.long), ids[:len(ids) - b]]) for b in range(batch)]
    return torch.stack(rows).to("cuda", torch.int32)


def random_blocks(batch, heads, q_blocks, kv_blocks, seed, keep_diagonal=True):
    g = torch.Generator(device="cuda").manual_seed(seed)
    blocks = torch.rand(batch, heads, q_blocks, kv_blocks, device="cuda", generator=g) < 0.4
    if keep_diagonal:  # every query block keeps one key block, so no row is empty
        rows = torch.arange(q_blocks, device="cuda")
        blocks[..., rows, (rows * kv_blocks) // q_blocks] = True
    return blocks


def random_inputs(b, h, h_k, s_q, s_k, d, dtype, seed):
    g = torch.Generator(device="cuda").manual_seed(seed)
    make = lambda *shape: torch.randn(*shape, device="cuda", dtype=dtype, generator=g).requires_grad_()
    return make(b, h, s_q, d), make(b, h_k, s_k, d), make(b, h_k, s_k, d), torch.randn(
        b, h, s_q, d, device="cuda", dtype=dtype, generator=g)


def sdpa(mask, scale=None, score_bias=None):
    def run(q, k, v):
        attn_mask = mask
        if score_bias is not None:  # an additive float mask: the bias where kept, -inf elsewhere
            attn_mask = score_bias.to(q.dtype).masked_fill(~mask, float("-inf"))
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, scale=scale,
                                              enable_gqa=q.shape[1] != k.shape[1])
    return run


def check_against_sdpa(q, k, v, d_out, attnkit_fn, mask, **sdpa_kwargs):
    with torch.nn.attention.sdpa_kernel([torch.nn.attention.SDPBackend.MATH]):
        exact = outputs_and_grads(sdpa(mask, **sdpa_kwargs), q, k, v, d_out, torch.float32)
        baseline = outputs_and_grads(sdpa(mask, **sdpa_kwargs), q, k, v, d_out)
    actual = outputs_and_grads(attnkit_fn, q, k, v, d_out)
    check_rule(actual, baseline, exact)


PATTERNS = {
    "causal": dict(),
    "sliding_window": dict(window=200),
    "local_global": dict(window=150, globals=70),
    "strided": dict(stride=96),
    "document": dict(document_ids=packed_documents([100, 317, 64, 400, 119]), causal=True),
    "document_bidirectional": dict(document_ids=packed_documents([260, 1, 500, 239], batch=2)),
    "blocks": dict(),
}


def make_mask(name, q_len, kv_len, batch, heads, seed=0, **kwargs):
    if name == "blocks":
        pattern = random_blocks(batch, heads, -(-q_len // BLOCK), -(-kv_len // BLOCK), seed)
    else:
        pattern = "document" if name.startswith("document") else name
    return pattern, attnkit_torch.create_block_mask(pattern, q_len, kv_len, **kwargs)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d", [64, 128])
@pytest.mark.parametrize("name", list(PATTERNS))
def test_patterns_match_sdpa(name, d, dtype):
    """Each pattern at an odd length (partial last blocks), GQA 4/2, values and gradients."""
    s, kwargs = 1000, PATTERNS[name]
    q, k, v, d_out = random_inputs(2, 4, 2, s, s, d, dtype, seed=d + len(name))
    pattern, block_mask = make_mask(name, s, s, 2, 4, seed=d, **kwargs)
    mask = element_mask(pattern, s, s, **kwargs)
    check_against_sdpa(q, k, v, d_out, lambda q, k, v: attnkit_torch.attention(q, k, v, block_mask=block_mask), mask)


@pytest.mark.parametrize("forward_kernel", ["auto", "fa2"])
@pytest.mark.parametrize("name", ["causal", "sliding_window", "local_global", "strided"])
def test_unequal_lengths(name, forward_kernel):
    """seqlen_q < seqlen_k, masks aligned bottom-right; the FA2 forward also where Hopper's would run."""
    s_q, s_k, kwargs = 300, 777, PATTERNS[name]
    q, k, v, d_out = random_inputs(2, 4, 4, s_q, s_k, 128, torch.bfloat16, seed=3)
    _, block_mask = make_mask(name, s_q, s_k, 2, 4, **kwargs)
    mask = element_mask(name, s_q, s_k, **kwargs)
    fn = lambda q, k, v: attnkit_torch.attention(q, k, v, block_mask=block_mask, forward_kernel=forward_kernel)
    check_against_sdpa(q, k, v, d_out, fn, mask)


@pytest.mark.parametrize("s", [1, 129])
def test_short_sequences(s):
    q, k, v, d_out = random_inputs(1, 2, 2, s, s, 64, torch.float16, seed=s)
    block_mask = attnkit_torch.create_block_mask("causal", s)
    fn = lambda q, k, v: attnkit_torch.attention(q, k, v, block_mask=block_mask)
    check_against_sdpa(q, k, v, d_out, fn, element_mask("causal", s, s))


@pytest.mark.parametrize("dtype", DTYPES)
def test_alibi(dtype):
    """score_mod="alibi" under a local + global mask: SDPA with the bias as a float mask."""
    s, h = 700, 4
    q, k, v, d_out = random_inputs(2, h, 2, s, s, 128, dtype, seed=17)
    block_mask = attnkit_torch.create_block_mask("local_global", s, window=128, globals=40)
    mask = element_mask("local_global", s, s, window=128, globals=40)
    slopes = torch.tensor([2.0 ** (-8 * (i + 1) / h) for i in range(h)], device="cuda")
    positions = torch.arange(s, device="cuda")
    bias = -slopes[:, None, None] * (positions[:, None] - positions[None, :]).abs()
    fn = lambda q, k, v: attnkit_torch.attention(q, k, v, block_mask, "alibi", alibi_slopes=slopes)
    check_against_sdpa(q, k, v, d_out, fn, mask, score_bias=bias[None])


def test_softcap_matches_reference():
    """Soft-capping has no SDPA form: against an explicit float32 implementation under the same mask."""
    s, cap = 500, 4.0
    q, k, v, d_out = random_inputs(1, 2, 2, s, s, 64, torch.bfloat16, seed=23)
    block_mask = attnkit_torch.create_block_mask("sliding_window", s, window=90)
    mask = element_mask("sliding_window", s, s, window=90)

    def capped(dtype):
        def run(q, k, v):
            scores = (q.to(dtype) @ k.to(dtype).transpose(-1, -2)) * q.shape[-1] ** -0.5
            scores = (cap * torch.tanh(scores / cap)).masked_fill(~mask, float("-inf"))
            return torch.softmax(scores.float(), dim=-1).to(dtype) @ v.to(dtype)
        return run

    exact = outputs_and_grads(capped(torch.float32), q, k, v, d_out, torch.float32)
    baseline = outputs_and_grads(capped(torch.bfloat16), q, k, v, d_out)
    actual = outputs_and_grads(lambda q, k, v: attnkit_torch.attention(q, k, v, block_mask, "softcap", softcap=cap),
                               q, k, v, d_out)
    check_rule(actual, baseline, exact)


def test_per_head_block_tensor_and_dense_path():
    """A block tensor with one mask per head; block_mask=None attends to every key."""
    s = 640
    q, k, v, d_out = random_inputs(2, 4, 4, s, s, 64, torch.bfloat16, seed=31)
    blocks = random_blocks(1, 4, 5, 5, seed=5)
    block_mask = attnkit_torch.create_block_mask(blocks, s)
    assert block_mask.shape == (1, 4, 5, 5)
    assert torch.equal(block_mask.to_dense(), blocks)
    check_against_sdpa(q, k, v, d_out, lambda q, k, v: attnkit_torch.attention(q, k, v, block_mask=block_mask),
                       element_mask(blocks, s, s))
    all_keys = torch.ones(1, 1, s, s, dtype=torch.bool, device="cuda")
    check_against_sdpa(q, k, v, d_out, lambda q, k, v: attnkit_torch.attention(q, k, v), all_keys)


def test_mask_lists_and_density():
    """The lists against the element mask: a block is listed iff it keeps a pair, full iff it keeps all."""
    s = 1000
    block_mask = attnkit_torch.create_block_mask("local_global", s, window=150, globals=70)
    kept = element_mask("local_global", s, s, window=150, globals=70)[0, 0]
    q_blocks = kv_blocks = -(-s // BLOCK)
    padded = torch.zeros(q_blocks * BLOCK, kv_blocks * BLOCK, dtype=torch.int32, device="cuda")
    padded[:s, :s] = kept.int()
    per_block = padded.view(q_blocks, BLOCK, kv_blocks, BLOCK).sum(dim=(1, 3))
    sizes = torch.minimum(torch.full((q_blocks,), BLOCK, device="cuda"),
                          s - torch.arange(q_blocks, device="cuda") * BLOCK)
    area = sizes[:, None] * sizes[None, :]
    assert torch.equal(block_mask.to_dense()[0, 0], per_block > 0)
    full = torch.zeros_like(per_block, dtype=torch.bool)
    counts, indices = block_mask.full_counts[0, 0], block_mask.full_indices[0, 0]
    for i in range(q_blocks):
        full[i, indices[i, :counts[i]].long()] = True
    assert torch.equal(full, per_block == area)
    assert block_mask.density() == pytest.approx((per_block > 0).float().mean().item())


def test_empty_rows_give_zero():
    """Query blocks that keep no key block: out = 0, lse = -inf, no gradient through them."""
    s = 400
    q, k, v, d_out = random_inputs(1, 2, 2, s, s, 64, torch.bfloat16, seed=41)
    blocks = torch.zeros(4, 4, dtype=torch.bool, device="cuda")
    blocks[0, 0] = blocks[2, :3] = True  # query blocks 1 and 3 keep nothing
    block_mask = attnkit_torch.create_block_mask(blocks, s)
    out, lse = attnkit_torch.attention(q, k, v, block_mask=block_mask, return_lse=True)
    out.backward(d_out)
    empty = torch.zeros(s, dtype=torch.bool, device="cuda")
    empty[128:256] = empty[384:] = True
    assert torch.all(out[:, :, empty] == 0) and torch.all(lse[:, :, empty] == float("-inf"))
    assert torch.all(q.grad[:, :, empty] == 0)
    assert torch.isfinite(q.grad).all() and torch.isfinite(k.grad).all() and torch.isfinite(v.grad).all()
    assert torch.all(k.grad[:, :, 384:] == 0) and torch.all(v.grad[:, :, 384:] == 0)  # key block 3: unvisited


def test_errors():
    q = torch.randn(1, 6, 256, 64, device="cuda", dtype=torch.bfloat16)
    k = torch.randn(1, 4, 256, 64, device="cuda", dtype=torch.bfloat16)
    block_mask = attnkit_torch.create_block_mask("causal", 256)
    with pytest.raises(RuntimeError, match="heads"):  # GQA ratio 6 / 4, found by attnkit's validation
        attnkit_torch.attention(q, k, k, block_mask=block_mask)
    q = torch.randn(1, 4, 300, 64, device="cuda", dtype=torch.bfloat16)
    with pytest.raises(RuntimeError, match="q_len = 256"):  # mask made for other lengths
        attnkit_torch.attention(q, q, q, block_mask=block_mask)
    q = torch.randn(1, 4, 256, 80, device="cuda", dtype=torch.bfloat16)
    with pytest.raises(RuntimeError, match="80"):
        attnkit_torch.attention(q, q, q, block_mask=block_mask)
    q = torch.randn(3, 4, 256, 64, device="cuda", dtype=torch.bfloat16)
    per_batch = attnkit_torch.create_block_mask(torch.ones(2, 1, 2, 2, dtype=torch.bool, device="cuda"), 256)
    with pytest.raises(RuntimeError, match="batch"):
        attnkit_torch.attention(q, q, q, block_mask=per_batch)
    with pytest.raises(RuntimeError, match="multiples of 128"):
        attnkit_torch.create_block_mask("causal", 256, block_size=64)
    with pytest.raises(RuntimeError, match="shape"):
        attnkit_torch.create_block_mask(torch.ones(1, 1, 3, 2, dtype=torch.bool, device="cuda"), 256)
    with pytest.raises(ValueError, match="window"):
        attnkit_torch.create_block_mask("sliding_window", 256)
    with pytest.raises(ValueError, match="unknown pattern"):
        attnkit_torch.create_block_mask("dilated", 256)
    with pytest.raises(ValueError, match="non-decreasing"):
        attnkit_torch.create_block_mask("document", 4, document_ids=torch.tensor([0, 1, 0, 1], device="cuda"))
    with pytest.raises(RuntimeError, match="document_ids"):
        attnkit_torch.create_block_mask("document", 256, 300, document_ids=torch.zeros(256, dtype=torch.int32, device="cuda"))
    q = torch.randn(1, 4, 256, 64, device="cuda", dtype=torch.bfloat16)
    with pytest.raises(ValueError, match="score_mod"):
        attnkit_torch.attention(q, q, q, block_mask, score_mod="relative")
    with pytest.raises(ValueError, match="alibi_slopes"):
        attnkit_torch.attention(q, q, q, block_mask, score_mod="alibi")
    with pytest.raises(RuntimeError, match="alibi_slopes"):
        attnkit_torch.attention(q, q, q, block_mask, score_mod="alibi", alibi_slopes=torch.ones(3, device="cuda"))
    # the process is still fine after every error above
    out = attnkit_torch.attention(q, q, q, block_mask=block_mask)
    assert torch.isfinite(out.float()).all()
