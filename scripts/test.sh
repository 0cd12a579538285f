#!/usr/bin/env bash
# Runs the whole test suite (release profile, reusing setup.sh's build).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
# cargo runs one test per core; one libtorch thread per test keeps the cores
# busy without oversubscription (two spinning OpenMP threads per test on two
# cores made training several times slower; see BENCHMARKS.md).
export OMP_NUM_THREADS="${HONEYIMAGE_TEST_THREADS:-1}"
cargo test --release --workspace "$@"
