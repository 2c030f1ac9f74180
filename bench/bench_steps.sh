#!/bin/sh
# bench_steps.sh -- the flat-loop example (examples/steps.c, 5000 AdamW
# steps at its defaults) under flor.
#
# 1. flor on / FLOR_MODE=off with the adaptive policy choosing the
#    checkpointed steps (goal: at most 1.01): RUNS (3) interleaved pairs,
#    the median and range of the pair ratios.
# 2. Hindsight: a weight norm every 100 steps (a helper and the statement
#    `if (step % 100 == 0) flor_log(...)`), replayed in one process with
#    --replay_every 100, over the time of what it cannot skip (goal: at
#    most 1.2): restores x the time of one restore, plus the setup and the
#    evaluation after the loop (a run of 0 steps), plus the 50 steps it
#    needs at the record's time per step (a run without validations, less
#    the setup, over its steps).  The time of one restore comes from a
#    record with a checkpoint every 100 steps, where each needed step
#    follows a checkpoint, so its replay re-executes exactly the needed
#    steps and the rest of its time is restores.  The ratio is that of
#    the policy's record, whose replay also catches up from the
#    checkpoint before each needed step.  Then the same for a record at
#    the budget BUDGET2 (FLOR_OVERHEAD, default 0.05), which affords a
#    checkpoint every 100 steps or more often.
#
# Beside the wall times of the pairs, their CPU times (user + sys) on /
# off: on a machine shared with other work, what flor itself spends.  And
# the gaps between the checkpointed steps of the policy's record (even
# spacing: the smallest and largest gap).
#
#   FLOR_BUILD=build sh bench/bench_steps.sh [RUNS] [BUDGET2]
set -e
: "${FLOR_BUILD:?set FLOR_BUILD to the build directory}"
REPO=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-3}
BUDGET2=${2:-0.05}
export FLOR_QUIET=1
PATH="$FLOR_BUILD:$FLOR_BUILD/examples:$PATH"
work=$(mktemp -d "${TMPDIR:-/tmp}/flor-bench-steps.XXXXXX")
trap 'rm -rf "$work"' EXIT

now() { date +%s.%N; }
took() { # seconds "$@" takes, its stdout in $work/out, its CPU seconds in $work/cpu
    t0=$(now); /usr/bin/time -f "%U + %S" -o "$work/time" "$@" >"$work/out"; t1=$(now)
    echo "$(cat "$work/time")" | bc -l >"$work/cpu"
    echo "$t1 - $t0" | bc -l
}
calc() { echo "scale=6; $1" | bc -l; }
# "MEDIAN (MIN-MAX)" of the numbers in a file, 3 decimals
summary() {
    sort -g "$1" | awk '{ v[NR] = $1 } END {
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.3f (%.3f-%.3f)\n", m, v[1], v[NR] }'
}

LIBS="$FLOR_BUILD/libflor.a $(pkg-config --libs sqlite3 libgit2 libzstd libxxhash libcurl libpq) -lpthread -lm -lz"
sed -e 's|^int main(int argc, char \*\*argv)$|static double param_norm(const float *p, size_t count)\n{\n    double s = 0.0;\n    for (size_t i = 0; i < count; i++)\n        s += (double)p[i] * p[i];\n    return sqrt(s);\n}\n\n&|' \
    -e 's|^        flor_log("loss", loss);$|&\n        if (step % 100 == 0) flor_log("param_norm", param_norm(params, n.nparams));|' \
    "$REPO/examples/steps.c" >"$work/steps_h.c"
grep -q param_norm "$work/steps_h.c"
cc -std=c11 -D_GNU_SOURCE -O3 -fno-math-errno -I"$REPO/include" "$work/steps_h.c" -o "$work/steps_h" $LIBS

mkdir -p "$work/onoff" && cd "$work/onoff" && git init -q
: >"$work/ratios"
: >"$work/cpuratios"
for rep in $(seq "$RUNS"); do
    off=$(FLOR_MODE=off took steps)
    offcpu=$(cat "$work/cpu")
    on=$(took steps)
    oncpu=$(cat "$work/cpu")
    calc "$on / $off" >>"$work/ratios"
    calc "$oncpu / $offcpu" >>"$work/cpuratios"
    echo "pair $rep: on $(printf %.2f "$on") s ($(printf %.2f "$oncpu") s CPU)," \
         "off $(printf %.2f "$off") s ($(printf %.2f "$offcpu") s CPU)"
done
echo "flor on / off, the policy choosing the checkpoints, $RUNS interleaved pairs:" \
     "$(summary "$work/ratios"); CPU $(summary "$work/cpuratios")"
flor query "SELECT count(*) AS checkpoints, round(avg(stall_s) * 1000, 2) AS stall_ms
            FROM checkpoints WHERE run_id = 1" --format csv
# gaps between the checkpointed steps of run RUN: "smallest-largest"
gaps() {
    flor query "SELECT iteration FROM checkpoints WHERE run_id = $1 ORDER BY iteration" \
        --format csv | tail -n +2 | awk 'NR > 1 { g = $1 - p; if (NR == 2 || g < lo) lo = g
        if (g > hi) hi = g } { p = $1 } END { printf "%d-%d\n", lo, hi }'
}
echo "gaps between checkpointed steps: $(gaps 1)"

setup=$(FLOR_MODE=off took steps --kwargs steps=0)
noeval=$(FLOR_MODE=off took steps --kwargs eval_every=1000000)
step=$(calc "($noeval - $setup) / 5000")
echo "setup and final evaluation $(printf %.3f "$setup") s; one step" \
     "$(printf %.3f "$(calc "$step * 1000")") ms"

q1() { flor query "$1" --format csv | tail -n 1; }

# replay DIR [KWARGS [BUDGET]]: records a run in DIR (at FLOR_OVERHEAD=BUDGET), replays it with the statement
# every 100 steps; sets secs, restores and executed (steps re-executed).
replay() {
    mkdir -p "$work/$1" && cd "$work/$1" && git init -q
    env ${3:+FLOR_OVERHEAD=$3} steps ${2:+--kwargs $2} >/dev/null
    cp "$work/steps_h" steps
    t0=$(now); FLOR_QUIET=0 ./steps --replay_flor --replay_every 100 >out 2>err; t1=$(now)
    secs=$(calc "$t1 - $t0")
    restores=$(sed -n 's/.* \([0-9][0-9]*\) checkpoints restored.*/\1/p' err | tail -n 1)
    executed=$(grep -c " loss " out)
    grep -q " 0 divergences" err
    echo "$1: replay $(printf %.2f "$secs") s, $restores restores, $executed of 5000 steps run"
}
replay fixed every=100
restore=$(calc "($secs - $setup - $executed * $step) / $restores")
echo "one restore: $(printf %.2f "$(calc "$restore * 1000")") ms"
replay policy
echo "replay / (restores + setup + 50 needed steps), the policy's checkpoints:" \
     "$(printf %.3f "$(calc "$secs / ($restores * $restore + $setup + 50 * $step)")")"
echo "  $(q1 "SELECT count(*) FROM checkpoints") checkpoints, gaps $(gaps 1)"
replay "budget$BUDGET2" "" "$BUDGET2"
echo "replay / (restores + setup + 50 needed steps), the policy's checkpoints at" \
     "FLOR_OVERHEAD=$BUDGET2:" \
     "$(printf %.3f "$(calc "$secs / ($restores * $restore + $setup + 50 * $step)")")"
echo "  $(q1 "SELECT count(*) FROM checkpoints") checkpoints, gaps $(gaps 1)"
