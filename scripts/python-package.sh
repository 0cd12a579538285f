#!/usr/bin/env bash
# Builds the Python package's two wheels (maturin, abi3: CPython >= 3.9 on
# Linux x86-64) and installs them into the torch venv:
#   - honeyimage          keys, verify of any Python model, inspect (no libtorch);
#   - honeyimage-protect  the training engine of honeyimage.protect (links
#                         the libtorch of the venv's torch 2.13.0).
# Also installs what the Python tests need (pytest, nbclient, ipykernel).
# Incremental: cargo rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
py="$HONEYIMAGE_TORCH_VENV/bin/python"
if ! "$py" -c "import maturin, pytest, nbclient, nbformat, ipykernel" 2>/dev/null; then
  echo "python-package: installing maturin, pytest, nbclient, ipykernel into $HONEYIMAGE_TORCH_VENV"
  "$py" -m pip install -q --disable-pip-version-check "maturin==1.16.0" "pytest==8.4.2" "nbclient==0.11.0" "nbformat==5.11.1" "ipykernel==7.4.0"
fi
wheels=target/wheels
for crate in honeyimage-py honeyimage-py-protect; do
  (cd "crates/$crate" && "$HONEYIMAGE_TORCH_VENV/bin/maturin" build --release --auditwheel skip -o "../../$wheels" >/dev/null)
done
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
"$py" -m pip install -q --disable-pip-version-check --no-deps --force-reinstall \
  "$wheels/honeyimage-$version-cp39-abi3-linux_x86_64.whl" \
  "$wheels/honeyimage_protect-$version-cp39-abi3-linux_x86_64.whl"
echo "python-package: honeyimage $version installed in $HONEYIMAGE_TORCH_VENV"
