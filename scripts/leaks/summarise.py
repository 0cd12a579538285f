#!/usr/bin/env python3
"""Tables for RESULTS.md from scripts/leaks/experiment.sh's outputs:
attribution (verify --keys) and trace. Usage: summarise.py DIR"""
import glob
import json
import os
import sys


def truth(case):
    """The recipients whose release a case derives from."""
    if case.startswith("original") or case.startswith("clean"):
        return set()
    head = case.split("-")[0]
    return set(head.split("+"))


def row_trace(case, doc, secs):
    want = truth(case)
    keys = {k["name"]: k for k in doc["keys"]}
    got = set(doc["attributed"])
    right = [keys[r] for r in sorted(want) if r in keys]
    others = [k for n, k in keys.items() if n not in want]
    p_right = max((k["p_value"] for k in right), default=float("nan"))
    p_other = min((k["p_holm"] for k in others), default=float("nan"))
    found = "; ".join(f"{k['matched_released']}/{k['released']}" for k in right) or "–"
    found_w = "; ".join(f"{k['matched_withheld']}/{k['withheld']}" for k in right) or "–"
    mark = "; ".join(f"{k['median_mark_released']:.2f}" for k in right) or "–"
    ok = "yes" if got == want else "**no**"
    return f"| {case} | {', '.join(sorted(want)) or 'none'} | {', '.join(sorted(got)) or 'none'} | {ok} | {p_right:.1e} | {p_other:.2f} | {found} | {found_w} | {mark} | {secs} |"


def main():
    d = sys.argv[1]
    print("### Attribution (verify --keys)\n")
    print("| suspect | trained on | attributed to | correct | p (true recipient) | smallest Holm p (others) | loss R / W (true) |")
    print("|---|---|---|---|---|---|---|")
    for f in sorted(glob.glob(os.path.join(d, "verify", "*.json"))):
        case = os.path.basename(f)[:-5]
        doc = json.load(open(f))
        want = truth(case)
        rec = {r["recipient"]: r for r in doc["recipients"]}
        right = [rec[r] for r in sorted(want)]
        others = [r for n, r in rec.items() if n not in want]
        p_right = max((r["verification"]["p_value"] for r in right), default=float("nan"))
        p_other = min((r["p_holm"] for r in others), default=float("nan"))
        losses = "; ".join(f"{r['verification']['mean_loss_released']:.2f} / {r['verification']['mean_loss_withheld']:.2f}" for r in right) or "–"
        ok = "yes" if set(doc["attributed"]) == want else "**no**"
        print(f"| {case} | {', '.join(sorted(want)) or 'none'} | {', '.join(doc['attributed']) or 'none'} | {ok} | {p_right:.1e} | {p_other:.2f} | {losses} |")
    print("\n### Trace (no model)\n")
    print("| found data | derives from | attributed to | correct | p (true recipient) | smallest Holm p (others) | R found | W found | median mark R | trace time |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for f in sorted(glob.glob(os.path.join(d, "trace", "*.json"))):
        case = os.path.basename(f)[:-5]
        t = os.path.join(d, "trace", case + ".time")
        secs = open(t).read().strip().splitlines()[-1].split()[0] + " s" if os.path.exists(t) else "–"
        print(row_trace(case, json.load(open(f)), secs))


if __name__ == "__main__":
    main()
