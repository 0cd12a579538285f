#!/usr/bin/env python3
"""Paired comparison of two verification methods on the same suspects.

Usage:
  scripts/paired_compare.py A B [--attack LABEL] [--alpha 0.001]

A and B are RUN_DIR:METHOD (e.g. runs/augmentation-eot:honeyimage and
runs/augmentation:hard-unperturbed); RUN_A+RUN_B:METHOD pools the suspects
of several runs of the same protection (the first run's result wins when
both hold a suspect); RUN1,RUN2:METHOD lists replicates (e.g. one run per
protection key), the i-th of A paired with the i-th of B. Infringing
suspects are paired by replicate, architecture and training seed (same candidates and seeds when the runs
share their protection seed and private data); with --attack only the
suspects that went through that attack (its label, e.g. crop2-flip), else
the unattacked ones. Prints each pair's p-values, the difference in
TPR at alpha with a 95% interval (Newcombe's method for paired
proportions, with Wilson intervals), the discordant pairs, and the mean
paired difference of -log10 p with a 95% t interval.
"""
import argparse
import json
import math
import sys


def load(spec, attack):
    runs, method = spec.rsplit(":", 1)
    out = {}
    for rep, group in enumerate(runs.split(",")):
        pooled = {}
        for run in reversed(group.split("+")):
            pooled.update(load_run(run, method, attack))
        out.update({(rep,) + k: p for k, p in pooled.items()})
    return out


def load_run(run, method, attack):
    with open(f"{run}/results.json") as f:
        rows = json.load(f)["suspects"]
    out = {}
    for s in rows:
        if s["method"] != method or s.get("key", 0) != 0 or s["role"] != "infringing":
            continue
        if s.get("attack", "") != (attack or ""):
            continue
        p = s["p_value"]
        if p is None or not math.isfinite(p):
            continue
        out[(s["arch"], s["seed"])] = p
    return out


def wilson(k, n, z=1.96):
    if n == 0:
        return (float("nan"), float("nan"))
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (c - h, c + h)


def newcombe_paired(a, b, c, d, z=1.96):
    """95% interval of p1 - p2 for paired proportions (Newcombe 1998, method 10).
    a: both positive, b: first only, c: second only, d: neither."""
    n = a + b + c + d
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = wilson(a + b, n, z)
    l2, u2 = wilson(a + c, n, z)
    den = (a + b) * (c + d) * (a + c) * (b + d)
    phi = 0.0 if den == 0 else (a * d - b * c) / math.sqrt(den)
    diff = p1 - p2
    dl = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    du = math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return diff, (diff - dl, diff + du)


def t_quantile_975(df):
    table = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228, 15: 2.131, 20: 2.086, 30: 2.042}
    for k in sorted(table):
        if df <= k:
            return table[k]
    return 1.96


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--attack", default="")
    ap.add_argument("--alpha", type=float, default=0.001)
    args = ap.parse_args()
    a, b = load(args.a, args.attack), load(args.b, args.attack)
    keys = sorted(set(a) & set(b))
    if not keys:
        sys.exit(f"no paired infringing suspects (A has {sorted(a)}, B has {sorted(b)})")
    print(f"{'run':>3} {'arch':<14} {'seed':>4} {'p (A)':>10} {'p (B)':>10}")
    for k in keys:
        print(f"{k[0]:>3} {k[1]:<14} {k[2]:>4} {a[k]:>10.2e} {b[k]:>10.2e}")
    hit = lambda p: p < args.alpha
    both = sum(hit(a[k]) and hit(b[k]) for k in keys)
    only_a = sum(hit(a[k]) and not hit(b[k]) for k in keys)
    only_b = sum(hit(b[k]) and not hit(a[k]) for k in keys)
    neither = len(keys) - both - only_a - only_b
    diff, (lo, hi) = newcombe_paired(both, only_a, only_b, neither)
    n = len(keys)
    print(f"pairs: {n}; TPR at {args.alpha}: A {(both + only_a) / n:.2f}, B {(both + only_b) / n:.2f}; "
          f"A - B = {diff:+.2f}, 95% CI [{lo:+.2f}, {hi:+.2f}] (Newcombe, paired); discordant: A only {only_a}, B only {only_b}")
    d = [-math.log10(max(a[k], 1e-300)) + math.log10(max(b[k], 1e-300)) for k in keys]
    mean = sum(d) / n
    if n > 1:
        sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
        h = t_quantile_975(n - 1) * sd / math.sqrt(n)
        print(f"-log10 p, A - B: mean {mean:+.2f}, 95% t CI [{mean - h:+.2f}, {mean + h:+.2f}]")
    else:
        print(f"-log10 p, A - B: {mean:+.2f} (one pair, no interval)")


if __name__ == "__main__":
    main()
