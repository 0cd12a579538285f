#!/usr/bin/env bash
# Does the calibrated test (`verify --calibrate`: each image's suspect loss
# minus the key's proxy loss on it) flag more infringers who augment than
# the raw-loss test, without flagging clean models?
#
# usage: scripts/calibration_experiment.sh OUT NAME=RUN:METHOD...
# e.g.   scripts/calibration_experiment.sh runs/calib \
#          sign0=runs/power/points/count-100:honeyimage hard0=runs/power/points/count-100:hard-unperturbed
# For each NAME, trains small-CNN suspects with random crop (padding 2) +
# flip for 15 epochs, seeds 0-2, on RUN/METHOD/release, as eval's augment
# attack does, and clean ones on the first RUN's disjoint data; verifies
# each infringing suspect with its own key and each clean one with every
# key, with and without --calibrate. One libtorch thread; models are kept,
# so a rerun only verifies. One TSV line per (suspect, key, mode) in
# OUT/results.tsv.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
out="$1"; shift
bin="${HONEYIMAGE_BIN:-target/release/honeyimage}"
mkdir -p "$out/models"
declare -A release key
names=()
for spec in "$@"; do
  name="${spec%%=*}" rest="${spec#*=}"
  run="${rest%:*}" method="${rest##*:}"
  release[$name]="$run/$method/release" key[$name]="$run/$method/key.hkey"
  names+=("$name")
  [ -n "${disjoint:-}" ] || disjoint="$run/data/disjoint"
done
train() { # DATA OUT SEED
  [ -d "$2" ] || "$bin" --quiet train --data "$1" --arch small-cnn --epochs 15 \
      --crop-padding 2 --flip --seed "$3" --test-limit 2000 --out "$2" > /dev/null
}
judge() { # SUSPECT_DATA SEED KEYNAME MODEL
  for mode in raw calibrated; do
    extra=(); [ "$mode" = raw ] || extra=(--calibrate)
    "$bin" --quiet verify --key "${key[$3]}" --model "$4" --json "${extra[@]}" > "$out/v.json" || [ $? = 1 ]
    python3 -c "import json; d=json.load(open('$out/v.json')); print('\t'.join(map(str,['$1',$2,'$3','$mode',d['p_value'],d['mean_loss_released'],d['mean_loss_withheld']])))" >> "$tsv.tmp"
  done
}
tsv="$out/results.tsv"
echo -e "suspect_data\tseed\tkey\tmode\tp_value\tmean_loss_R\tmean_loss_W" > "$tsv.tmp"
for s in 0 1 2; do
  for name in "${names[@]}"; do
    train "${release[$name]}" "$out/models/$name-s$s" "$s"
    judge "$name" "$s" "$name" "$out/models/$name-s$s"
  done
  train "$disjoint" "$out/models/clean-s$s" "$s"
  for name in "${names[@]}"; do judge clean "$s" "$name" "$out/models/clean-s$s"; done
done
mv "$tsv.tmp" "$tsv"
column -t "$tsv"
