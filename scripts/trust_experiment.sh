#!/usr/bin/env bash
# The false-positive-rate-over-keys experiment of RESULTS.md:
#   1. `honeyimage eval` with examples/trust.toml (10 keys, clean suspects
#      of three architectures judged by every key; writes RUN/data/disjoint);
#   2. two PyTorch clean suspects trained on RUN/data/disjoint by
#      scripts/train_torch_suspect.py (TorchScript);
#   3. the same eval again with them as [[external_clean]] models: every
#      finished release, model and judgement is reused, only they are judged.
# Usage: scripts/trust_experiment.sh [RUN_DIR]   (default runs/trust)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
run="${1:-runs/trust}"
bin=./target/release/honeyimage
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
"$bin" eval --config examples/trust.toml --out "$run"
mkdir -p "$run/external"
cfg="$run/with-external.toml"
cp examples/trust.toml "$cfg"
for s in 0 1; do
  out="$run/external/torch-cnn-s$s"
  [ -f "$out.pt" ] || python3 scripts/train_torch_suspect.py "$run/data/disjoint" "$out" --epochs 15 --seed "$s"
  printf '\n[[external_clean]]\nname = "torch-cnn-s%s"\npath = "%s.pt"\narch = "torch-cnn"\n' "$s" "$out" >> "$cfg"
done
"$bin" eval --config "$cfg" --out "$run"
