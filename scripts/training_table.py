#!/usr/bin/env python3
"""Markdown tables of the FlashAttention papers' comparison from one results folder: forward,
backward and forward + backward TFLOP/s of standard attention, FA1, FA2 and attnkit's sm_90
path beside PyTorch's SDPA backends (peers.json), on the papers' grid.

forward + backward = 3.5·F / (t_fwd + t_bwd), F the forward's FLOPs: from the two rows,
3.5 / (1/fwd + 2.5/bwd) in TFLOP/s.

usage: training_table.py RESULTS_DIR [--d 64 128 256] [--pass fwd bwd fwd+bwd]"""
import argparse
import glob
import json
import os

# column -> (forward row, backward row): attnkit's benchmark prefixes or peers' "peer_pass".
COLUMNS = {
    "standard": ("standard_fwd", "standard_bwd"),
    "FA1": ("fa1_fwd", "fa1_bwd"),
    "FA2": ("fa2_fwd", "fa2_bwd"),
    "attnkit sm_90": ("hopper_fwd", "fa2_bwd"),  # what attnkit::forward runs on sm_90, FA2's backward
    "PyTorch flash": ("flash_fwd", "flash_bwd"),
    "cuDNN": ("cudnn_fwd", "cudnn_bwd"),
    "mem-efficient": ("mem_eff_fwd", "mem_eff_bwd"),
}


def load(folder):
    rows = {}  # (series, d, causal, seqlen) -> TFLOP/s
    for path in sorted(glob.glob(os.path.join(folder, "bench_*.json"))):
        with open(path) as f:
            for b in json.load(f).get("benchmarks", []):
                if "TFLOPS" in b and not b.get("error_occurred"):
                    rows[(b["name"].split("/")[0], int(b["head_dim"]), bool(b["causal"]), int(b["seqlen"]))] = b["TFLOPS"]
    peers = os.path.join(folder, "peers.json")
    if os.path.exists(peers):
        with open(peers) as f:
            for r in json.load(f).get("rows", []):
                if "mask" not in r:
                    rows[(f"{r['peer']}_{r['pass_']}", r["d"], r["causal"], r["seqlen"])] = r["tflops"]
    return rows


def cell(rows, column, pass_, point):
    fwd, bwd = (rows.get((series,) + point) for series in COLUMNS[column])
    if pass_ == "fwd":
        return fwd
    if pass_ == "bwd":
        return bwd
    return 3.5 / (1 / fwd + 2.5 / bwd) if fwd and bwd else None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("--d", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--pass", dest="passes", nargs="+", default=["fwd", "bwd", "fwd+bwd"])
    args = parser.parse_args()
    rows = load(args.folder)
    seqlens = sorted({k[3] for k in rows})
    for pass_ in args.passes:
        print(f"\n{pass_}, bf16, TFLOP/s:\n")
        print("| d | causal | seqlen | " + " | ".join(COLUMNS) + " |")
        print("| --- " * (3 + len(COLUMNS)) + "|")
        for d in args.d:
            for causal in (False, True):
                for s in seqlens:
                    cells = [cell(rows, c, pass_, (d, causal, s)) for c in COLUMNS]
                    if all(c is None for c in cells):
                        continue
                    text = " | ".join(f"{c:.0f}" if c is not None else "-" for c in cells)
                    print(f"| {d} | {'yes' if causal else 'no'} | {s} | {text} |")


if __name__ == "__main__":
    main()
