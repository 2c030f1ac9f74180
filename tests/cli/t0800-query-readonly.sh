#!/bin/sh
# flor query cannot change anything: no write, no ATTACH, no extension, no
# second statement; a query that runs too long is stopped by --timeout or
# by Ctrl-C; and a --where condition of flor replay cannot widen itself
# past its parentheses.

. "$(dirname "$0")/lib.sh"

sum() { cksum <"$1"; }

test_expect_success 'setup: two runs of toy' '
    new_project proj &&
    (cd proj && toy && toy --kwargs epochs=3) &&
    sum proj/.flor/flor.db >db.sum
'

# refused SQL: each must exit 1, name why, and leave flor.db byte for byte.
refused() {
    (cd proj && test_exit_code 1 flor query "$1") >out 2>err &&
    cat err &&
    grep "^flor: " err &&
    test ! -s out &&
    sum proj/.flor/flor.db >now.sum &&
    test_cmp db.sum now.sum
}

test_expect_success 'ATTACH is refused and creates no file' '
    refused "ATTACH DATABASE '\''file:$TRASH/x.db?mode=rwc'\'' AS x" &&
    refused "ATTACH DATABASE '\''$TRASH/y.db'\'' AS y" &&
    grep "not allowed" err &&
    test ! -e x.db && test ! -e y.db && test ! -e proj/x.db &&
    ! ls proj | grep "^file:"
'

test_expect_success 'INSERT, DELETE, UPDATE, DROP and CREATE are refused' '
    refused "INSERT INTO meta(key, value) VALUES ('\''k'\'', 1)" &&
    refused "DELETE FROM logs" &&
    refused "UPDATE runs SET status = '\''failed'\''" &&
    refused "DROP TABLE logs" &&
    refused "CREATE TABLE t(x)" &&
    refused "CREATE TEMP TABLE t(x)" &&
    refused "CREATE TEMP VIEW v AS SELECT 1" &&
    refused "WITH c AS (SELECT 1) DELETE FROM runs" &&
    refused "UPDATE sqlite_master SET sql = '\''x'\''" &&
    (cd proj && flor query "SELECT count(*) AS n FROM logs") >actual &&
    printf "n\n22\n" >expect &&
    test_cmp expect actual
'

test_expect_success 'VACUUM INTO and writing pragmas are refused' '
    refused "VACUUM INTO '\''$TRASH/copy.db'\''" &&
    test ! -e copy.db &&
    refused "VACUUM" &&
    refused "PRAGMA user_version = 7" &&
    refused "PRAGMA writable_schema = ON" &&
    refused "PRAGMA journal_mode = DELETE" &&
    refused "PRAGMA wal_checkpoint(TRUNCATE)" &&
    refused "PRAGMA foreign_keys = OFF"
'

test_expect_success 'load_extension and two statements are refused' '
    refused "SELECT load_extension('\''/nonexistent/ext.so'\'')" &&
    refused "SELECT 1; DELETE FROM runs" &&
    grep "one statement at a time" err &&
    refused "SELECT 1; ATTACH '\''$TRASH/z.db'\'' AS z" &&
    test ! -e z.db
'

test_expect_success 'reading pragmas and table-valued pragmas still work' '
    (cd proj && flor query "PRAGMA user_version") >actual &&
    printf "user_version\n0\n" >expect &&
    test_cmp expect actual &&
    (cd proj && flor query "SELECT name FROM pragma_table_info('\''meta'\'')") >actual &&
    printf "name\nkey\nvalue\n" >expect &&
    test_cmp expect actual
'

LONG="WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"

test_expect_success 'a query that never ends stops at --timeout' '
    start=$(date +%s) &&
    (cd proj && test_exit_code 1 flor query --timeout 1 "$LONG") 2>err &&
    end=$(date +%s) &&
    test $((end - start)) -le 5 &&
    echo "flor: query timed out after 1 s" >expect &&
    test_cmp expect err
'

test_expect_success '--timeout takes a positive number of seconds' '
    (cd proj && test_exit_code 2 flor query --timeout 0 "SELECT 1") 2>err &&
    grep "^flor: --timeout" err &&
    (cd proj && test_exit_code 2 flor query --timeout abc "SELECT 1") 2>err &&
    grep "^flor: --timeout" err &&
    (cd proj && flor query --timeout=0.5 "SELECT 2 AS x") >actual &&
    printf "x\n2\n" >expect &&
    test_cmp expect actual
'

test_expect_success 'Ctrl-C stops a long query: exit 130' '
    (cd proj && exec flor query --timeout 60 "$LONG" 2>../err) &
    pid=$! &&
    sleep 1 &&
    kill -INT $pid &&
    set +e && wait $pid; rc=$? && set -e &&
    test "$rc" -eq 130 &&
    grep "^flor: query interrupted" err
'

# The module is built only without sanitizers (python/python.mk).
if [ -d "$FLOR_BUILD/python/flor" ]; then
test_expect_success 'Python flor.query refuses a write and an ATTACH too' '
    cat >q.py <<-EOF &&
	import flor
	for sql in ("DELETE FROM runs", "ATTACH DATABASE '\''$TRASH/p.db'\'' AS p"):
	    try:
	        flor.query(sql)
	    except Exception as e:
	        print("refused:", e)
	    else:
	        print("ran:", sql)
	EOF
    (cd proj && PYTHONPATH=$FLOR_BUILD/python /usr/bin/python3 ../q.py) >out &&
    cat out &&
    test $(grep -c "^refused:" out) -eq 2 &&
    test ! -e p.db &&
    sum proj/.flor/flor.db >now.sum &&
    test_cmp db.sum now.sum
'
fi

test_expect_success 'replay --where cannot close its parentheses or add a statement' '
    for w in "1=1) OR (1=1" "1; DROP TABLE runs" "epochs = 3)" "(epochs = 3" \
             "epochs = '\''3" "1 /* x" "1) --"; do
        (cd proj && test_must_fail flor replay loss --where "$w" -- toy) 2>err &&
        cat err &&
        grep "^flor: --where " err || return 1
    done &&
    sum proj/.flor/flor.db >now.sum &&
    test_cmp db.sum now.sum
'

test_done
