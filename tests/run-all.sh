#!/bin/sh
# The whole suite: unit tests (arguments), then the CLI and end-to-end
# scripts; the last line is the total "N passed, N failed".
dir=$(cd "$(dirname "$0")" && pwd)
status=0
unit=$(sh "$dir/run-unit.sh" "$@" 2>&1) || status=1
printf '%s\n' "$unit"
cli=$(sh "$dir/cli/run.sh" 2>&1) || status=1
printf '%s\n' "$cli"
p=0; f=0
for line in "$(printf '%s\n' "$unit" | tail -n 1)" "$(printf '%s\n' "$cli" | tail -n 1)"; do
    p=$((p + $(echo "$line" | sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed/\1/p')))
    f=$((f + $(echo "$line" | sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed/\2/p')))
done
echo "$p passed, $f failed"
exit $status
