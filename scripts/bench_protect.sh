#!/usr/bin/env bash
# protect end to end against its PyTorch reference (scripts/protect_torch.py)
# on the same data, threads and machine, alternating RUNS runs of each
# (single runs on a shared VM vary by +-25%): prints per-stage medians (with
# min-max), the ratio of medians (reference / honeyimage; > 1: faster) and
# peak RSS. PRECISION=bf16 runs both in bf16 mixed precision (honeyimage's
# `--precision bf16`, the reference's torch.autocast); default fp32.
# Usage: [PRECISION=fp32|bf16] scripts/bench_protect.sh [DATA_DIR] [THREADS] [RUNS]   (default: Debian's Fashion-MNIST, 2, 1)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
data="${1:-/usr/share/datasets/fashion-mnist}"
export OMP_NUM_THREADS="${2:-2}"
runs="${3:-1}"
precision="${PRECISION:-fp32}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin=target/release/honeyimage
[ -x "$bin" ] || cargo build --release -q -p honeyimage-cli
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); flags: $(grep -m1 '^flags' /proc/cpuinfo | grep -o -w -E 'avx512_bf16|amx_bf16|amx_tile|avx512f|avx2' | sort -u | xargs)"
echo "threads: $OMP_NUM_THREADS, runs: $runs (alternating), precision: $precision"
for i in $(seq 1 "$runs"); do
  start=$EPOCHREALTIME
  "$bin" protect --data "$data" --out "$tmp/rel$i" --key "$tmp/k$i.key" --precision "$precision" --json > "$tmp/rust$i.json" 2> "$tmp/rust$i.log"
  python -c "print($EPOCHREALTIME - $start)" > "$tmp/wall$i"
  rm -rf "$tmp/rel$i" "$tmp/rel$i.work"
  python scripts/protect_torch.py "$data" "$tmp/ref$i" --threads "$OMP_NUM_THREADS" --precision "$precision" > "$tmp/torch$i.json"
  rm -rf "$tmp/ref$i"
done
python - "$tmp" "$runs" <<'PY'
import json, statistics, sys
tmp, runs = sys.argv[1], int(sys.argv[2])
rows = {"proxies (2 x 30k images x 4 epochs)": ([], []), "hardness (60k inferences)": ([], []),
        "optimisation (4 runs)": ([], []), "release + key": ([], []), "total (wall)": ([], [])}
peaks = ([], [])
for i in range(1, runs + 1):
    rust, ref = json.load(open(f"{tmp}/rust{i}.json")), json.load(open(f"{tmp}/torch{i}.json"))
    st = {s["name"]: s["seconds"] for s in rust["stages"]}
    r = ref["seconds"]
    pairs = [(st["proxies"], r["proxies"]), (st["hardness"], r["hardness"]), (st["optimisation"], r["optimisation"]),
             (st["release"] + st["key"], r["release+key"]), (float(open(f"{tmp}/wall{i}").read()), r["total"])]
    for (a, b), (hon, pt) in zip(pairs, rows.values()):
        hon.append(a)
        pt.append(b)
    peaks[0].append(max(s["peak_mib"] for s in rust["stages"]))
    peaks[1].append(ref["peak_mib"])
    torch_version = ref["torch"]
span = lambda v: f"{statistics.median(v):.1f} s" + (f" ({min(v):.1f}-{max(v):.1f})" if len(v) > 1 else "")
print(f"| stage (median of {runs}) | honeyimage | PyTorch {torch_version} | ratio |")
print("|---|---:|---:|---:|")
for name, (hon, pt) in rows.items():
    print(f"| {name} | {span(hon)} | {span(pt)} | {statistics.median(pt) / statistics.median(hon):.2f}x |")
print(f"| peak RSS | {max(peaks[0]):.0f} MiB | {max(peaks[1])} MiB | |")
PY
