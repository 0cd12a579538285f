#!/usr/bin/env bash
# Runs the whole test suite (release profile, reusing setup.sh's build).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
# cargo runs one test per core; one libtorch thread per test keeps the cores
# busy without oversubscription (two spinning OpenMP threads per test on two
# cores made training several times slower; see BENCHMARKS.md).
export OMP_NUM_THREADS="${HONEYIMAGE_TEST_THREADS:-1}"
# A real one-node Slurm for the tests of `honeyimage eval slurm` (stopped
# when the tests end); the test fails if it does not answer.
slurm_dir="${HONEYIMAGE_SLURM_DIR:-/tmp/honeyimage-slurm}"
./scripts/slurm-local.sh start "$slurm_dir" >/dev/null
trap './scripts/slurm-local.sh stop "$slurm_dir" >/dev/null' EXIT
source "$slurm_dir/env.sh"
export HONEYIMAGE_REQUIRE_SLURM=1
# The Python extension crates are tested through pytest below (cargo's
# harness would have to link libpython).
cargo test --release --workspace --exclude honeyimage-py --exclude honeyimage-py-protect "$@"
# The Python package, rebuilt from this checkout, against the release binary
# (its tests compare verdicts and releases with the CLI's).
cargo build --release -q -p honeyimage-cli
./scripts/python-package.sh
OMP_NUM_THREADS=2 "$HONEYIMAGE_TORCH_VENV/bin/python" -m pytest -q -p no:cacheprovider crates/honeyimage-py/tests
