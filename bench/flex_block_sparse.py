#!/usr/bin/env python3
"""FlexAttention (PyTorch) forward on the masks of bench_block_sparse.cu that the shared peers
script does not time: every block kept (dense), and random full-block masks of a given density
(each query block keeps the same number of its 128-key blocks, drawn per head). Same shape:
batch 2, 16 heads, 8192 tokens, head dim 128, bf16; TFLOP/s on the kept blocks.

usage: flex_block_sparse.py [--json FILE]"""
import argparse
import json

import torch
from torch.nn.attention.flex_attention import create_block_mask, flex_attention
from triton.testing import do_bench

B, H, S, D, BLOCK = 2, 16, 8192, 128, 128
DENSITIES = [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0]


def random_table(fraction, generator):
    blocks = S // BLOCK
    kept = max(1, round(fraction * blocks))
    scores = torch.rand(H, blocks, blocks, generator=generator)
    order = scores.argsort(dim=-1)[..., :kept]
    table = torch.zeros(H, blocks, blocks, dtype=torch.bool)
    table.scatter_(-1, order, True)
    return table.cuda()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--json")
    args = p.parse_args()
    flex = torch.compile(flex_attention, dynamic=False)
    q, k, v = (torch.randn(B, H, S, D, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    generator = torch.Generator().manual_seed(1234)
    masks = {"dense": (lambda b, h, qi, ki: qi >= 0, None)}
    for fraction in DENSITIES:
        table = random_table(fraction, generator)
        masks[f"random{fraction:.2f}"] = ((lambda t: lambda b, h, qi, ki: t[h, qi // BLOCK, ki // BLOCK])(table), H)
    rows = []
    for name, (mod, heads) in masks.items():
        bm = create_block_mask(mod, None, heads, S, S, device="cuda")
        kept = bm.kv_num_blocks.sum().item()
        if bm.full_kv_num_blocks is not None:
            kept += bm.full_kv_num_blocks.sum().item()
        density = kept / (bm.kv_num_blocks.numel() * (S // BLOCK))
        flex(q, k, v, block_mask=bm)
        ms = do_bench(lambda: flex(q, k, v, block_mask=bm), warmup=25, rep=200, return_mode="median")
        tf = 4 * B * H * S * S * D * density / (ms * 1e-3) / 1e12
        rows.append(dict(peer="flex", mask=name, d=D, seqlen=S, batch=B, heads=H, density=density, pass_="fwd",
                         ms=ms, tflops=tf))
        print(f"flex {name:12s} density={density:.3f} ms={ms:.3f} TFLOPs(kept blocks)={tf:.0f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(device=torch.cuda.get_device_name(), torch=torch.__version__, rows=rows), f, indent=1)


if __name__ == "__main__":
    main()
