#!/bin/sh
# Runs each libFuzzer target named on the command line (build-fuzz/T) from
# its committed seeds (tests/fuzz/corpus/T without the fuzz_ prefix) for
# FUZZ_TIME seconds, or for FUZZ_RUNS inputs when that is set.  What a run
# learns goes to build-fuzz/corpus/T (scratch, never committed); a crash,
# leak, sanitizer report, timeout or out-of-memory goes to
# build-fuzz/crashes/T/.  Prints one line per target and exits 1 naming
# every target that failed.
#
#   sh tests/fuzz/run.sh fuzz_codec fuzz_pack      (make fuzz runs them all)
cd "$(dirname "$0")/../.." || exit 2
: "${FUZZ_TIME:=30}"
failed=
printf '%-20s %12s %8s  %s\n' target executions corpus result
for t in "$@"; do
    name=${t#fuzz_}
    # Inputs larger than a target needs only slow it down.
    case $name in
    kwargs|replay_flag) max_len=512 ;;
    manifest) max_len=2048 ;;
    source) max_len=4096 ;;
    codec) max_len=16384 ;;
    idx) max_len=4096 ;;
    pack) max_len=16384 ;;
    db) max_len=65536 ;;
    *) max_len=4096 ;;
    esac
    crashes=build-fuzz/crashes/$name
    scratch=build-fuzz/corpus/$name
    mkdir -p "$crashes" "$scratch"
    if [ -n "${FUZZ_RUNS:-}" ]; then budget=-runs=$FUZZ_RUNS; else budget=-max_total_time=$FUZZ_TIME; fi
    log=build-fuzz/$name.log
    build-fuzz/$t "$budget" -max_len=$max_len -timeout=20 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$crashes/" "$scratch" tests/fuzz/corpus/$name \
        >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    units=$(ls "$scratch" | wc -l)
    if [ $rc -eq 0 ]; then
        result=ok
    else
        result="FAILED (exit $rc): $(grep -m1 -E 'ERROR|SUMMARY|check failed' "$log") -- see $log, $crashes/"
        failed="$failed $t"
    fi
    printf '%-20s %12s %8s  %s\n' "$t" "${execs:-?}" "$units" "$result"
done
if [ -n "$failed" ]; then
    echo "fuzz: failed:$failed"
    exit 1
fi
