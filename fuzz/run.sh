#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 600) under libFuzzer's memory limits, two at a time,
# and prints one summary line per target (executions, exec/s, corpus units, peak RSS, result).
# An input that makes a target pass 1 GiB of RSS, or one malloc over 1 GiB, is a finding
# (crash-*/oom-* files in fuzz/artifacts/<target>/).
#   cd fuzz && ./seed.sh && cargo +nightly fuzz build -s none && ./run.sh 600
set -uo pipefail
cd "$(dirname "$0")"
SECONDS_EACH=${1:-600}
BIN=target/x86_64-unknown-linux-gnu/release
mkdir -p logs
run() {
    local t=$1
    mkdir -p "artifacts/$t" "corpus/$t"
    "$BIN/$t" "corpus/$t" -max_total_time="$SECONDS_EACH" -rss_limit_mb=1024 -malloc_limit_mb=1024 \
        -timeout=30 -artifact_prefix="artifacts/$t/" -print_final_stats=1 > "logs/$t.log" 2>&1
    echo "$t exit $?"
}
run dicom_reader & run raster_reader & wait
run cli_params & run model_weights & wait
for t in dicom_reader raster_reader cli_params model_weights; do
    stat() { grep -E "^stat::$1:" "logs/$t.log" | tail -1 | awk '{print $2}'; }
    found=$(find "artifacts/$t" -type f | wc -l)
    echo "$t: $(stat number_of_executed_units) executions, $(stat average_exec_per_sec) exec/s," \
        "$(stat new_units_added) new units, peak RSS $(stat peak_rss_mb) MB, $found finding(s)"
done
