#!/bin/sh
# The whole suite: unit tests (arguments), the CLI and end-to-end scripts
# (and some of them again over a team database: cli/team-suite.sh), then
# the Python module's pytest suite when FLOR_PYTEST holds the command that
# runs it (make test sets it, unless the module is not built); the last
# line is the total "N passed, N failed".
dir=$(cd "$(dirname "$0")" && pwd)
status=0
unit=$(sh "$dir/run-unit.sh" "$@" 2>&1) || status=1
printf '%s\n' "$unit"
cli=$(sh "$dir/cli/run.sh" 2>&1) || status=1
printf '%s\n' "$cli"
# the record, replay and dataframe suites again, over a team database
team=$(sh "$dir/cli/team-suite.sh" 2>&1) || status=1
printf '%s\n' "$team"
p=0; f=0
for line in "$(printf '%s\n' "$unit" | tail -n 1)" "$(printf '%s\n' "$cli" | tail -n 1)" \
            "$(printf '%s\n' "$team" | tail -n 1)"; do
    p=$((p + $(echo "$line" | sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed/\1/p')))
    f=$((f + $(echo "$line" | sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed/\2/p')))
done
if [ -n "${FLOR_PYTEST:-}" ]; then
    py=$(sh -c "$FLOR_PYTEST" 2>&1) || status=1
    printf '%s\n' "$py"
    # pytest's summary: "3 failed, 20 passed, 1 error in 41.2s", the last
    # such line (a warning printed at the interpreter's exit may follow it)
    last=$(printf '%s\n' "$py" | grep -E '(passed|failed|error).* in [0-9.]+s' | tail -n 1)
    count() { echo "$last" | grep -o "[0-9]* $1" | cut -d' ' -f1 | head -n 1; }
    pp=$(count passed); pf=$(count failed); pe=$(count error)
    if [ -z "$pp$pf$pe" ]; then
        echo "python: no pytest summary line"
        pf=1; status=1
    fi
    echo "python: ${pp:-0} passed, $((${pf:-0} + ${pe:-0})) failed"
    p=$((p + ${pp:-0})); f=$((f + ${pf:-0} + ${pe:-0}))
fi
echo "$p passed, $f failed"
exit $status
