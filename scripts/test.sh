#!/usr/bin/env bash
# Runs the whole test suite (release profile, reusing setup.sh's build).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo test --release --workspace "$@"
