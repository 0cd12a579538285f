#!/usr/bin/env bash
# Issue #12's goal regime: the full 60k Fashion-MNIST training set as the
# private set, N = 100, three keys (seeds 0-2), and suspects of three
# architectures (ResNet-18, VGG-11 with BN, a small CNN; PyTorch, not
# honeyimage's code) trained with random crop (padding 4) + flip to
# realistic test accuracy. Compares, paired by key, architecture and seed:
#   honey  the default protection (sign PGD),
#   plain  the same candidates released unperturbed (`protect --no-perturb`),
#   eot    PGD with expectation over crops and flips (`protect --eot 4`),
# and clean models (every key's candidates removed) against every key, with
# the raw and the calibrated exact test.
#
# usage: scripts/regime_experiment.sh OUT STAGE [ARGS]
#   protect            the nine releases and keys (about 40 min on 2 cores)
#   prepare            OUT/device: what the suspects' trainer needs (31 MB)
#   suspects [ARGS]    train the suspects here (ARGS go to regime_suspects.py;
#                      with a GPU: --device cuda; on CPU: days at full size),
#                      or copy the w*.jsonl of a run elsewhere into OUT/suspects
#   verify             OUT/results.tsv and the summary (honeyimage verify --answers)
# Every stage resumes: what exists is kept. REGIME_COUNT=N protects with
# N marks instead of 100 (use a fresh OUT per N). REGIME_RELEASES="honey-k0
# plain-k0 ..." keeps only those releases (default: all nine);
# REGIME_ARCHS=smallcnn and REGIME_CLEAN_SEEDS=1 shrink `prepare`'s job list
# (a CPU-sized run).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
out="$1" stage="$2"; shift 2
bin="${HONEYIMAGE_BIN:-target/release/honeyimage}"
data=/usr/share/datasets/fashion-mnist
read -r -a releases <<< "${REGIME_RELEASES:-honey-k0 plain-k0 honey-k1 plain-k1 honey-k2 plain-k2 eot-k0 eot-k1 eot-k2}"
late=(); for r in "${releases[@]}"; do if [[ $r == eot-* ]]; then late+=("$r"); fi; done
py="${HONEYIMAGE_TORCH_VENV}/bin/python"
case "$stage" in
  protect)
    for spec in "${releases[@]}"; do
      kind=${spec%-k*} k=${spec##*-k} extra=()
      case $kind in plain) extra=(--no-perturb);; eot) extra=(--eot 4);; esac
      [ -f "$out/$spec/key.hkey" ] && continue
      mkdir -p "$out/$spec"
      "$bin" --quiet protect --data "$data" --out "$out/$spec/release" --key "$out/$spec/key.hkey" \
        --work "$out/$spec/work" --seed "$k" --count "${REGIME_COUNT:-100}" --json "${extra[@]}" > "$out/$spec/protect.json.tmp"
      mv "$out/$spec/protect.json.tmp" "$out/$spec/protect.json"
    done;;
  prepare)
    specs=(); for r in "${releases[@]}"; do specs+=("$r=$out/$r/key.hkey:$out/$r/release"); done
    extra=(--late "$(IFS=,; echo "${late[*]}")")
    if [ -n "${REGIME_ARCHS:-}" ]; then extra+=(--archs "$REGIME_ARCHS"); fi
    if [ -n "${REGIME_CLEAN_SEEDS:-}" ]; then extra+=(--clean-seeds "$REGIME_CLEAN_SEEDS"); fi
    "$py" scripts/regime_prepare.py "$out/device" "$data" "${specs[@]}" "${extra[@]}";;
  suspects)
    "$py" scripts/regime_suspects.py "$out/device" "$out/suspects" "$@";;
  verify)
    specs=(); for r in "${releases[@]}"; do specs+=("$r=$out/$r/key.hkey"); done
    "$py" scripts/regime_verify.py "$out" "$out/device" "$out/suspects" "${specs[@]}" --bin "$bin" --reference plain;;
  *) echo "unknown stage $stage (protect, prepare, suspects, verify)" >&2; exit 2;;
esac
