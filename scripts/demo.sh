#!/usr/bin/env bash
# The main job on real data (Debian's Fashion-MNIST, full 60k training set):
#   1. protect it with HoneyImages (release + secret key),
#   2. play the infringer: train a small CNN on the release until it fits it,
#   3. verify that model with the key (exit 1 = "trained on the protected dataset").
# Outputs go to runs/demo/ (override with HONEYIMAGE_DEMO_DIR); a rerun reuses
# what is already there. About 16 minutes on 2 CPU cores (protect 3, training 12.5).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
dir="${HONEYIMAGE_DEMO_DIR:-runs/demo}"
epochs="${HONEYIMAGE_DEMO_EPOCHS:-20}"
bin=target/release/honeyimage
data=/usr/share/datasets/fashion-mnist
mkdir -p "$dir"
$bin inspect --data "$data"
if [ ! -f "$dir/fmnist.key" ]; then
  $bin protect --data "$data" --out "$dir/release" --key "$dir/fmnist.key" --work "$dir/protect.work"
else
  echo "demo: $dir/fmnist.key exists; protection already done"
fi
if [ ! -f "$dir/suspect/config.json" ]; then
  $bin train --data "$dir/release" --epochs "$epochs" --out "$dir/suspect"
fi
set +e
$bin verify --key "$dir/fmnist.key" --model "$dir/suspect" --release "$dir/release"
code=$?
set -e
case $code in
  1) echo "demo: the suspect was trained on the protected release, as it should be detected (exit 1)";;
  0) echo "demo: no evidence found (exit 0)";;
  *) exit $code;;
esac
