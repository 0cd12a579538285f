#!/usr/bin/env bash
# Prints the SHA-256 of the key body (without its random commitment nonce)
# and of every release file that a small,
# fixed `honeyimage protect` run writes (3000 Fashion-MNIST training images,
# N = 20, 2 proxy epochs, T = 6, one libtorch thread). A refactoring that
# must not change results is checked by running this before and after it
# on the same machine: the hashes must be equal. (Float results can differ
# between CPU models, so the hashes are recorded per machine, not in a test.)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
export OMP_NUM_THREADS=1 HONEYIMAGE_DEVICE=cpu
dir="${1:-/tmp/honeyimage-fingerprint}"
rm -rf "$dir"; mkdir -p "$dir/data"
python3 - "$dir/data" <<'PY'
import gzip, sys, os
src = "/usr/share/datasets/fashion-mnist"
out = sys.argv[1]
def sub(name, count, header, item):
    raw = gzip.open(f"{src}/{name}.gz").read()
    body = raw[header:header + count * item]
    hdr = bytearray(raw[:header]); hdr[4:8] = count.to_bytes(4, "big")
    open(os.path.join(out, name), "wb").write(bytes(hdr) + body)
sub("train-images-idx3-ubyte", 3000, 16, 784); sub("train-labels-idx1-ubyte", 3000, 8, 1)
sub("t10k-images-idx3-ubyte", 500, 16, 784); sub("t10k-labels-idx1-ubyte", 500, 8, 1)
PY
"${HONEYIMAGE_BIN:-./target/release/honeyimage}" protect --data "$dir/data" --out "$dir/release" --key "$dir/key.json" \
  --count 20 --proxy-epochs 2 --steps 6 --seed 7 >/dev/null 2>"$dir/protect.log"
cd "$dir"
python3 - <<'PY2'
import hashlib, json
body = json.loads(open("key.json", "rb").read().split(b"\n", 1)[1])
body.pop("commitment_nonce", None)
body["dataset"].pop("source", None)
print(hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest() + "  key.json (body without nonce and source path)")
PY2
sha256sum release/*
