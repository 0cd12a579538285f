#!/usr/bin/env bash
# Sets up everything honeyimage needs on a fresh Debian machine and builds it:
#   - Debian's Fashion-MNIST (the real dataset used by the examples and tests)
#     and Chromium (the tests render the HTML report headless),
#   - PyTorch 2.13.0 in a virtual environment kept OUTSIDE the checkout
#     ($HONEYIMAGE_TORCH_VENV, default ~/.cache/honeyimage/torch-venv) so that
#     clean clones reuse it instead of downloading 4.7 GB again; libtorch
#     inside it is what tch links against, and its Python is used by tests
#     that need a real PyTorch model (TorchScript, ONNX export) and by the
#     test that checks LPIPS against the official `lpips` package,
#   - the release build of the `honeyimage` binary (target/release/honeyimage).
# Idempotent: every step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

need_apt=()
[ -d /usr/share/datasets/fashion-mnist ] || need_apt+=(dataset-fashion-mnist)
# Headless Chromium renders the evaluation report in the tests.
command -v chromium >/dev/null || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

want_torch=2.13.0
if ! "$HONEYIMAGE_TORCH_VENV/bin/python" -c "import torch, numpy, onnx, sys; sys.exit(torch.__version__.split('+')[0] != '$want_torch')" 2>/dev/null; then
  echo "setup: installing torch==$want_torch into $HONEYIMAGE_TORCH_VENV (about 4.7 GB, once)"
  mkdir -p "$(dirname "$HONEYIMAGE_TORCH_VENV")"
  python3 -m venv "$HONEYIMAGE_TORCH_VENV"
  "$HONEYIMAGE_TORCH_VENV/bin/pip" install -q --disable-pip-version-check "torch==$want_torch" numpy onnx
fi
# The official LPIPS package (50 kB, its learned linear heads): the LPIPS
# test compares honeyimage's implementation with it. --no-deps: it would pull
# torchvision and scipy, which the comparison does not need.
if ! "$HONEYIMAGE_TORCH_VENV/bin/python" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('lpips') is None)" 2>/dev/null; then
  "$HONEYIMAGE_TORCH_VENV/bin/pip" install -q --disable-pip-version-check --no-deps lpips==0.1.4
fi

echo "setup: building honeyimage (release)"
cargo build --release -q -p honeyimage-cli
echo "setup: done: target/release/honeyimage"
