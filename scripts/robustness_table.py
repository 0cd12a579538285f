#!/usr/bin/env python3
"""The robustness table of RESULTS.md from an evaluation's results.json.

Usage: scripts/robustness_table.py RUN_DIR

One row per attack: for each method, the median p-value of the attacked
infringing suspects and how many were flagged at alpha = 0.001; the clean
suspects flagged (same attack) at the run's alpha; the attacker's cost
(test accuracy of HoneyImage's attacked suspects against the same suspects
unattacked); for cleaning attacks, what was removed.
"""
import json
import math
import sys


def fmt_p(p):
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "–"
    return f"{p:.1e}"


def main():
    run = sys.argv[1]
    with open(f"{run}/results.json") as f:
        r = json.load(f)
    rows = r.get("robustness", [])
    methods = []
    for a in rows:
        if a["method"] not in methods:
            methods.append(a["method"])
    attacks = []
    for a in rows:
        if a["attack"] not in attacks:
            attacks.append(a["attack"])
    head = ["attack", "family"] + [f"{m}: flagged / median p" for m in methods] + ["clean flagged (per method)", "test acc (attacked vs plain)", "removed (all / R)"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for att in attacks:
        mine = {a["method"]: a for a in rows if a["attack"] == att}
        first = mine.get("honeyimage") or next(iter(mine.values()))
        cells = [f"`{att}`", first["family"]]
        for m in methods:
            a = mine.get(m)
            if a is None or a["infringing"] == 0:
                cells.append("–")
                continue
            n = a["infringing"]
            k = round(a["tpr_001"] * n) if a["tpr_001"] is not None and not math.isnan(a["tpr_001"]) else 0
            tag = " (labels)" if a["label_only"] else ""
            cells.append(f"{k}/{n}, {fmt_p(a['median_p'])}{tag}")
        cells.append(", ".join(f"{a['clean_flagged']}/{a['clean']}" for a in mine.values()))
        ta, tb = first["test_accuracy"], first["base_test_accuracy"]
        if ta is None or tb is None or math.isnan(ta) or math.isnan(tb):
            cells.append("–")
        else:
            cells.append(f"{ta:.3f} vs {tb:.3f} ({100 * (ta - tb):+.1f})")
        rem = first.get("removed")
        cells.append(f"{100 * rem['all']:.1f}% / {100 * rem['marked']:.0f}%" if rem else "")
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
