#!/usr/bin/env python3
"""Block-sparse results from one folder: bench_block_sparse.json (attnkit) beside FlexAttention
(peers.json rows with a "mask", from the peers' script with --flex), as markdown, and a plot of
time against density (with --plot FILE.png, needs matplotlib).

Tables:
  patterns   TFLOP/s on the kept blocks per mask and kernel, and attnkit / FlexAttention
  density    time against density for the random full-block masks: each point's time over
             density × the dense time (1.0 = exactly proportional), and its distance from the
             least-squares line through all points

usage: sparse_table.py RESULTS_DIR [--plot FILE.png]"""
import argparse
import json
import os
import re

FLEX_NAMES = {"causal": "causal", "window1024": "window1024", "local+global": "local+global", "dense": "dense"}


def load(folder):
    bench = []
    for name in ["bench_block_sparse.json", "bench_block_sparse_backward.json"]:
        path = os.path.join(folder, name)
        if os.path.exists(path):
            with open(path) as f:
                bench += [b for b in json.load(f)["benchmarks"] if not b.get("error_occurred")]
    for b in bench:
        b["name"] = b["name"].removesuffix("/manual_time")
    flex = {}
    for name in ["peers.json", "flex_block_sparse.json"]:
        path = os.path.join(folder, name)
        if os.path.exists(path):
            with open(path) as f:
                for r in json.load(f).get("rows", []):
                    if r.get("peer") == "flex":
                        flex[r["mask"]] = r
    return bench, flex


def main():
    p = argparse.ArgumentParser()
    p.add_argument("folder")
    p.add_argument("--plot")
    args = p.parse_args()
    bench, flex = load(args.folder)
    by_name = {b["name"]: b for b in bench}
    all_kernels = sorted({b["name"].split("/")[0] for b in bench if "_sparse_" in b["name"]})
    kernels = [k for k in all_kernels if k.endswith("_fwd")]

    print("| mask | density | " + " | ".join(f"{k} TFLOP/s" for k in kernels) + " | FlexAttention | "
          + " | ".join(f"{k} / Flex" for k in kernels) + " |")
    print("|" + " --- |" * (3 + 2 * len(kernels)))
    for mask in ["causal", "window1024", "local+global", "dense"]:
        cells = [by_name.get(f"{k}/{mask}") for k in kernels]
        density = next((c["density"] for c in cells if c), None)
        f = flex.get(FLEX_NAMES.get(mask, "dense"))
        ft = f["tflops"] if f else None
        row = [mask, f"{density:.3f}" if density is not None else "-"]
        row += [f"{c['TFLOPS']:.0f}" if c else "-" for c in cells]
        row += [f"{ft:.0f}" if ft else "-"]
        row += [f"{c['TFLOPS'] / ft:.2f}" if c and ft else "-" for c in cells]
        print("| " + " | ".join(row) + " |")

    backward = [k for k in all_kernels if k.endswith("_bwd")]
    if backward:
        print("\n| mask | density | " + " | ".join(f"{k} TFLOP/s" for k in backward) + " |")
        print("|" + " --- |" * (2 + len(backward)))
        for mask in ["causal", "window1024", "local+global", "dense"]:
            cells = [by_name.get(f"{k}/{mask}") for k in backward]
            density = next((c["density"] for c in cells if c), None)
            print("| " + " | ".join([mask, f"{density:.3f}" if density is not None else "-"]
                                    + [f"{c['TFLOPS']:.0f}" if c else "-" for c in cells]) + " |")

    print()
    series = {}
    for k in all_kernels:
        points = []
        for b in bench:
            m = re.fullmatch(rf"{k}/random/density([0-9.]+)", b["name"])
            if m:
                points.append((b["density"], b["real_time"], b["TFLOPS"]))  # milliseconds
        points.sort()
        series[k] = points
    # FlexAttention on the same densities (flex_block_sparse.py), ms per point.
    flex_points = sorted((r["density"], r["ms"], r["tflops"]) for m, r in flex.items() if m.startswith("random"))
    if flex_points:
        series["FlexAttention"] = flex_points
    for k, points in series.items():
        if not points:
            continue
        dense_ms = points[-1][1]
        n = len(points)
        mx = sum(x for x, _, _ in points) / n
        my = sum(y for _, y, _ in points) / n
        slope = sum((x - mx) * (y - my) for x, y, _ in points) / sum((x - mx) ** 2 for x, _, _ in points)
        intercept = my - slope * mx
        print(f"{k}: time = {intercept:.3f} ms + {slope:.3f} ms × density (least squares)\n")
        print("| density | ms | TFLOP/s | ms / (density × dense ms) | off the line |")
        print("| --- | --- | --- | --- | --- |")
        for x, y, tf in points:
            line = intercept + slope * x
            print(f"| {x:.3f} | {y:.3f} | {tf:.0f} | {y / (x * dense_ms):.2f} | {100 * (y - line) / line:+.1f}% |")
        print()

    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6, 4))
        for k, points in series.items():
            if points:
                xs, ys, _ = zip(*points)
                ax.plot(xs, ys, "o-", label=k)  # backward and forward share the axis
                ax.plot([0, 1], [0, points[-1][1]], ":", color="gray")
        ax.set_xlabel("density (kept 128×128 blocks)")
        ax.set_ylabel("time (ms)")
        ax.set_title("b=2 h=16 s=8192 d=128 bf16, random full blocks\n(dotted: proportional to density)")
        ax.legend()
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)


if __name__ == "__main__":
    main()
