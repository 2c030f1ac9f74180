# pg-lib.sh -- sourced after lib.sh by a CLI test that needs a real
# PostgreSQL: starts tests/pg/server.sh in PGDIR (under /tmp, where the
# server's user can reach it), stops and removes it when the test exits,
# and exports what its env prints (FLOR_TEST_PG_URL, _HOST, _PORT,
# _PASSWORD) with PGPASSWORD set and the other PG* variables unset.  A
# machine without PostgreSQL skips the test, saying so; an installed
# server that does not start fails it.
PGDIR=$(mktemp -d /tmp/flor-pg.XXXXXX)
sh "$REPO_ROOT/tests/pg/server.sh" start "$PGDIR" >"$TRASH/pg.log" 2>&1
case $? in
0) ;;
2)  rm -rf "$PGDIR"; echo "skip $TEST_NAME: $(tail -n 1 "$TRASH/pg.log")"
    echo "0 passed, 0 failed"
    exit 0 ;;
*)  echo "FAIL $TEST_NAME: the PostgreSQL test server did not start"
    sed 's/^/    /' "$TRASH/pg.log" | tail -n 40
    echo "0 passed, 1 failed"
    exit 1 ;;
esac
trap 'sh "$REPO_ROOT/tests/pg/server.sh" stop "$PGDIR"; cd /; rm -rf "$TRASH" "$PGDIR"' EXIT
eval "$(sh "$REPO_ROOT/tests/pg/server.sh" env "$PGDIR")"
export PGPASSWORD="$FLOR_TEST_PG_PASSWORD"
unset FLOR_TEAM_DB PGHOST PGPORT PGUSER PGDATABASE PGSERVICE PGOPTIONS
export PGPASSFILE=/nonexistent/pgpass
