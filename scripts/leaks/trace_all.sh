#!/usr/bin/env bash
# Trace measurements for RESULTS.md ("Leak tracing"), called by
# scripts/leaks/experiment.sh: DIR BIN PYTHON. Every release and the
# original data are traced as they are, r1's release after every
# transformation of scripts/leaks/transform.py, every release after JPEG 75
# and a crop resized back, and the original data after the same (negative
# controls), and r1's release merged with the original data (W back in:
# the mark alone must carry the evidence). One JSON per case in DIR/trace; transformed copies are deleted
# once traced. Resumable: finished cases are skipped.
set -euo pipefail
dir=$1 bin=$2 py=$3
data=/usr/share/datasets/fashion-mnist
out="$dir/trace"
mkdir -p "$out"

run_trace() { # case-name found-data
  [ -f "$out/$1.json" ] && return 0
  set +e
  /usr/bin/time -f '%e s %M KiB' -o "$out/$1.time" "$bin" -q trace --keys "$dir/keys" --data "$2" --split train --json > "$out/$1.json.tmp"
  local code=$?
  set -e
  if [ $code -gt 1 ]; then echo "trace $1 failed ($code)" >&2; return 1; fi
  mv "$out/$1.json.tmp" "$out/$1.json"
}

transformed() { # case-name source spec seed
  [ -f "$out/$1.json" ] && return 0
  local tmp="$dir/found-$1"
  rm -rf "$tmp" "$tmp.tmp"
  "$py" scripts/leaks/transform.py "$2" "$tmp" "$3" "$4" > /dev/null
  run_trace "$1" "$tmp"
  rm -rf "$tmp"
}

for r in r1 r2 r3 r4 r5 r6 r7 r8; do run_trace "$r" "$dir/releases/$r"; done
run_trace original "$data"
[ -d "$dir/merged-r1-r2" ] && run_trace r1+r2 "$dir/merged-r1-r2"
# The leaker adds the public original back (W reappears as originals): the
# evidence must then come from the mark alone.
[ -d "$dir/merged-r1-original" ] || "$py" scripts/leaks/merge_idx.py "$dir/releases/r1" "$data" "$dir/merged-r1-original" > /dev/null
run_trace r1-with-original "$dir/merged-r1-original"
for spec in jpeg:90 jpeg:75 jpeg:50 resize:32:back blur:1; do
  transformed "r1-with-original-${spec//:/_}" "$dir/merged-r1-original" "$spec" 3
done
for spec in png webp bmp tiff jpeg:90 jpeg:75 jpeg:50 jpeg:30 jpeg:10 rgb jitter \
            resize:32 resize:32:back resize:224 resize:224:back resize:14:back \
            crop:1 crop:2 crop:1:back crop:2:back blur:0.5 blur:1 blur:1.5 noise:2 noise:4 noise:8; do
  transformed "r1-${spec//:/_}" "$dir/releases/r1" "$spec" 1
done
for spec in png jpeg:75 jpeg:50 crop:1:back resize:32:back resize:224:back blur:1 noise:4; do
  transformed "original-${spec//:/_}" "$data" "$spec" 99
done
seed=10
for r in r2 r3 r4 r5 r6 r7 r8; do
  for spec in jpeg:75 crop:1:back resize:32:back; do
    seed=$((seed + 1)); transformed "$r-${spec//:/_}" "$dir/releases/$r" "$spec" "$seed"
  done
done
"$py" scripts/leaks/summarise.py "$dir" > "$dir/summary.md"
echo "trace: $(ls "$out"/*.json | wc -l) cases; summary in $dir/summary.md"
