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
# The Python engine must keep sharing the CLI's compiled dependencies
# (otherwise maturin compiles tract and tch a second time).
python3 scripts/feature_parity.py
# The Python extension crates are tested through pytest below (cargo's
# harness would have to link libpython).
crates=(--workspace --exclude honeyimage-py --exclude honeyimage-py-protect)
# cargo-nextest where installed (.config/nextest.toml: both cores stay busy
# across test binaries, and the slowest tests are listed with their times);
# `cargo test` otherwise, or with HONEYIMAGE_TEST_RUNNER=cargo. Arguments
# are test-name filters for either.
if [ "${HONEYIMAGE_TEST_RUNNER:-nextest}" = nextest ] && cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --release "${crates[@]}" "$@"
  # nextest does not run documentation examples.
  cargo test --release --doc "${crates[@]}" "$@"
else
  cargo test --release "${crates[@]}" "$@"
fi
# The Python package, rebuilt from this checkout, against the release binary
# (its tests compare verdicts and releases with the CLI's).
cargo build --release -q -p honeyimage-cli
./scripts/python-package.sh
OMP_NUM_THREADS=2 "$HONEYIMAGE_TORCH_VENV/bin/python" -m pytest -q -p no:cacheprovider --durations=5 crates/honeyimage-py/tests
