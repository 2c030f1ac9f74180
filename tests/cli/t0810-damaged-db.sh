#!/bin/sh
# A damaged flor.db is never recreated nor written: an empty file, a
# truncated one, one with a garbage page, one with a bad header, a SQLite
# file that is not flor's and one from a newer flor each make flor runs,
# flor dataframe, flor query and a recording program fail with a message
# that names the file and what is wrong, and leave the file as it was.

. "$(dirname "$0")/lib.sh"

test_expect_success 'setup: two runs of toy, and a copy of the good database' '
    new_project proj &&
    (cd proj && toy && toy --kwargs epochs=3) &&
    cp proj/.flor/flor.db good.db &&
    test $(wc -c <good.db) -ge 65536
'

DB=$(cd proj && pwd -P)/.flor/flor.db

# Puts a copy of the good database in place; then damage it.
fresh() {
    rm -f "$DB" "$DB-wal" "$DB-shm" &&
    cp good.db "$DB"
}

# Every reader and a recording program must fail with a message that
# matches $1 and names the file; the file stays byte for byte, no other
# database file appears, and no run is added.
refused() {
    cksum <"$DB" >before &&
    ls proj/.flor | grep -v -e "-wal$" -e "-shm$" >files.before &&
    for cmd in "flor runs" "flor dataframe" "flor dataframe loss" \
               "flor query 'SELECT count(*) FROM runs'"; do
        (cd proj && eval "test_exit_code 1 $cmd") >out 2>err &&
        cat err &&
        grep "^flor: .*'$DB'" err &&
        grep -e "$1" err &&
        test ! -s out || return 1
    done &&
    (cd proj && test_exit_code 1 toy) >out 2>err &&
    cat err &&
    grep "^toy: .*'$DB'" err &&
    grep -e "$1" err &&
    test ! -s out &&
    cksum <"$DB" >after &&
    test_cmp before after &&
    ls proj/.flor | grep -v -e "-wal$" -e "-shm$" >files.after &&
    test_cmp files.before files.after
}

test_expect_success 'an empty flor.db is an error, not a new database' '
    fresh && : >"$DB" &&
    refused "empty file (0 bytes)" &&
    grep "flor fsck" err &&
    test ! -s "$DB"
'

test_expect_success 'a truncated flor.db is damaged' '
    fresh && head -c 40000 good.db >"$DB" &&
    refused "is damaged: truncated to 40000 bytes" &&
    fresh && head -c 32768 good.db >"$DB" &&
    refused "is damaged: truncated to 32768 bytes" &&
    fresh && head -c 60 good.db >"$DB" &&
    refused "is damaged: truncated to 60 bytes" &&
    grep "flor fsck" err
'

test_expect_success 'a garbage page is damage, not "not a flor database"' '
    fresh &&
    head -c 16384 /dev/urandom >garbage &&
    dd if=garbage of="$DB" bs=16384 seek=1 count=1 conv=notrunc 2>/dev/null &&
    refused "is damaged: database disk image is malformed" &&
    ! grep "not a flor database" err &&
    grep "flor fsck" err
'

test_expect_success 'a bad header says so, with the path' '
    fresh &&
    printf "this is no db!!!" | dd of="$DB" bs=1 count=16 conv=notrunc 2>/dev/null &&
    refused "is not a SQLite database (bad header)" &&
    grep "flor fsck" err
'

test_expect_success 'a SQLite file without flor tables is not a flor database, and stays so' '
    rm -f "$DB" "$DB-wal" "$DB-shm" &&
    sqlite3 "$DB" "CREATE TABLE notes(x); INSERT INTO notes VALUES (1)" &&
    refused "is not a flor database" &&
    sqlite3 "$DB" "SELECT group_concat(name) FROM sqlite_master" >tables &&
    echo notes >expect &&
    test_cmp expect tables
'

test_expect_success 'a schema newer than this flor is refused, naming both versions' '
    fresh &&
    sqlite3 "$DB" "UPDATE meta SET value = 99 WHERE key = '\''schema_version'\''" &&
    rm -f "$DB-wal" "$DB-shm" &&
    refused "schema version 99 is newer than this flor.s (6)"
'

test_expect_success 'the good database, put back, has the two runs and records a third' '
    fresh &&
    (cd proj && toy && flor query "SELECT group_concat(run_id, '\'' '\'') AS runs FROM runs") >actual &&
    printf "runs\n1 2 3\n" >expect &&
    test_cmp expect actual
'

test_expect_success 'a missing flor.db is created whole, and only then' '
    new_project fresh &&
    (cd fresh && toy && toy && flor query "SELECT count(*) AS n FROM runs") >actual &&
    printf "n\n2\n" >expect &&
    test_cmp expect actual &&
    ! ls fresh/.flor | grep "flor.db.new"
'

test_done
