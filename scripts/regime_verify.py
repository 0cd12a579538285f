#!/usr/bin/env python3
"""Judge the suspects that scripts/regime_suspects.py trained (on a GPU or
here) with `honeyimage verify --answers`: each model's logits on the query
images become an answers CSV (rows named by the SHA-256 of the image, as
`honeyimage key queries` names them), each infringing suspect is verified
with its own release's key and each clean one with every key, with the raw
and the calibrated test. Writes OUT/results.tsv and prints, per method and
architecture, the test accuracy and TPR at alpha, and the paired comparison
of each method with the reference method (same key, architecture and seed)
with Newcombe's interval for the TPR difference and a t interval for the
mean difference of -log10 p.

usage: regime_verify.py OUT PREP_DIR SUSPECTS_DIR NAME=KEY... [--bin target/release/honeyimage]
       [--reference plain] [--alpha 0.001]
"""
import argparse, glob, json, math, os, statistics, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from paired_compare import newcombe_paired, t_quantile_975  # noqa: E402


def write_answers(path, digests, logits):
    k = len(logits[0])
    with open(path + ".tmp", "w") as f:
        f.write("image," + ",".join(map(str, range(k))) + "\n")
        for d, row in zip(digests, logits):
            f.write(d + "," + ",".join(repr(v) for v in row) + "\n")
    os.replace(path + ".tmp", path)


def verify(binary, key, answers, calibrate):
    cmd = [binary, "--quiet", "verify", "--key", key, "--answers", answers, "--output", "logits", "--json"]
    if calibrate:
        cmd.append("--calibrate")
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()}")
    return json.loads(r.stdout)


def kind_of(release):
    return release.rsplit("-k", 1)[0]


def paired(rows, a, b, mode, alpha):
    """Pairs of infringing suspects of methods a and b with the same key, arch and seed."""
    pick = lambda m: {(r["key"], r["arch"], r["seed"]): r["p"] for r in rows if r["mode"] == mode and r["role"] == "infringing" and kind_of(r["release"]) == m}
    pa, pb = pick(a), pick(b)
    keys = sorted(set(pa) & set(pb))
    if not keys:
        return None
    hit = lambda p: p < alpha
    both = sum(hit(pa[k]) and hit(pb[k]) for k in keys)
    only_a = sum(hit(pa[k]) and not hit(pb[k]) for k in keys)
    only_b = sum(hit(pb[k]) and not hit(pa[k]) for k in keys)
    diff, (lo, hi) = newcombe_paired(both, only_a, only_b, len(keys) - both - only_a - only_b)
    d = [math.log10(max(pb[k], 1e-300)) - math.log10(max(pa[k], 1e-300)) for k in keys]
    mean = statistics.fmean(d)
    h = t_quantile_975(len(d) - 1) * statistics.stdev(d) / math.sqrt(len(d)) if len(d) > 1 else float("nan")
    return {"pairs": len(keys), "tpr_a": (both + only_a) / len(keys), "tpr_b": (both + only_b) / len(keys),
            "tpr_diff": diff, "tpr_ci": (lo, hi), "dlog": mean, "dlog_ci": (mean - h, mean + h)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("prep")
    ap.add_argument("suspects")
    ap.add_argument("keys", nargs="+")
    ap.add_argument("--bin", default="target/release/honeyimage")
    ap.add_argument("--reference", default="plain")
    ap.add_argument("--alpha", type=float, default=0.001)
    a = ap.parse_args()
    keys = dict(s.split("=", 1) for s in a.keys)
    digests = json.load(open(os.path.join(a.prep, "queries.json")))
    os.makedirs(os.path.join(a.out, "answers"), exist_ok=True)
    models = [json.loads(line) for p in sorted(glob.glob(os.path.join(a.suspects, "w*.jsonl"))) for line in open(p)]
    rows = []
    for m in models:
        answers = os.path.join(a.out, "answers", m["name"] + ".csv")
        write_answers(answers, digests, m["logits"])
        clean = m["release"] == "clean"
        for rel in (sorted(keys) if clean else [m["release"]]):
            for mode in ("raw", "calibrated"):
                v = verify(a.bin, keys[rel], answers, mode == "calibrated")
                rows.append({"model": m["name"], "role": "clean" if clean else "infringing", "release": rel, "key": int(rel.rsplit("-k", 1)[1]),
                             "arch": m["arch"], "seed": m["seed"], "mode": mode, "p": v["p_value"], "loss_R": v["mean_loss_released"],
                             "loss_W": v["mean_loss_withheld"], "test_accuracy": m["test_accuracy"], "train_accuracy": m["train_accuracy"],
                             "seconds": m["seconds"], "epochs": m["epochs"], "pad": m["pad"]})
    cols = list(rows[0])
    with open(os.path.join(a.out, "results.tsv"), "w") as f:
        f.write("\t".join(cols) + "\n")
        for r in rows:
            f.write("\t".join(str(r[c]) for c in cols) + "\n")
    report(rows, a.alpha, a.reference)


def report(rows, alpha, reference):
    kinds = sorted({kind_of(r["release"]) for r in rows if r["role"] == "infringing"})
    archs = sorted({r["arch"] for r in rows})
    for mode in ("raw", "calibrated"):
        print(f"\n== {mode} test, alpha {alpha}")
        print(f"{'method':<10} {'arch':<10} {'n':>2} {'flagged':>7} {'median p':>9} {'test acc':>8} {'train acc':>9}")
        for kind in kinds:
            for arch in archs + ["all"]:
                sel = [r for r in rows if r["mode"] == mode and r["role"] == "infringing" and kind_of(r["release"]) == kind and arch in (r["arch"], "all")]
                if sel:
                    print(f"{kind:<10} {arch:<10} {len(sel):>2} {sum(r['p'] < alpha for r in sel):>7} {statistics.median(r['p'] for r in sel):>9.2e} "
                          f"{statistics.fmean(r['test_accuracy'] for r in sel):>8.4f} {statistics.fmean(r['train_accuracy'] for r in sel):>9.4f}")
        clean = [r for r in rows if r["mode"] == mode and r["role"] == "clean"]
        if clean:
            print(f"clean: {len(clean)} (model, key) pairs; flagged at {alpha}: {sum(r['p'] < alpha for r in clean)}, at 0.01: "
                  f"{sum(r['p'] < 0.01 for r in clean)}, at 0.05: {sum(r['p'] < 0.05 for r in clean)}; min p {min(r['p'] for r in clean):.3g}")
        for kind in kinds:
            if kind == reference:
                continue
            c = paired(rows, kind, reference, mode, alpha)
            if c:
                print(f"{kind} - {reference}: {c['pairs']} pairs; TPR {c['tpr_a']:.2f} vs {c['tpr_b']:.2f}, difference {c['tpr_diff']:+.2f} "
                      f"[{c['tpr_ci'][0]:+.2f}, {c['tpr_ci'][1]:+.2f}]; -log10 p difference {c['dlog']:+.2f} [{c['dlog_ci'][0]:+.2f}, {c['dlog_ci'][1]:+.2f}]")


if __name__ == "__main__":
    main()
