#!/bin/sh
# bench_team.sh -- the team's database, against the real PostgreSQL of the
# tests (tests/pg/server.sh: PostgreSQL 15 on 127.0.0.1, the same machine):
#
# 1. Rows persisted per second: a program that only logs (tests/progs/
#    metrics.c: 1,000 epochs x 100 steps x 10 values, 1,000,001 logs and
#    101,000 loop rows) recorded into the local SQLite journal (its wall
#    time: the writer persisting while the program logs), then the same
#    rows copied to PostgreSQL by `flor team sync`; the ratio of the two
#    rates (goal: at least 0.5).
# 2. Eight writers at once: eight checkouts holding that journal, each
#    `flor team sync` at the same time, rows per second in aggregate (goal:
#    1 M rows/s, or what bounds it).
# 3. Recording with a team database ÷ without: the example (examples/
#    linear.c) with FLOR_TEAM_DB set and with FLOR_TEAM_DB= (goal: at most
#    1.01).
#
# Ratios are measured RUNS (3) times (the recording ratio RUNS + 2 times,
# as its runs are short), sides interleaved; medians and ranges.
#
#   FLOR_BUILD=build sh bench/bench_team.sh [RUNS]
set -e
: "${FLOR_BUILD:?set FLOR_BUILD to the build directory}"
REPO=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-3}
export FLOR_QUIET=1
PATH="$FLOR_BUILD:$FLOR_BUILD/examples:$FLOR_BUILD/progs:$PATH"
work=$(mktemp -d "${TMPDIR:-/tmp}/flor-bench-team.XXXXXX")
pgdir=$(mktemp -d /tmp/flor-bench-pg.XXXXXX)
trap 'sh "$REPO/tests/pg/server.sh" stop "$pgdir" >/dev/null 2>&1; rm -rf "$work" "$pgdir"' EXIT

. "$REPO/bench/lib.sh"

if ! sh "$REPO/tests/pg/server.sh" start "$pgdir" >"$work/server.out" 2>&1; then
    echo "team: skipped, the PostgreSQL test server did not start:"; tail -n 5 "$work/server.out"
    exit 0
fi
eval "$(sh "$REPO/tests/pg/server.sh" env "$pgdir")"
export PGPASSWORD="$FLOR_TEST_PG_PASSWORD"
base="postgresql://flor_test@127.0.0.1:$FLOR_TEST_PG_PORT/flor_test"
# schema NAME: the URL of a fresh schema NAME
schema() {
    echo "DROP SCHEMA IF EXISTS $1 CASCADE; CREATE SCHEMA $1 AUTHORIZATION flor_test;" |
        sh "$REPO/tests/pg/server.sh" sql "$pgdir" >/dev/null 2>&1
    echo "$base?options=-csearch_path%3D$1"
}

# ---- 1. one writer --------------------------------------------------------------
ARGS="epochs=1000 steps=100 metrics=10"
: >"$work/rows.ratios"
for i in $(seq "$RUNS"); do
    rm -rf "$work/one" && mkdir -p "$work/one" && cd "$work/one" && git init -q
    ts=$(FLOR_TEAM_DB= took metrics --kwargs $ARGS)
    rows=$(sqlite3 .flor/flor.db "SELECT (SELECT count(*) FROM logs) + (SELECT count(*) FROM loops)")
    url=$(schema one$i)
    tp=$(FLOR_TEAM_DB="$url" took flor team sync)
    there=$(psql -qXAt "$url" -c "SELECT (SELECT count(*) FROM flor_logs) + (SELECT count(*) FROM flor_loops)")
    [ "$there" = "$rows" ] || { echo "team: $there rows on the server, $rows in the journal"; exit 1; }
    echo "  round $i: $rows rows, SQLite $(calc "$rows / $ts / 1000" | cut -d. -f1)k rows/s," \
         "PostgreSQL $(calc "$rows / $tp / 1000" | cut -d. -f1)k rows/s"
    calc "$ts / $tp" >>"$work/rows.ratios"
done
echo "rows persisted, PostgreSQL ÷ SQLite (goal >= 0.5): $(summary "$work/rows.ratios")"

# ---- 2. eight writers -------------------------------------------------------------
url=$(schema eight)
for k in 1 2 3 4 5 6 7 8; do
    cp -r "$work/one" "$work/w$k" && (cd "$work/w$k" && FLOR_TEAM_DB="$url" flor team new-id)
done
t0=$(now)
for k in 1 2 3 4 5 6 7 8; do
    (cd "$work/w$k" && FLOR_TEAM_DB="$url" flor team sync >/dev/null) &
done
wait
t1=$(now)
there=$(psql -qXAt "$url" -c "SELECT (SELECT count(*) FROM flor_logs) + (SELECT count(*) FROM flor_loops)")
[ "$there" = "$((8 * rows))" ] || { echo "team: $there rows on the server, expected $((8 * rows))"; exit 1; }
echo "8 writers at once, in aggregate: $(calc "$there / ($t1 - $t0) / 1000" | cut -d. -f1)k rows/s" \
     "($there rows in $(printf %.2f "$(calc "$t1 - $t0")") s; $(nproc) cores for the writers and the server)"

# ---- 3. recording with a team database ÷ without --------------------------------------
EX="epochs=6 ntrain=20000 ntest=2000 hidden=128 print_every=50"
rm -rf "$work/ex" && mkdir -p "$work/ex" && cd "$work/ex" && git init -q
url=$(schema ex)
: >"$work/rec.ratios"
for i in $(seq $((RUNS + 2))); do
    toff=$(FLOR_TEAM_DB= took linear --kwargs $EX)
    ton=$(FLOR_TEAM_DB="$url" took linear --kwargs $EX)
    echo "  round $i: without $(printf %.2f "$toff") s, with $(printf %.2f "$ton") s"
    calc "$ton / $toff" >>"$work/rec.ratios"
done
echo "recording with a team database ÷ without (goal <= 1.01): $(summary "$work/rec.ratios")"
