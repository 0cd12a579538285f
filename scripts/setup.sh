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
#   - Slurm and munge (Debian): scripts/slurm-local.sh starts a one-node
#     cluster on which the tests run an evaluation as job arrays,
#   - nginx (Debian), MLServer and NVIDIA's tritonclient (PyPI, in the same
#     venv): the real model server, TLS proxy and client that the tests of
#     `verify --endpoint` against deployed models use (scripts/oip/),
#   - the release build of the `honeyimage` binary (target/release/honeyimage),
#   - the Python package (scripts/python-package.sh) in the same venv.
# Idempotent: every step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

need_apt=()
[ -d /usr/share/datasets/fashion-mnist ] || need_apt+=(dataset-fashion-mnist)
# Headless Chromium renders the evaluation report in the tests.
command -v chromium >/dev/null || need_apt+=(chromium)
# nginx puts TLS and a bearer token in front of MLServer in the tests of
# `verify`'s client protocols (scripts/oip/stack.py); it is not on PATH
# for non-root users on Debian, hence the second check.
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_apt+=(nginx-light)
# A real single-node Slurm (scripts/slurm-local.sh) runs the evaluation as
# job arrays in the tests of `honeyimage eval slurm`.
command -v sbatch >/dev/null || need_apt+=(slurm-wlm)
command -v munged >/dev/null || [ -x /usr/sbin/munged ] || need_apt+=(munge)
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
# The tests of `verify`'s client protocols (scripts/oip/): MLServer, a real
# Open Inference Protocol ("V2") server; NVIDIA's V2 client tritonclient,
# which must be able to query `honeyimage serve`; Pillow for the TorchServe
# stand-in. Pinned together: they move protobuf to 6.x (mlserver wants <7)
# and ml_dtypes to 0.5.4 (tritonclient), which torch and onnx accept; the
# check after it fails setup if torch or onnx were disturbed.
if ! "$HONEYIMAGE_TORCH_VENV/bin/python" -c "import mlserver, tritonclient.http, PIL, sys; sys.exit(mlserver.__version__ != '1.7.1' or PIL.__version__ != '13.0.0')" 2>/dev/null; then
  echo "setup: installing mlserver, tritonclient and pillow into $HONEYIMAGE_TORCH_VENV"
  "$HONEYIMAGE_TORCH_VENV/bin/pip" install -q --disable-pip-version-check \
    mlserver==1.7.1 "tritonclient[http]==2.73.0" pillow==13.0.0
  "$HONEYIMAGE_TORCH_VENV/bin/python" -c "import torch, onnx, numpy, mlserver, tritonclient.http, PIL, sys; sys.exit(torch.__version__.split('+')[0] != '$want_torch')" \
    || { echo "setup: torch $want_torch or its packages broken by the test servers' packages" >&2; exit 1; }
fi

echo "setup: building honeyimage (release)"
cargo build --release -q -p honeyimage-cli
# The Python package (honeyimage + its training engine honeyimage-protect),
# built with maturin and installed into the same venv.
./scripts/python-package.sh
echo "setup: done: target/release/honeyimage; Python package in $HONEYIMAGE_TORCH_VENV"
