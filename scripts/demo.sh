#!/usr/bin/env bash
# The main job on real data (Debian's Fashion-MNIST, full 60k training set):
# protect it with HoneyImages. Outputs go to runs/demo/ (override with
# HONEYIMAGE_DEMO_DIR); a rerun resumes or reuses what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
dir="${HONEYIMAGE_DEMO_DIR:-runs/demo}"
bin=target/release/honeyimage
data=/usr/share/datasets/fashion-mnist
mkdir -p "$dir"
$bin inspect --data "$data"
if [ ! -f "$dir/fmnist.key" ]; then
  $bin protect --data "$data" --out "$dir/release" --key "$dir/fmnist.key" --work "$dir/protect.work"
else
  echo "demo: $dir/fmnist.key exists; protection already done (delete $dir to redo)"
fi
