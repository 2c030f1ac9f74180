#!/bin/sh
# flor team: a team's runs in one PostgreSQL database (a real PostgreSQL
# 15, started by tests/pg/server.sh).  Each checkout's journal is copied
# there by the recording processes themselves, exactly once: 8 processes of
# 3 checkouts at once, a server stopped for 30 s in the middle of a run
# (training does not stall, nothing is lost or doubled), a run killed with
# SIGKILL, a Python program; bad URLs, passwords, databases: clear
# messages, and nothing recorded is lost; the roles a team needs.
# (Replays' values, read back from the team: tests/cli/team-suite.sh.)
. "$(dirname "$0")/lib.sh"

. "$REPO_ROOT/tests/cli/pg-lib.sh"
BASE="postgresql://flor_test@127.0.0.1:$FLOR_TEST_PG_PORT/flor_test"

# team SCHEMA: the team URL of a schema of its own (made afresh)
team() {
    psql -qX "$BASE" -c "DROP SCHEMA IF EXISTS $1 CASCADE; CREATE SCHEMA $1" >/dev/null 2>&1 &&
    echo "$BASE?options=-csearch_path%3D$1"
}
# pg URL SQL: one value from the team's database
pg() {
    psql -qXAt "$1" -c "$2"
}

# A training program: N steps of 100 values, each step PER seconds long;
# writes how long each step's own work took (seconds) to FILE.
cat >"$TRASH/steps.c" <<'EOF'
#include <flor.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (flor_init(&argc, &argv) != 0) {
        fprintf(stderr, "steps: %s\n", flor_errmsg());
        return 1;
    }
    long n = argc > 1 ? atol(argv[1]) : 10;
    double per = argc > 2 ? atof(argv[2]) : 0.01;
    FILE *times = argc > 3 ? fopen(argv[3], "w") : NULL;
    long lr = 3;
    flor_arg_long("lr", lr, &lr);
    double x = 1;
    FLOR_LOOP(step, "step", n) {
        double t0 = now();
        for (int k = 0; k < 100; k++) {
            x = x * 0.999 + 0.001 * k;
            flor_log("v", x + k);
        }
        double work = now() - t0;
        if (times) {
            fprintf(times, "%.6f\n", work);
            fflush(times);
        }
        struct timespec rest = {0, (long)((per > work ? per - work : 0) * 1e9)};
        nanosleep(&rest, NULL);
    }
    flor_log("final", x);
    return flor_finish() == 0 ? 0 : 1;
}
EOF
SAN=""
case "$FLOR_BUILD" in *build-san) SAN="-fsanitize=address,undefined" ;; esac
mkdir -p "$TRASH/bin" && PATH="$TRASH/bin:$PATH"
cc $SAN -std=c11 -D_GNU_SOURCE -O2 -I"$REPO_ROOT/include" "$TRASH/steps.c" -o "$TRASH/bin/steps" \
    "$FLOR_BUILD/libflor.a" $(pkg-config --libs sqlite3 libgit2 libzstd libxxhash libcurl libpq) \
    -lpthread -lm -lz || { echo "FAIL $TEST_NAME: cannot build the test program"; exit 1; }

# same URL CHECKOUT: the team's rows of CHECKOUT's journal equal the journal's
same() {
    id=$(sqlite3 .flor/flor.db "SELECT value FROM meta WHERE key = 'checkout_id'") &&
    test -n "$id" &&
    sqlite3 .flor/flor.db "SELECT run_id, count(*), printf('%.6f', total(value)) FROM logs
                           GROUP BY run_id ORDER BY run_id" >"$TRASH/local.$id" &&
    pg "$1" "SELECT run_id || '|' || count(*) || '|' || round(sum(coalesce(value_real, value_int))::numeric, 6)
             FROM flor_logs WHERE checkout = '$id' GROUP BY run_id ORDER BY run_id" >"$TRASH/team.$id" &&
    test_cmp "$TRASH/local.$id" "$TRASH/team.$id" &&
    test "$(pg "$1" "SELECT count(*) FROM flor_logs WHERE checkout = '$id'")" = \
         "$(sqlite3 .flor/flor.db "SELECT count(*) FROM logs")"
}

