#!/bin/sh
# Runs every tests/cli/t*.sh (or the scripts named: t0100-dataframe.sh ...)
# and prints the combined "LABEL: N passed, N failed" (LABEL: FLOR_TEST_LABEL,
# else cli).
dir=$(cd "$(dirname "$0")" && pwd)
passed=0; failed=0; status=0
[ $# -gt 0 ] || set -- "$dir"/t[0-9]*.sh
for t in "$@"; do
    case "$t" in /*) ;; *) t="$dir/$t" ;; esac
    out=$(sh "$t" 2>&1) || status=1
    printf '%s\n' "$out" | grep -v '^[0-9]* passed, [0-9]* failed$'
    line=$(printf '%s\n' "$out" | grep '^[0-9]* passed, [0-9]* failed$' | tail -n 1)
    if [ -z "$line" ]; then
        echo "FAIL $(basename "$t"): no summary line (crashed?)"
        failed=$((failed + 1)); status=1; continue
    fi
    passed=$((passed + $(echo "$line" | cut -d' ' -f1)))
    failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
done
echo "${FLOR_TEST_LABEL:-cli}: $passed passed, $failed failed"
exit $status
