#!/usr/bin/env bash
# Run one fuzz target from its corpus (fuzz/corpus/<target>, grown by
# libFuzzer, git-ignored) and its tracked seeds (fuzz/seeds/<target>):
#   fuzz/run.sh <target> [max_seconds] [max_runs]
# Defaults: 600 s or 1,000,000 executions, whichever comes first. Output is
# kept in fuzz/logs/<target>.log; crashes land in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
t=${1:?target}
secs=${2:-600}
runs=${3:-1000000}
case $t in
  http_request|http_reply) max_len=16384 ;;
  *) max_len=65536 ;;
esac
mkdir -p "corpus/$t" logs
start=$(date +%s)
set +e
nice -n 10 cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" -- \
  -runs="$runs" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
  -max_len="$max_len" -print_final_stats=1 2>&1 | tee "logs/$t.log" | grep -vE '^#[0-9]+\s+(NEW|REDUCE|pulse)' 
rc=${PIPESTATUS[0]}
set -e
echo "wall_seconds=$(( $(date +%s) - start )) exit=$rc" | tee -a "logs/$t.log"
exit "$rc"