test_expect_success 'no team database: flor team shows none; the runs are local only' '
    new_project solo && cd solo &&
    steps 3 >/dev/null &&
    flor team --format csv >out && test "$(cat out)" = "url,source,checkout,host,path,server,copied,pending" &&
    test_must_fail flor team sync 2>err && grep -q "this project has no team database" err
'

test_expect_success 'flor team set refuses a URL with a password, a wrong password, a missing database, another program, a closed port; nothing is stored' '
    new_project bad && cd bad &&
    test_must_fail flor team set "postgresql://flor_test:$PGPASSWORD@127.0.0.1:$FLOR_TEST_PG_PORT/flor_test" 2>err &&
    grep -q "the URL holds a password, and flor stores no password" err &&
    ! grep -q "$PGPASSWORD" err &&
    test_must_fail flor team set "postgresql://flor_test@127.0.0.1:$FLOR_TEST_PG_PORT/flor_test?nosuchparam=1" 2>err &&
    grep -q "expected a URL postgresql://USER@HOST:PORT/DB" err &&
    PGPASSWORD=wrong-pw test_must_fail flor team set "$BASE" 2>err &&
    grep -q "login refused (wrong user or password?)" err && ! grep -q wrong-pw err &&
    test_must_fail flor team set "postgresql://flor_test@127.0.0.1:$FLOR_TEST_PG_PORT/no_such_db" 2>err &&
    grep -q "postgresql://flor_test@127.0.0.1:$FLOR_TEST_PG_PORT/no_such_db" err &&
    grep -q "does not exist" err &&
    psql -qX "$BASE" -c "DROP SCHEMA IF EXISTS billing CASCADE; CREATE SCHEMA billing;
                         CREATE TABLE billing.invoices(id int)" >/dev/null &&
    test_must_fail flor team set "$BASE?options=-csearch_path%3Dbilling" 2>err &&
    grep -q "a database of another program: it holds the table .invoices." err &&
    test "$(pg "$BASE" "SELECT count(*) FROM pg_tables WHERE schemaname = '"'"'billing'"'"'")" = 1 &&
    test_must_fail flor team set "postgresql://flor_test@127.0.0.1:1/flor_test" 2>err &&
    grep -q "cannot connect" err &&
    flor team --format csv >out && test "$(wc -l <out)" -eq 1
'

test_expect_success 'a run of a project with a team database is copied there as it records, exactly once' '
    url=$(team t_one) && new_project one && cd one &&
    flor team set "$url" &&
    steps 20 --kwargs lr=5 >/dev/null && steps 5 >/dev/null &&
    same "$url" &&
    test "$(pg "$url" "SELECT count(*) || '"'"','"'"' || min(status) || '"'"','"'"' || max(status) FROM flor_runs")" = "2,finished,finished" &&
    test "$(pg "$url" "SELECT value_int FROM flor_args WHERE run_id = 1 AND name = '"'"'lr'"'"'")" = 5 &&
    test "$(pg "$url" "SELECT count(*) FROM flor_loops WHERE name = '"'"'step'"'"'")" = 25 &&
    flor team --format csv | tail -n 1 >row &&
    grep -q "^postgresql://flor_test@127.0.0.1:$FLOR_TEST_PG_PORT/flor_test?options=-csearch_path%3Dt_one,project,[0-9a-f]\{32\},.*,ok,2502,0$" row &&
    flor team sync --format csv >sync && test "$(tail -n 1 sync)" = "0,0,0" &&
    same "$url"
'

