#!/usr/bin/env bash
# Leak tracing on Fashion-MNIST (RESULTS.md, "Leak tracing"):
#   1. protect the full training set once for 8 recipients (N = 100 each),
#   2. train a suspect on each recipient's release, one on two merged
#      copies (r1 + r2) and a clean one on the original data,
#   3. verify --keys every suspect against all 8 keys (Holm-corrected),
#   4. trace every release (and the original data, and a transformed copy
#      of each) with no model at all, after each transformation
#      (scripts/leaks/transform.py).
# Resumable: every step skips what exists. Outputs in runs/leaks
# (override with HONEYIMAGE_LEAKS_DIR). Set OMP_NUM_THREADS to share cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/env.sh
dir="${HONEYIMAGE_LEAKS_DIR:-runs/leaks}"
bin="${HONEYIMAGE_BIN:-target/release/honeyimage}"
epochs="${HONEYIMAGE_LEAKS_EPOCHS:-8}"
data=/usr/share/datasets/fashion-mnist
py="${HONEYIMAGE_TORCH_VENV:-$HOME/.cache/honeyimage/torch-venv}/bin/python"
mkdir -p "$dir/models" "$dir/verify" "$dir/trace"
printf '# licensees of the Fashion-MNIST release\n' > "$dir/recipients.txt"
for i in 1 2 3 4 5 6 7 8; do echo "r$i" >> "$dir/recipients.txt"; done

if [ ! -f "$dir/keys/recipients.json" ]; then
  /usr/bin/time -v "$bin" protect --data "$data" --recipients "$dir/recipients.txt" \
    --out "$dir/releases" --key "$dir/keys" --work "$dir/protect.work" --json \
    > "$dir/protect.json" 2> "$dir/protect.log"
fi

train() { # name data seed
  if [ ! -f "$dir/models/$1/config.json" ]; then
    "$bin" train --data "$2" --epochs "$epochs" --seed "$3" --out "$dir/models/$1" --json > "$dir/models/$1.json" 2> "$dir/models/$1.log"
  fi
}
seed=0
for r in r1 r2 r3 r4 r5 r6 r7 r8; do
  seed=$((seed + 1)); train "$r" "$dir/releases/$r" "$seed"
done
[ -d "$dir/merged-r1-r2" ] || "$py" scripts/leaks/merge_idx.py "$dir/releases/r1" "$dir/releases/r2" "$dir/merged-r1-r2"
train r1+r2 "$dir/merged-r1-r2" 11
train clean "$data" 12

if "$bin" verify --help | grep -q -- '--keys'; then
  for m in r1 r2 r3 r4 r5 r6 r7 r8 r1+r2 clean; do
    [ -f "$dir/verify/$m.json" ] && continue
    set +e
    "$bin" verify --keys "$dir/keys" --model "$dir/models/$m" --json > "$dir/verify/$m.json.tmp"
    code=$?
    set -e
    [ $code -le 1 ] && mv "$dir/verify/$m.json.tmp" "$dir/verify/$m.json"
  done
fi

if "$bin" --help | grep -q '^  trace'; then
  bash scripts/leaks/trace_all.sh "$dir" "$bin" "$py"
fi
