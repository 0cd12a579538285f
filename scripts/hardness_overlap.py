#!/usr/bin/env python3
"""How much two protections of the same data agree on what is hard.

Usage: scripts/hardness_overlap.py WORK_A WORK_B [--top 200]

WORK_A and WORK_B are protect work folders (`--work`, default
RELEASE.work) of the same dataset. Prints the Pearson and Spearman
correlations of their hardness scores (work/hardness.json), the share of
the TOP hardest samples they have in common, and the share of their
candidates (the class-stratified 2N of work/honey.json) in common.
Used for bf16 against fp32 and for one seed against another
(BENCHMARKS.md, "bf16 mixed precision").
"""
import argparse
import json
import os

import numpy as np


def hardness(work):
    with open(os.path.join(work, "hardness.json")) as f:
        return np.asarray(json.load(f)["hardness"], dtype=np.float64)


def candidates(work):
    with open(os.path.join(work, "honey.json")) as f:
        return set(json.load(f)["honey"]["indices"])


def ranks(x):
    r = np.empty(len(x))
    r[np.argsort(x, kind="stable")] = np.arange(len(x))
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--top", type=int, default=200)
    args = ap.parse_args()
    ha, hb = hardness(args.a), hardness(args.b)
    if len(ha) != len(hb):
        raise SystemExit(f"{args.a} scores {len(ha)} samples, {args.b} scores {len(hb)}: not the same data")
    top = lambda h: set(np.argsort(-h, kind="stable")[: args.top].tolist())
    ca, cb = candidates(args.a), candidates(args.b)
    print(f"samples {len(ha)}")
    print(f"pearson {np.corrcoef(ha, hb)[0, 1]:.4f}, spearman {np.corrcoef(ranks(ha), ranks(hb))[0, 1]:.4f}")
    shared = len(top(ha) & top(hb))
    print(f"top {args.top} by hardness shared: {shared} ({shared / args.top:.1%})")
    both = len(ca & cb)
    print(f"candidates shared: {both} of {len(ca)} ({both / max(len(ca), 1):.1%})")


if __name__ == "__main__":
    main()
