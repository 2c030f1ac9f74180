# lib.sh -- the shell-test harness, in the manner of git's test suite.
#
#   . "$(dirname "$0")/lib.sh"
#   test_expect_success 'title' '
#       flor dataframe >actual &&
#       test_cmp expect actual
#   '
#   test_done
#
# Every script runs in its own scratch directory ($TRASH) with the built
# flor and examples first on PATH.  test_must_fail CMD succeeds when CMD
# exits non-zero (but not by a signal).  test_done prints "N passed, N
# failed" and exits 1 if anything failed.  TEST_TRACE=1 shows the commands
# of a failing test (set -x).

set -u
: "${FLOR_BUILD:?set FLOR_BUILD to the build directory}"
TEST_NAME=$(basename "$0" .sh)
TEST_SRC=$(cd "$(dirname "$0")" && pwd)
REPO_ROOT=$(cd "$TEST_SRC/../.." && pwd)
TRASH=$(mktemp -d "${TMPDIR:-/tmp}/flor-test.XXXXXX")
PATH="$FLOR_BUILD:$FLOR_BUILD/examples:$FLOR_BUILD/progs:$PATH"
export PATH FLOR_BUILD
unset FLOR_DIR FLOR_MODE
export FLOR_QUIET=1
export GIT_AUTHOR_NAME=flor-test GIT_AUTHOR_EMAIL=test@flor GIT_COMMITTER_NAME=flor-test \
       GIT_COMMITTER_EMAIL=test@flor
# The fault injector (tests/tools/faultinject.c), as LD_PRELOAD takes it: a
# sanitized program needs ASan's runtime first in that list.
FAULT_LIB="$FLOR_BUILD/tests/libfaultinject.so"
case "$FLOR_BUILD" in
*build-san) FAULT_LIB="$(${CC:-cc} -print-file-name=libasan.so) $FAULT_LIB" ;;
esac
test_passed=0
test_failed=0
cd "$TRASH" || exit 1
trap 'cd /; rm -rf "$TRASH"' EXIT

test_expect_success() {
    title=$1
    body=$2
    if (cd "$TRASH" && eval "set -e ${TEST_TRACE:+-x}; $body") >"$TRASH/.out" 2>&1; then
        test_passed=$((test_passed + 1))
        echo "ok $TEST_NAME: $title"
    else
        test_failed=$((test_failed + 1))
        echo "FAIL $TEST_NAME: $title"
        sed 's/^/    /' "$TRASH/.out" | tail -n 40
    fi
}

test_must_fail() {
    "$@"
    rc=$?
    if [ $rc -eq 0 ]; then
        echo "test_must_fail: '$*' succeeded" >&2
        return 1
    elif [ $rc -gt 128 ]; then
        echo "test_must_fail: '$*' died by signal $((rc - 128))" >&2
        return 1
    fi
    return 0
}

# test_exit_code N CMD...: CMD must exit with status N.
test_exit_code() {
    want=$1
    shift
    "$@"
    rc=$?
    if [ "$rc" -ne "$want" ]; then
        echo "test_exit_code: '$*' exited $rc, expected $want" >&2
        return 1
    fi
}

test_cmp() {
    diff -u "$1" "$2"
}

# A fresh git repository named $1 with one commit, as a user's project.
# With FLOR_TEST_TEAM_URL (tests/cli/team-suite.sh), the project also gets a
# team database: a schema of its own on that server.
new_project() {
    mkdir -p "$1" && (cd "$1" && git init -q -b main && echo "# $1" >README.md &&
        git add README.md && git commit -q -m init) || return 1
    [ -n "${FLOR_TEST_TEAM_URL:-}" ] || return 0
    schema=$(echo "t_$(basename "$TRASH")_$1" | tr -c "a-zA-Z0-9_\n" _ | tr A-Z a-z | cut -c1-60)
    psql -qX "$FLOR_TEST_TEAM_URL" -c "CREATE SCHEMA $schema" >/dev/null &&
        (cd "$1" && flor team set "$FLOR_TEST_TEAM_URL?options=-csearch_path%3D$schema")
}

# q SQL: the rows of a query, as CSV without its header
q() {
    flor query "$1" --format csv | tail -n +2
}

# flip FILE OFFSET: flips bit 0 of the byte at OFFSET of FILE
flip() {
    b=$(od -An -tu1 -j"$2" -N1 "$1" | tr -d " ") &&
    printf "$(printf '\\%03o' $((b ^ 1)))" |
        dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

test_done() {
    echo "$test_passed passed, $test_failed failed"
    [ "$test_failed" -eq 0 ]
}
