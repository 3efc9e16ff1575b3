#!/usr/bin/env bash
# Run every libFuzzer harness for SECONDS each (runtime_c/fuzz/README.md) and
# print one line per harness: executions, seconds, findings. Exits 1 on any
# finding (a crash, a sanitizer report, a broken invariant, a timeout); the
# input that caused it is kept in BUILD/fuzz/findings/.
#   fuzz/run.sh BUILD SECONDS
set -u
build=$1 seconds=$2
status=0
mkdir -p "$build/fuzz/findings"
for name in blob state store learn; do
    work="$build/fuzz/grown/$name"  # the corpus this run grows
    log="$build/fuzz/$name.log"
    mkdir -p "$work"
    "$build/fuzz/fuzz_$name" "$work" "$build/fuzz/corpus/$name" -max_total_time="$seconds" \
        -timeout=20 -rss_limit_mb=2560 -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="$build/fuzz/findings/$name-" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    if [ $rc -ne 0 ]; then
        echo "fuzz_$name: FINDING after ${execs:-?} executions (exit $rc), log $log:"
        grep -m 12 -E "ERROR|invariant|runtime error|SUMMARY|Test unit written" "$log" | sed 's/^/    /'
        status=1
    else
        echo "fuzz_$name: ${execs:-?} executions in ${seconds} s, 0 findings"
    fi
done
exit $status
