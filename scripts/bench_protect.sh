#!/usr/bin/env bash
# protect end to end against its PyTorch reference (scripts/protect_torch.py)
# on the same data, threads and machine, alternating RUNS runs of each
# (single runs on a shared VM vary by +-25%): prints per-stage medians (with
# min-max), the ratio of medians (reference / honeyimage; > 1: faster) and
# peak RSS. PRECISION=bf16 runs both in bf16 mixed precision (honeyimage's
# `--precision bf16`, the reference's torch.autocast), PRECISION=fp32 both in
# fp32; the default, auto, picks as protect's default does.
# The reference runs twice per round: as written (default layout and
# allocator), and "tuned": channels-last models (--channels-last) under the
# malloc thresholds honeyimage sets for itself (allocator.rs), passed as
# GLIBC_TUNABLES, so the table shows how much of the lead is those two
# (TUNED=0 leaves that run out).
# ARCH=resnet18 trains ResNet-18 proxies on both sides (protect
# --proxy-arch); PROXY_EPOCHS=E changes the proxies' epochs on both (4).
# For the colour benchmark: scripts/cifar_shaped.py /tmp/cifar50k, then
# ARCH=resnet18 scripts/bench_protect.sh /tmp/cifar50k.
# Usage: [PRECISION=auto|fp32|bf16] [ARCH=..] [PROXY_EPOCHS=E] [TUNED=0] scripts/bench_protect.sh [DATA_DIR] [THREADS] [RUNS]
#   (default: Debian's Fashion-MNIST, 2 threads, 1 run, auto, small-cnn)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
data="${1:-/usr/share/datasets/fashion-mnist}"
export OMP_NUM_THREADS="${2:-2}"
runs="${3:-1}"
# auto, protect's default: bf16 where the CPU has bf16 units (precision.rs)
precision="${PRECISION:-auto}"
if [ "$precision" = auto ]; then
  if grep -q -w -E 'avx512_bf16|amx_bf16' /proc/cpuinfo; then precision=bf16; else precision=fp32; fi
fi
arch="${ARCH:-small-cnn}"
epochs="${PROXY_EPOCHS:-4}"
tuned="${TUNED:-1}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin=target/release/honeyimage
[ -x "$bin" ] || cargo build --release -q -p honeyimage-cli
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); flags: $(grep -m1 '^flags' /proc/cpuinfo | grep -o -w -E 'avx512_bf16|amx_bf16|amx_tile|avx512f|avx2' | sort -u | xargs)"
echo "threads: $OMP_NUM_THREADS, runs: $runs (alternating), precision: $precision, proxies: $arch, $epochs epochs"
for i in $(seq 1 "$runs"); do
  start=$EPOCHREALTIME
  "$bin" protect --data "$data" --out "$tmp/rel$i" --key "$tmp/k$i.key" --precision "$precision" --proxy-arch "$arch" --proxy-epochs "$epochs" --json > "$tmp/rust$i.json" 2> "$tmp/rust$i.log"
  python -c "print($EPOCHREALTIME - $start)" > "$tmp/wall$i"
  rm -rf "$tmp/rel$i" "$tmp/rel$i.work"
  ref=(python scripts/protect_torch.py "$data" "$tmp/ref$i" --threads "$OMP_NUM_THREADS" --precision "$precision" --arch "$arch" --proxy-epochs "$epochs")
  "${ref[@]}" > "$tmp/torch$i.json"
  rm -rf "$tmp/ref$i"
  if [ "$tuned" = 1 ]; then
    GLIBC_TUNABLES="glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824" \
      "${ref[@]}" --channels-last > "$tmp/tuned$i.json"
    rm -rf "$tmp/ref$i"
  fi
done
python - "$tmp" "$runs" "$tuned" <<'PY'
import json, statistics, sys
tmp, runs, tuned = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
first = json.load(open(f"{tmp}/torch1.json"))
n = first["images"][0]
names = [f"proxies (2 x {n // 2} images x {first['proxy_epochs']} epochs, {first['arch']})", f"hardness ({n} inferences)", "optimisation (4 runs)", "release + key", "total (wall)"]
rows = {name: ([], [], []) for name in names}
peaks = ([], [], [])
for i in range(1, runs + 1):
    rust = json.load(open(f"{tmp}/rust{i}.json"))
    refs = [json.load(open(f"{tmp}/{side}{i}.json")) for side in (("torch", "tuned") if tuned else ("torch", "torch"))]
    st = {s["name"]: s["seconds"] for s in rust["stages"]}
    ours = [st["proxies"], st["hardness"], st["optimisation"], st["release"] + st["key"], float(open(f"{tmp}/wall{i}").read())]
    for name, a, *b in zip(names, ours, *[[r["seconds"][k] for k in ("proxies", "hardness", "optimisation", "release+key", "total")] for r in refs]):
        for col, v in zip(rows[name], [a, *b]):
            col.append(v)
    peaks[0].append(max(s["peak_mib"] for s in rust["stages"]))
    for col, r in zip(peaks[1:], refs):
        col.append(r["peak_mib"])
    torch_version = refs[0]["torch"]
med = statistics.median
span = lambda v: f"{med(v):.1f} s" + (f" ({min(v):.1f}-{max(v):.1f})" if len(v) > 1 else "")
extra = lambda text: text if tuned else ""
print(f"| stage (median of {runs}) | honeyimage | PyTorch {torch_version} | ratio |" + extra(" PyTorch, channels-last + malloc settings | ratio |"))
print("|---|---:|---:|---:|" + extra("---:|---:|"))
for name, (hon, pt, tn) in rows.items():
    print(f"| {name} | {span(hon)} | {span(pt)} | {med(pt) / med(hon):.2f}x |" + extra(f" {span(tn)} | {med(tn) / med(hon):.2f}x |"))
print(f"| peak RSS | {max(peaks[0]):.0f} MiB | {max(peaks[1])} MiB | |" + extra(f" {max(peaks[2])} MiB | |"))
PY
