#!/usr/bin/env bash
# Which hardness band gives the strongest verification? For each q in
# --skip-hardest, protect the same private data (a 5,000-image Fashion-MNIST
# subset, N = 50), train small-CNN suspects on the release to fit it
# (20 epochs, seeds $SEEDS, default "0 1"), and verify them. Prints one line per suspect.
# usage: scripts/band_experiment.sh PRIVATE_IDX_DIR OUT_DIR [q ...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
data="$1"; out="$2"; shift 2
qs=("${@:-0 0.02 0.05 0.1}")
bin=target/release/honeyimage
mkdir -p "$out"
for q in ${qs[@]}; do
  d="$out/q$q"
  if [ ! -f "$d/key" ]; then
    $bin -q protect --data "$data" --out "$d/release" --key "$d/key" --work "$d/work" --count 50 --skip-hardest "$q" --no-baseline > "$d.protect.json" --json
  fi
  for seed in ${SEEDS:-0 1}; do
    m="$d/suspect-s$seed"
    [ -f "$m/config.json" ] || $bin -q train --data "$d/release" --epochs 20 --seed "$seed" --out "$m" --test-limit 500 > /dev/null
    $bin verify --key "$d/key" --model "$m" --json --permutations 1000 \
      | python3 -c "import json,sys; v=json.load(sys.stdin); print('q=$q seed=$seed p=%.3e effect=%.3f lossR=%.3f lossW=%.3f top1R=%d top1W=%d' % (v['p_value'], v['effect_size'], v['mean_loss_released'], v['mean_loss_withheld'], v['label_only']['correct_released'], v['label_only']['correct_withheld']))" || true
  done
done