test_expect_success '8 recording processes of 3 checkouts at once: every row, every run finished, each checkout apart' '
    url=$(team t_many) &&
    for c in a b c; do new_project many_$c && (cd many_$c && flor team set "$url") || return 1; done &&
    pids= &&
    for i in 1 2 3 4 5 6 7 8; do
        c=$(echo "a b c a b c a b" | cut -d" " -f$i) &&
        { (cd many_$c && steps 30 0.02 --kwargs lr=$i >/dev/null 2>>../many.err) & pids="$pids $!"; }
    done &&
    for p in $pids; do wait $p || return 1; done &&
    test ! -s many.err &&
    for c in a b c; do (cd many_$c && same "$url") || return 1; done &&
    test "$(pg "$url" "SELECT count(*) FROM flor_checkouts")" = 3 &&
    test "$(pg "$url" "SELECT count(*) FROM flor_runs WHERE status = '"'"'finished'"'"'")" = 8 &&
    test "$(pg "$url" "SELECT count(*) FROM flor_logs")" = $((8 * 3001)) &&
    test "$(pg "$url" "SELECT string_agg(value_int::text, '"'"','"'"' ORDER BY value_int) FROM flor_args")" = "1,2,3,4,5,6,7,8" &&
    test "$(pg "$url" "SELECT count(DISTINCT (checkout, run_id)) FROM flor_runs")" = 8 &&
    test "$(pg "$url" "SELECT count(DISTINCT path) FROM flor_checkouts")" = 3
'

test_expect_success 'the server stopped for 30 s in the middle of a run: the run does not stall, nothing is lost or doubled' '
    url=$(team t_outage) && new_project outage && cd outage && flor team set "$url" &&
    steps 10 >/dev/null &&
    { env -u FLOR_QUIET steps 180 0.25 ../times >/dev/null 2>../outage.err & run=$!; } &&
    sleep 5 && sh "$REPO_ROOT/tests/pg/server.sh" stop "$PGDIR" &&
    stopped=$(date +%s) && sleep 30 &&
    sh "$REPO_ROOT/tests/pg/server.sh" restart "$PGDIR" >/dev/null 2>&1 &&
    wait $run &&
    test $(( $(date +%s) - stopped )) -ge 30 &&
    grep -q "the team.s database cannot be copied to now" ../outage.err &&
    test "$(grep -c "cannot be copied to now" ../outage.err)" -eq 1 &&
    test "$(wc -l <../times)" -eq 180 &&
    awk "\$1 > 0.2 { slow++ } END { exit slow > 0 }" ../times &&
    same "$url" &&
    test "$(pg "$url" "SELECT count(*) FROM flor_runs WHERE status = '"'"'finished'"'"'")" = 2
'

test_expect_success 'a run killed with SIGKILL: what it committed reaches the team once, with flor team sync' '
    url=$(team t_kill) && new_project killed && cd killed && flor team set "$url" &&
    { steps 400 0.01 >/dev/null 2>&1 & pid=$!; } && sleep 2 &&
    kill -9 $pid && { wait $pid; test $? -eq 137; } &&
    flor team sync >/dev/null && flor team sync >/dev/null &&
    same "$url" &&
    test "$(pg "$url" "SELECT count(*) FROM flor_logs")" -gt 0
'

test_expect_success 'FLOR_TEAM_DB names the team database for one process; FLOR_TEAM_DB= turns it off' '
    url=$(team t_env) && new_project envp && cd envp &&
    FLOR_TEAM_DB= steps 3 >/dev/null &&
    FLOR_TEAM_DB="$url" steps 4 >/dev/null &&
    test "$(pg "$url" "SELECT count(*) FROM flor_runs")" = 2 &&
    test "$(pg "$url" "SELECT count(*) FROM flor_logs WHERE run_id = 2")" = 401 &&
    FLOR_TEAM_DB="$url" flor team --format csv | tail -n 1 | grep -q ",FLOR_TEAM_DB,.*,ok,702,0$"
'

test_expect_success 'a copied project directory is refused until it has an id of its own' '
    url=$(team t_copy) && new_project orig && cd orig && flor team set "$url" &&
    steps 3 >/dev/null && cd .. && cp -r orig copy && cd copy &&
    env -u FLOR_QUIET steps 3 >/dev/null 2>err &&
    grep -q "already copied from .*/orig, not .*/copy" err &&
    test_must_fail flor team sync 2>err && grep -q "flor team new-id" err &&
    flor team new-id && flor team sync >/dev/null &&
    same "$url" && test "$(pg "$url" "SELECT count(*) FROM flor_checkouts")" = 2
