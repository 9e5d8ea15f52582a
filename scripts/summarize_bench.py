#!/usr/bin/env python3
"""Print one table from a results folder: TFLOP/s of every attnkit benchmark row on the
papers' grid, with PyTorch's backends (peers.json, if present) measured in the same run beside
them. usage: summarize_bench.py RESULTS_DIR"""
import glob
import json
import os
import sys


def load_attnkit(folder):
    rows = {}  # (kernel, d, causal, seqlen) -> TFLOP/s
    for path in sorted(glob.glob(os.path.join(folder, "bench_*.json"))):
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError):  # a filter that selected nothing leaves an empty file
            continue
        for b in data.get("benchmarks", []):
            if "TFLOPS" not in b or "head_dim" not in b or b.get("error_occurred"):
                continue  # not a grid point (e.g. the block-mask builders' timings)
            kernel = b["name"].split("/")[0]
            if "density" in b:  # block-sparse rows: sparse_table.py reports them
                continue
            key = (kernel, int(b["head_dim"]), bool(b["causal"]), int(b["seqlen"]))
            rows[key] = b["TFLOPS"]
    return rows


def load_peers(folder):
    rows = {}  # (peer_pass, d, causal, seqlen) -> TFLOP/s
    path = os.path.join(folder, "peers.json")
    if os.path.exists(path):
        with open(path) as f:
            for r in json.load(f).get("rows", []):
                if "mask" in r:
                    continue
                rows[(f"{r['peer']}_{r['pass_']}", r["d"], r["causal"], r["seqlen"])] = r["tflops"]
    return rows


def main():
    folder = sys.argv[1]
    rows = {**load_attnkit(folder), **load_peers(folder)}
    if not rows:
        print("no benchmark results in", folder)
        return
    kernels = sorted({k[0] for k in rows})
    points = sorted({k[1:] for k in rows})
    print(f"{'d':>4} {'causal':>6} {'seqlen':>6}  " + " ".join(f"{k:>14}" for k in kernels))
    for d, causal, s in points:
        cells = [rows.get((k, d, causal, s)) for k in kernels]
        print(f"{d:>4} {int(causal):>6} {s:>6}  " + " ".join(f"{c:>14.1f}" if c is not None else f"{'-':>14}" for c in cells))


if __name__ == "__main__":
    main()
