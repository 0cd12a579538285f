#!/usr/bin/env bash
# Does test-time augmentation in verify (`verify --tta PAD`) recover the
# signal that random crop + flip training hides? (issue: the perturbation
# must earn its harm; RESULTS.md "Against infringers who augment".)
#
# usage: scripts/tta_experiment.sh RUN_PLAIN RUN_EOT OUT   (default:
#        runs/augmentation runs/augmentation-eot runs/tta)
# RUN_PLAIN and RUN_EOT are the eval runs of examples/augmentation.toml and
# examples/augmentation-eot.toml (their releases, keys and disjoint data).
# For each of three releases (HoneyImage with plain PGD, HoneyImage with
# EOT, hard samples unperturbed) and for the disjoint data (clean), trains
# small-CNN suspects with random crop (padding 2) + flip for 15 epochs,
# seeds 0-2, as eval's augment attack does, then verifies each with and
# without --tta 2. One libtorch thread; models are kept, so a rerun only
# verifies. Prints one TSV line per (suspect, key, mode) to OUT/results.tsv.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
plain="${1:-runs/augmentation}" eot="${2:-runs/augmentation-eot}" out="${3:-runs/tta}"
bin="${HONEYIMAGE_BIN:-target/release/honeyimage}"
mkdir -p "$out/models"
declare -A release=(
  [pgd]="$plain/honeyimage/release" [eot]="$eot/honeyimage/release"
  [hard]="$eot/hard-unperturbed/release" [clean]="$eot/data/disjoint")
declare -A key=([pgd]="$plain/honeyimage/key.hkey" [eot]="$eot/honeyimage/key.hkey" [hard]="$eot/hard-unperturbed/key.hkey")
tsv="$out/results.tsv"
echo -e "suspect_data\tseed\tkey\ttta\tp_value\tmean_loss_R\tmean_loss_W\tqueries" > "$tsv.tmp"
for data in pgd eot hard clean; do
  for s in 0 1 2; do
    m="$out/models/$data-s$s"
    [ -d "$m" ] || "$bin" --quiet train --data "${release[$data]}" --arch small-cnn --epochs 15 \
        --crop-padding 2 --flip --seed "$s" --test-limit 2000 --out "$m" > /dev/null
    # The infringing suspect is judged with its release's key; the clean
    # suspects with every key.
    keys=("$data"); [ "$data" = clean ] && keys=(pgd eot hard)
    for k in "${keys[@]}"; do
      for tta in none 2; do
        extra=(); [ "$tta" = none ] || extra=(--tta "$tta")
        "$bin" --quiet verify --key "${key[$k]}" --model "$m" --json "${extra[@]}" > "$out/v.json" || [ $? = 1 ]
        python3 -c "import json,sys; d=json.load(open('$out/v.json')); print('\t'.join(map(str,['$data',$s,'$k','$tta',d['p_value'],d['mean_loss_released'],d['mean_loss_withheld'],d['queries']])))" >> "$tsv.tmp"
      done
    done
  done
done
mv "$tsv.tmp" "$tsv"
column -t "$tsv"