'

test_expect_success 'roles: the administrator makes the tables, a writer copies but cannot drop them, a reader reads and cannot write' '
    sh "$REPO_ROOT/tests/pg/server.sh" sql "$PGDIR" >/dev/null <<-SQL &&
	CREATE ROLE team_admin LOGIN PASSWORD '"'$PGPASSWORD'"';
	CREATE ROLE team_writer LOGIN PASSWORD '"'$PGPASSWORD'"';
	CREATE ROLE team_reader LOGIN PASSWORD '"'$PGPASSWORD'"';
	CREATE SCHEMA team AUTHORIZATION team_admin;
	GRANT USAGE ON SCHEMA team TO team_writer, team_reader;
	ALTER DEFAULT PRIVILEGES FOR ROLE team_admin IN SCHEMA team
	    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO team_writer;
	ALTER DEFAULT PRIVILEGES FOR ROLE team_admin IN SCHEMA team GRANT SELECT ON TABLES TO team_reader;
	SQL
    at="@127.0.0.1:$FLOR_TEST_PG_PORT/flor_test?options=-csearch_path%3Dteam" &&
    new_project roles && cd roles &&
    flor team set "postgresql://team_admin$at" &&
    flor team set "postgresql://team_writer$at" &&
    steps 5 >/dev/null && same "postgresql://team_writer$at" &&
    test_must_fail pg "postgresql://team_writer$at" "DROP TABLE flor_logs" 2>err &&
    grep -q "must be owner" err &&
    test_must_fail pg "postgresql://team_writer$at" "ALTER TABLE flor_logs ADD COLUMN x int" 2>err &&
    grep -q "must be owner" err &&
    FLOR_TEAM_DB="postgresql://team_reader$at" test_must_fail flor team sync 2>err &&
    grep -q "permission denied" err &&
    test "$(pg "postgresql://team_reader$at" "SELECT count(*) FROM flor_logs")" = 501 &&
    test_must_fail pg "postgresql://team_reader$at" "DELETE FROM flor_logs" 2>err &&
    grep -q "permission denied" err &&
    test "$(pg "postgresql://team_admin$at" "SELECT count(*) FROM flor_logs")" = 501
'

# Under SANITIZE=1 the Python module is not built (python/python.mk says why).
case "$FLOR_BUILD" in
*build-san) echo "skip $TEST_NAME: Python: no module in a sanitized build" ;;
*)
test_expect_success 'a Python program records into the team database as a C one does' '
    url=$(team t_python) && new_project py && cd py && flor team set "$url" &&
    cat >toy.py <<-PY &&
	import flor
	epochs = flor.arg("epochs", 2)
	lr = flor.arg("lr", 0.5)
	for epoch in flor.loop("epoch", range(epochs)):
	    for step in flor.loop("step", range(3)):
	        flor.log("loss", lr * (epochs - epoch) + 0.25 * step)
	    flor.log("acc", 0.25 * (epoch + 1))
	flor.log("note", "done")
	PY
    PYTHONPATH="$FLOR_BUILD/python" /usr/bin/python3 toy.py --kwargs epochs=3 &&
    same "$url" &&
    test "$(pg "$url" "SELECT count(*) FROM flor_logs")" = 13 &&
    test "$(pg "$url" "SELECT string_agg(name || '"'"'='"'"'
             || coalesce(value_int::text, value_real::text), '"'"','"'"' ORDER BY ord) FROM flor_args")" = "epochs=3,lr=0.5" &&
    test "$(pg "$url" "SELECT count(*) FROM flor_loops")" = 12 &&
    test "$(pg "$url" "SELECT value_text FROM flor_logs WHERE name = '"'"'note'"'"'")" = done
' ;;
esac

test_done
