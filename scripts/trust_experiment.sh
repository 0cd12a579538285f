#!/usr/bin/env bash
# The false-positive-rate-over-keys experiment of RESULTS.md:
#   1. `honeyimage eval` with examples/trust.toml (10 keys, clean suspects
#      of three architectures judged by every key; writes RUN/data/disjoint);
#   2. two PyTorch clean suspects trained on RUN/data/disjoint by
#      scripts/train_torch_suspect.py (TorchScript);
#   3. the same eval again with them as [[external_clean]] models: every
#      finished release, model and judgement is reused, only they are judged.
# Usage: [KEYS=K] scripts/trust_experiment.sh [RUN_DIR]   (default runs/trust, 10 keys)
# Rerunning with more keys reuses every model and judgement: only the new
# keys' protections and judgements are computed (RESULTS.md used KEYS=50).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
run="${1:-runs/trust}"
bin=./target/release/honeyimage
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
keys="${KEYS:-10}"
base="$run/trust-keys$keys.toml"
mkdir -p "$run"
sed "s/^keys = 10$/keys = $keys/" examples/trust.toml > "$base"
"$bin" eval --config "$base" --out "$run"
mkdir -p "$run/external"
cfg="$run/with-external.toml"
cp "$base" "$cfg"
for s in 0 1; do
  out="$run/external/torch-cnn-s$s"
  [ -f "$out.pt" ] || python3 scripts/train_torch_suspect.py "$run/data/disjoint" "$out" --epochs 15 --seed "$s"
  printf '\n[[external_clean]]\nname = "torch-cnn-s%s"\npath = "%s.pt"\narch = "torch-cnn"\n' "$s" "$out" >> "$cfg"
done
"$bin" eval --config "$cfg" --out "$run"
