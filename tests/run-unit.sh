#!/bin/sh
# Runs the unit-test binaries given as arguments; prints the combined summary.
passed=0; failed=0; status=0
for t in "$@"; do
    out=$("$t" 2>&1) || status=1
    printf '%s\n' "$out" | grep -v '^[0-9]* passed, [0-9]* failed$'
    line=$(printf '%s\n' "$out" | grep '^[0-9]* passed, [0-9]* failed$' | tail -n 1)
    if [ -z "$line" ]; then
        echo "FAIL $(basename "$t"): no summary line (crashed?)"
        failed=$((failed + 1)); status=1; continue
    fi
    passed=$((passed + $(echo "$line" | cut -d' ' -f1)))
    failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
done
echo "unit: $passed passed, $failed failed"
exit $status
