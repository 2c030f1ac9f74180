#!/bin/sh
# Reading the team's runs (docs/team.md, "Reading the team's runs"): two
# checkouts record into one team database on a real PostgreSQL 15
# (tests/pg/server.sh); flor runs, dataframe and query in either show both
# checkouts' runs (--local: its own), the same in both, with nothing more
# on stdout; with the server stopped they answer from the replica with one
# warning; flor query --server runs on the server, read-only, with its
# timeout; the Python module's flor.dataframe / flor.query likewise.
. "$(dirname "$0")/lib.sh"
. "$REPO_ROOT/tests/cli/pg-lib.sh"
unset FLOR_QUIET # the warnings are part of what is tested
URL="postgresql://flor_test@127.0.0.1:$FLOR_TEST_PG_PORT/flor_test"

test_expect_success 'setup: two checkouts record into one team database' '
    new_project alice && (cd alice && flor team set "$URL" && toy --kwargs lr=0.25 >/dev/null &&
                          flor team sync >/dev/null) &&
    new_project bob && (cd bob && flor team set "$URL" && toy --kwargs epochs=3 >/dev/null &&
                        toy >/dev/null && flor team sync >/dev/null)
'

test_expect_success 'flor runs shows the team'"'"'s runs; --local only the checkout'"'"'s own' '
    cd alice &&
    flor runs --format csv >team.csv 2>err && test ! -s err &&
    test "$(tail -n +2 team.csv | wc -l)" -eq 3 &&
    test "$(head -1 team.csv)" = "$(flor runs --local --format csv | head -1)" &&
    test "$(flor runs --local --format csv | tail -n +2 | wc -l)" -eq 1 &&
    test "$(q "SELECT count(DISTINCT checkout) FROM runs")" = 2 &&
    test "$(q "SELECT group_concat(run_id, '"'"'-'"'"') FROM (SELECT run_id FROM runs ORDER BY run_id)")" = "1-2-3"
'

test_expect_success 'flor dataframe: every run of the team, the same from either checkout' '
    (cd alice && flor dataframe loss --format csv >../alice.csv) &&
    (cd bob && flor dataframe loss --format csv >../bob.csv) &&
    test_cmp alice.csv bob.csv &&
    test "$(tail -n +2 alice.csv | wc -l)" -eq $((2 * 3 + 3 * 3 + 2 * 3)) &&
    (cd alice && flor dataframe loss --local --format csv >../alice-local.csv) &&
    test "$(tail -n +2 alice-local.csv | wc -l)" -eq 6 &&
    (cd alice && flor dataframe --format csv >../final.csv) &&
    test "$(tail -n +2 final.csv | wc -l)" -eq 3
'

test_expect_success 'flor query reads the replica; a new run is there at the next read' '
    cd bob &&
    test "$(q "SELECT count(*) FROM logs WHERE name = '"'"'loss'"'"'")" = $((6 + 9 + 6)) &&
    toy --kwargs steps=1 >/dev/null && flor team sync >/dev/null &&
    test "$(q "SELECT count(*) FROM runs")" = 4 &&
    test "$(flor query --local "SELECT count(*) FROM runs" --format csv | tail -1)" = 3
'

test_expect_success 'flor query --server: SQL on the server, read-only, with its timeout' '
    cd alice &&
    test "$(flor query --server "SELECT count(*) AS n FROM flor_runs" --format csv)" = "$(printf "n\n4")" &&
    test_must_fail flor query --server "DELETE FROM flor_logs" 2>err &&
    grep -q "read-only transaction" err &&
    test_must_fail flor query --server "SELECT 1; DELETE FROM flor_logs" 2>err &&
    test "$(flor query --server "SELECT count(*) FROM flor_logs" --format csv | tail -1)" -gt 0 &&
    test_must_fail flor query --server --timeout 0.5 "SELECT pg_sleep(5)" 2>err &&
    grep -q "statement timeout" err &&
    test_exit_code 2 flor query --server --local "SELECT 1" 2>err
'

test_expect_success 'the server stopped: the replica answers, with one warning' '
    cd alice && flor dataframe loss --format csv >before.csv &&
    sh "$REPO_ROOT/tests/pg/server.sh" stop "$PGDIR" &&
    flor dataframe loss --format csv >after.csv 2>err &&
    test_cmp before.csv after.csv &&
    test "$(wc -l <err)" -eq 1 &&
    grep -q "^flor: warning: postgresql://flor_test@127.0.0.1:$FLOR_TEST_PG_PORT/flor_test: cannot connect" err &&
    grep -q "showing the team.s runs as last read from it, at 20" err &&
    ! grep -q "$PGPASSWORD" err &&
    flor dataframe loss --local --format csv >local.csv 2>err && test ! -s err &&
    sh "$REPO_ROOT/tests/pg/server.sh" restart "$PGDIR"
'

# Under SANITIZE=1 the Python module is not built (python/python.mk says why).
case "$FLOR_BUILD" in
*build-san) echo "skip $TEST_NAME: Python: no module in a sanitized build" ;;
*)
test_expect_success 'Python: flor.dataframe() and flor.query() read the team, local=True the checkout' '
    test -d "$FLOR_BUILD/python/flor" || { echo "no $FLOR_BUILD/python: make python"; false; } &&
    cd alice &&
    PYTHONPATH="$FLOR_BUILD/python" /usr/bin/python3 -c "
import flor
def n(x):
    return len(x) if isinstance(x, list) else x.shape[0]
assert n(flor.query(\"SELECT * FROM runs\")) == 4, flor.query(\"SELECT * FROM runs\")
assert n(flor.query(\"SELECT * FROM runs\", local=True)) == 1
assert n(flor.dataframe(\"loss\")) == 6 + 9 + 6 + 2  # the last: 2 epochs of 1 step
assert n(flor.dataframe(\"loss\", local=True)) == 6
try:
    flor.dataframe(\"loss\", remote=True)
except TypeError as e:
    assert \"remote\" in str(e)
else:
    raise AssertionError(\"remote= accepted\")
" 2>err || { cat err; false; }
    test ! -s err
' ;;
esac

test_done
