#!/usr/bin/env python3
"""PNG charts of one results folder in the style of the FlashAttention papers' figures: TFLOP/s
against sequence length, one chart per (pass, head dim, causal), attnkit's kernels beside
PyTorch's SDPA backends (peers.json). Uses the rows scripts/training_table.py reads.

usage: plot_bench.py RESULTS_DIR [OUT_DIR] [--pass fwd bwd fwd+bwd] [--d 64 128 256]
writes OUT_DIR (default RESULTS_DIR)/<pass>_d<d>_<causal|noncausal>.png"""
import argparse
import os
import sys

import matplotlib

matplotlib.use("Agg")  # no display on a GPU machine
import matplotlib.pyplot as plt

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import training_table  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("out", nargs="?")
    parser.add_argument("--pass", dest="passes", nargs="+", default=["fwd", "bwd", "fwd+bwd"])
    parser.add_argument("--d", type=int, nargs="+", default=[64, 128, 256])
    args = parser.parse_args()
    out = args.out or args.folder
    os.makedirs(out, exist_ok=True)
    rows = training_table.load(args.folder)
    seqlens = sorted({k[3] for k in rows})
    for pass_ in args.passes:
        for d in args.d:
            for causal in (False, True):
                series = {}
                for column in training_table.COLUMNS:
                    values = [training_table.cell(rows, column, pass_, (d, causal, s)) for s in seqlens]
                    if any(v is not None for v in values):
                        series[column] = values
                if not series:
                    continue
                figure, axes = plt.subplots(figsize=(8.5, 4))
                positions = range(len(seqlens))
                width = 0.8 / len(series)
                for i, (column, values) in enumerate(series.items()):
                    bars = [v or 0 for v in values]
                    offsets = [p + (i - (len(series) - 1) / 2) * width for p in positions]
                    drawn = axes.bar(offsets, bars, width, label=column)
                    axes.bar_label(drawn, labels=[f"{v:.0f}" if v else "" for v in values], fontsize=5, rotation=90,
                                   padding=1)
                axes.set_xticks(list(positions), [f"{s // 1024}k" if s >= 1024 else str(s) for s in seqlens])
                axes.set_xlabel("sequence length (16k tokens, hidden 2048)")
                axes.set_ylabel("TFLOP/s")
                title = {"fwd": "forward", "bwd": "backward", "fwd+bwd": "forward + backward"}[pass_]
                axes.set_title(f"{title}, head dim {d}, {'causal' if causal else 'non-causal'}, bf16")
                axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
                figure.tight_layout()
                name = f"{pass_.replace('+', '_')}_d{d}_{'causal' if causal else 'noncausal'}.png"
                figure.savefig(os.path.join(out, name), dpi=120)
                plt.close(figure)
                print("wrote", os.path.join(out, name))


if __name__ == "__main__":
    main()
