#!/usr/bin/env bash
# protect end to end against its PyTorch reference (scripts/protect_torch.py)
# in one run, on the same data, threads and machine: prints both stage
# tables and the ratio (reference time / honeyimage time; > 1: faster).
# Usage: scripts/bench_protect.sh [DATA_DIR] [THREADS]   (default: Debian's Fashion-MNIST, 2)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
data="${1:-/usr/share/datasets/fashion-mnist}"
export OMP_NUM_THREADS="${2:-2}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin=target/release/honeyimage
[ -x "$bin" ] || cargo build --release -q -p honeyimage-cli
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); flags: $(grep -m1 '^flags' /proc/cpuinfo | grep -o -w -E 'avx512_bf16|amx_bf16|amx_tile|avx512f|avx2' | sort -u | xargs)"
echo "threads: $OMP_NUM_THREADS"
start=$EPOCHREALTIME
"$bin" protect --data "$data" --out "$tmp/rel" --key "$tmp/k.key" --json > "$tmp/rust.json"
rust=$(python -c "print($EPOCHREALTIME - $start)")
python scripts/protect_torch.py "$data" "$tmp/ref" --threads "$OMP_NUM_THREADS" > "$tmp/torch.json"
python - "$tmp/rust.json" "$tmp/torch.json" "$rust" <<'PY'
import json, sys
rust, ref, wall = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), float(sys.argv[3])
stages = {s["name"]: s["seconds"] for s in rust["stages"]}
peak = max(s["peak_mib"] for s in rust["stages"])
r = ref["seconds"]
rows = [
    ("proxies (2 x 30k images x 4 epochs)", stages.get("proxies", 0), r["proxies"]),
    ("hardness (60k inferences)", stages.get("hardness", 0), r["hardness"]),
    ("optimisation (4 runs)", stages.get("optimisation", 0), r["optimisation"]),
    ("release + key", stages.get("release", 0) + stages.get("key", 0), r["release+key"]),
    ("total (wall)", wall, r["total"]),
]
print(f"| stage | honeyimage | PyTorch {ref['torch']} | ratio |")
print("|---|---:|---:|---:|")
for name, a, b in rows:
    print(f"| {name} | {a:.1f} s | {b:.1f} s | {b / a:.2f}x |")
print(f"| peak RSS | {peak:.0f} MiB | {ref['peak_mib']} MiB | |")
PY
