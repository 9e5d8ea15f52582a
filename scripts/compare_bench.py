#!/usr/bin/env python3
"""Compare two Google Benchmark JSON files of the same rows, timed in one GPU run (a kernel
before and after a change): TFLOP/s of each row, the ratio after/before, and how many rows lie
outside a tolerance. usage: compare_bench.py BEFORE.json AFTER.json [--tolerance 0.02]"""
import argparse
import json


def load(path):
    with open(path) as f:
        data = json.load(f)
    return {b["name"]: b["TFLOPS"] for b in data.get("benchmarks", [])
            if "TFLOPS" in b and not b.get("error_occurred")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--tolerance", type=float, default=0.02)
    args = parser.parse_args()
    before, after = load(args.before), load(args.after)
    names = [n for n in before if n in after]
    outside = 0
    print(f"{'row':40s} {'before':>8s} {'after':>8s} {'ratio':>6s}")
    for name in names:
        ratio = after[name] / before[name]
        flag = "" if abs(ratio - 1) <= args.tolerance else "  outside"
        outside += bool(flag)
        print(f"{name:40s} {before[name]:8.1f} {after[name]:8.1f} {ratio:6.3f}{flag}")
    missing = sorted(set(before) ^ set(after))
    if missing:
        print("rows in one file only:", ", ".join(missing))
    ratios = [after[n] / before[n] for n in names]
    if ratios:
        print(f"{len(names)} rows: ratio {min(ratios):.3f}..{max(ratios):.3f}, "
              f"{outside} outside ±{args.tolerance:.0%}")


if __name__ == "__main__":
    main()
