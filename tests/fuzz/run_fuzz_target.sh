#!/usr/bin/env bash
# Usage: run_fuzz_target.sh TARGET CORPUS RUNS [libFuzzer flags...]. Runs a libFuzzer target
# over its seed corpus and RUNS more inputs (-runs=-1 with -max_total_time for a timed run),
# new inputs going to a scratch folder so the checked-in corpus stays as it is; prints the
# target's speed. A crash leaves the input as crash-* in the current folder and fails.
set -euo pipefail
target=$1
corpus=$2
runs=$3
shift 3
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir "$scratch/found"
log=$scratch/log
rc=0
"$target" "$scratch/found" "$corpus" -runs="$runs" -seed=1 -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 "$@" \
  >"$log" 2>&1 || rc=$?
grep -E '^(Done|stat::number_of_executed_units|stat::average_exec_per_sec)|ERROR|SUMMARY' "$log" || true
if [ "$rc" -ne 0 ]; then
  tail -n 60 "$log"
  echo "FAIL: $(basename "$target") exited $rc"
  exit 1
fi
