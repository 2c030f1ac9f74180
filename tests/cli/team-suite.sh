#!/bin/sh
# The record, replay and dataframe suites again, with every project
# of theirs given a team database on a real PostgreSQL (tests/pg/server.sh):
# the one parameter is FLOR_TEST_TEAM_URL, which lib.sh's new_project turns
# into a schema of the project's own and `flor team set`.  So each run those
# scripts record is copied as it records, and their `flor dataframe`,
# `flor query` and `flor runs` read the team's rows from the server, and
# must show what they show from the local database.  Prints
# "cli-team: N passed, N failed".
dir=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$dir/../.." && pwd)
# (Not the resume suite: it watches a run that is recording through `flor
# query`, which over a team database shows what has been copied, up to a
# second behind the journal.)
SUITES="t0100-dataframe.sh t0110-query.sh t0300-example.sh
        t0400-replay.sh t0410-replay-launcher.sh t0720-nan.sh"
pgdir=$(mktemp -d /tmp/flor-team-suite.XXXXXX)
if ! sh "$repo/tests/pg/server.sh" start "$pgdir" >"$pgdir.log" 2>&1; then
    rc=$?
    if [ $rc -eq 2 ]; then
        echo "skip cli-team: $(tail -n 1 "$pgdir.log")"
        rm -rf "$pgdir" "$pgdir.log"
        echo "cli-team: 0 passed, 0 failed"
        exit 0
    fi
    echo "FAIL cli-team: the PostgreSQL test server did not start"
    sed 's/^/    /' "$pgdir.log" | tail -n 20
    rm -rf "$pgdir" "$pgdir.log"
    echo "cli-team: 0 passed, 1 failed"
    exit 1
fi
trap 'sh "$repo/tests/pg/server.sh" stop "$pgdir" >/dev/null 2>&1; rm -rf "$pgdir" "$pgdir.log"' EXIT
eval "$(sh "$repo/tests/pg/server.sh" env "$pgdir")"
export PGPASSWORD="$FLOR_TEST_PG_PASSWORD"
export FLOR_TEST_TEAM_URL="postgresql://flor_test@127.0.0.1:$FLOR_TEST_PG_PORT/flor_test"
FLOR_TEST_LABEL=cli-team sh "$dir/run.sh" ${FLOR_TEAM_SUITES:-$SUITES}
