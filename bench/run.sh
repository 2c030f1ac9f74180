#!/bin/sh
# make bench: every benchmark, side by side in one run on this machine.
# Figures are ratios measured here and now; bench/README.md explains them
# and keeps the last ones measured.
set -e
: "${FLOR_BUILD:?set FLOR_BUILD (make bench does)}"
REPO=$(cd "$(dirname "$0")/.." && pwd)
export FLOR_QUIET=1
PATH="$FLOR_BUILD:$FLOR_BUILD/examples:$PATH"
work=$(mktemp -d "${TMPDIR:-/tmp}/flor-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l; }
ratio() { echo "scale=3; $1 / $2" | bc -l; }

echo "== logging: flor_log, the writer, the pivot"
"$FLOR_BUILD/bench/bench_log"

echo
echo "== checkpoints"
"$FLOR_BUILD/bench/bench_ckpt" ${FLOR_BENCH_BIG:+--big}

echo
echo "== code snapshots (10,000-file repository)"
"$FLOR_BUILD/bench/bench_git"

if [ -x "$FLOR_BUILD/bench/bench_store" ]; then
    echo
    echo "== the chunk store"
    "$FLOR_BUILD/bench/bench_store"
fi

echo
echo "== flor fsck vs cat of the same bytes (goal: at most 2)"
sh "$REPO/bench/bench_fsck.sh"

echo
echo "== flor serve: page request to curves drawn, headless Chromium (docs/serve.md)"
sh "$REPO/bench/bench_serve.sh"

echo
echo "== the example (examples/linear.c), flor on vs FLOR_MODE=off"
ARGS="epochs=2 ntrain=30000"
mkdir -p "$work/example" && cd "$work/example" && git init -q
on_total=0; off_total=0
for rep in 1 2 3; do
    t0=$(now); FLOR_MODE=off linear --kwargs $ARGS >/dev/null; t1=$(now)
    linear --kwargs $ARGS >/dev/null; t2=$(now)
    off_total=$(echo "$off_total + $(secs $t0 $t1)" | bc -l)
    on_total=$(echo "$on_total + $(secs $t1 $t2)" | bc -l)
done
echo "3 runs each, interleaved: on $(printf %.2f $on_total) s, off $(printf %.2f $off_total) s," \
     "ratio $(ratio $on_total $off_total)"
flor query "SELECT count(*) AS checkpoints, round(avg(stall_s) * 1000, 2) AS stall_ms,
            round(1.0 * sum(stored_bytes) / sum(logical_bytes), 3) AS stored_ratio
            FROM checkpoints" --format csv

echo
echo "== hindsight logging: replay vs retraining with the new statement"
LIBS="$FLOR_BUILD/libflor.a $(pkg-config --libs sqlite3 libgit2 libzstd libxxhash libcurl libpq) -lpthread -lm -lz"
sed 's|^        double t1 = now();|        { double s2 = 0; for (size_t k = 0; k < st.nparams; k++) s2 += (double)st.params[k] * st.params[k]; flor_log("weight_norm", sqrt(s2)); }\
        double t1 = now();|' "$REPO/examples/linear.c" >"$work/linear.c"
cc -std=c11 -D_GNU_SOURCE -O3 -fno-math-errno -I"$REPO/include" "$work/linear.c" -o "$work/linear" $LIBS
mkdir -p "$work/replay" && cd "$work/replay" && git init -q
RARGS="epochs=5 ntrain=60000 hidden=500"
linear --kwargs $RARGS >/dev/null
cp "$work/linear" ./linear
t0=$(now); FLOR_MODE=off ./linear --kwargs $RARGS >/dev/null; t1=$(now)
./linear --replay_flor >/dev/null; t2=$(now)
echo "5 epochs, full data: retraining $(printf %.2f $(secs $t0 $t1)) s," \
     "replay $(printf %.2f $(secs $t1 $t2)) s, speedup $(ratio $(secs $t0 $t1) $(secs $t1 $t2))x"
t3=$(now); ./linear --replay_flor --probe step >/dev/null; t4=$(now)
echo "probed replay (step loop runs): $(printf %.2f $(secs $t3 $t4)) s"
t5=$(now); flor replay -j 1 --probe step -- ./linear >/dev/null 2>&1; t6=$(now)
flor replay -j 2 --probe step -- ./linear >/dev/null 2>&1; t7=$(now)
echo "probed replay by the launcher: -j 1 $(printf %.2f $(secs $t5 $t6)) s, -j 2" \
     "$(printf %.2f $(secs $t6 $t7)) s, speedup $(ratio $(secs $t5 $t6) $(secs $t6 $t7))x"

echo
echo "== hindsight logging across code versions: flor replay NAME -j 2 vs retraining"
# Three versions of the example (the original, a learning-rate schedule,
# a renamed helper), one run each, 3 epochs on the full data; then a
# statement added to the newest.  flor replay carries it into each
# version, builds and replays; the baseline retrains the three edited
# versions from scratch, also two at a time (builds not counted).
mkdir -p "$work/versions" && cd "$work/versions" && git init -q
git config user.email bench@flor.invalid && git config user.name bench
printf 'linear: linear.c\n\tcc -std=c11 -D_GNU_SOURCE -O3 -fno-math-errno -I%s linear.c -o linear %s\n' \
    "$REPO/include" "$LIBS" >Makefile
echo linear >.gitignore
cp "$REPO/examples/linear.c" linear.c
git add . && git commit -qm v1
VARGS="epochs=3"
make -s && ./linear --kwargs $VARGS >/dev/null && cp linear.c "$work/v1.c"
sed -i 's|double loss = train_step(&st, &s, bsz, lr);|double loss = train_step(\&st, \&s, bsz, lr / (1.0 + 0.5 * (double)epoch));|' linear.c
make -s && ./linear --kwargs $VARGS >/dev/null && cp linear.c "$work/v2.c"
sed -i 's/\bevaluate(/test_accuracy(/g' linear.c
make -s && ./linear --kwargs $VARGS >/dev/null && cp linear.c "$work/v3.c"
norm='        { double s2 = 0; for (size_t k = 0; k < st.nparams; k++) s2 += (double)st.params[k] * st.params[k]; flor_log("weight_norm", sqrt(s2)); }'
for v in 1 2 3; do
    mkdir -p "$work/retrain$v" && sed "s|^        double t1 = now();|$norm\n&|" "$work/v$v.c" >"$work/retrain$v/linear.c"
    (cd "$work/retrain$v" && cc -std=c11 -D_GNU_SOURCE -O3 -fno-math-errno -I"$REPO/include" linear.c -o linear $LIBS)
done
sed -i "s|^        double t1 = now();|$norm\n&|" linear.c
t0=$(now)
printf '%s\n' 1 2 3 | xargs -P 2 -I V sh -c "cd '$work/retrain'V && FLOR_MODE=off ./linear --kwargs $VARGS >/dev/null"
t1=$(now)
flor replay weight_norm -j 2 --build make >/dev/null 2>&1
t2=$(now)
echo "3 versions x 3 epochs, full data, 2 at a time: retraining $(printf %.2f $(secs $t0 $t1)) s," \
     "flor replay (with 3 builds) $(printf %.2f $(secs $t1 $t2)) s, speedup $(ratio $(secs $t0 $t1) $(secs $t1 $t2))x"
flor dataframe weight_norm --format csv | tail -n +2 | wc -l | sed 's/^/weight_norm values filled in: /'

echo
echo "== the flat-loop example (examples/steps.c): on vs off, replay at a period"
sh "$REPO/bench/bench_steps.sh"
sh "$REPO/bench/bench_remote.sh"

echo
echo "== the team's database (PostgreSQL): rows/s, eight writers, recording on ÷ off"
sh "$REPO/bench/bench_team.sh"

echo
echo "== reading the team's runs from PostgreSQL: 1,000 runs x 100 epochs x 10 metrics"
(cd "$REPO" && "$FLOR_BUILD/bench/bench_team_read")
