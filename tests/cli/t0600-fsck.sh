#!/bin/sh
# flor fsck on a store damaged in each way a disk or a person can damage
# it: every damage is found (exit 1, a line naming the file, or the run,
# object and iteration), --repair gets back everything still in the packs
# (indexes are rebuilt from them) and drops, listing each, only the
# checkpoints that truly cannot be read, after which fsck finds nothing and
# every remaining checkpoint restores bit-exactly (ckpt --verify).
. "$(dirname "$0")/lib.sh"

. "$TEST_SRC/lib-store.sh"

P=.flor/objects/pack-000001.pack
I=.flor/objects/pack-000001.idx

test_expect_success 'setup: three runs of 6 checkpoints, fsck finds nothing' '
    new_project proj && cd proj &&
    for seed in 1 2 3; do
        FLOR_OVERHEAD=1 ckpt --kwargs epochs=6 kb=64 seed=$seed >/dev/null || exit 1
    done &&
    flor fsck >out &&
    echo "kind,file,run,object,iteration,detail,repaired" >expect &&
    test_cmp expect out &&
    all_restore 18
'

test_expect_success 'usage: an unknown option exits 2; --help lists the exit codes' '
    cd proj &&
    test_exit_code 2 flor fsck --bogus 2>err &&
    grep "unknown option" err &&
    flor fsck --help >help &&
    grep "^  1  problems found" help
'

test_expect_success 'a deleted index: found, rebuilt from the pack, every checkpoint back' '
    copy c1 && cd c1 &&
    rm $I &&
    test_exit_code 1 flor fsck >out &&
    grep "^index,.*pack-000001.idx,.*index missing" out &&
    grep "^checkpoint,.*,1,live,3,cannot be read: chunk .* is in no index" out &&
    test_must_fail ckpt --verify &&
    flor fsck --repair >out &&
    grep "^index,.*rebuilt from the pack,1$" out &&
    flor fsck && all_restore 18
'

test_expect_success 'an index truncated at a record, and in the middle of one' '
    for cut in 336 1000; do
        copy c2 && (cd c2 &&
        truncate -s $cut $I &&
        test_exit_code 1 flor fsck >out &&
        grep "^checkpoint,.*,3,live,5,cannot be read: chunk .* is in no index (.*pack-000001.pack. holds it" out &&
        flor fsck --repair >out &&
        flor fsck && all_restore 18) || exit 1
    done
'

test_expect_success 'a bit flipped in an index record' '
    copy c3 && cd c3 &&
    flip $I $((16 + 3 * 64 + 20)) &&
    test_exit_code 1 flor fsck >out &&
    grep "^index,.*pack-000001.idx,.*1 index records fail their checksum,0$" out &&
    flor fsck --repair && flor fsck && all_restore 18
'

test_expect_success 'a bit flipped in the pack header: found, header rewritten, nothing lost' '
    copy c4 && cd c4 &&
    flip $P 3 &&
    test_exit_code 1 flor fsck >out &&
    grep "^pack,.*pack-000001.pack,.*damaged pack header" out &&
    flor fsck --repair >out &&
    grep "^pack,.*header rewritten,1$" out &&
    flor fsck && all_restore 18
'

test_expect_success 'a bit flipped in a chunk: its checkpoints are listed, then dropped' '
    copy c5 && cd c5 &&
    flip $P $((16 + 64 + 100)) &&
    test_exit_code 1 flor fsck >out &&
    grep "^chunk,.*pack-000001.pack,.*at offset 16: checksum mismatch,0$" out &&
    test "$(grep -c "^checkpoint,.*,1,frozen,[0-5],cannot be read: .*checksum mismatch,0$" out)" -eq 6 &&
    flor fsck --repair >out &&
    test "$(grep -c "^checkpoint,.*,1,frozen,[0-5],.*; checkpoint dropped,1$" out)" -eq 6 &&
    flor fsck && all_restore 12 &&
    test "$(q "SELECT count(*) FROM checkpoints WHERE run_id = 1")" -eq 0
'

test_expect_success 'a bit flipped in a record header (its checksum fails)' '
    copy c6 && cd c6 &&
    off=$(( 16 + 2 * (64 + 65536) + 50 )) &&
    flip $P $off &&
    test_exit_code 1 flor fsck >out &&
    grep "^chunk,.*pack-000001.pack,.*no sound chunk record there,0$" out &&
    flor fsck --repair >out &&
    grep "checkpoint dropped,1$" out &&
    flor fsck && n=$(q "SELECT count(*) FROM checkpoints") && all_restore $n &&
    test $n -ge 16
'

test_expect_success 'a truncated pack: what it lost is listed and dropped, the rest restores' '
    copy c7 && cd c7 &&
    size=$(stat -c %s $P) &&
    truncate -s $((size - 1000)) $P &&
    test_exit_code 1 flor fsck >out &&
    grep "^chunk,.*pack-000001.pack,.*pack is truncated,0$" out &&
    grep "^checkpoint,.*,3,live,5,cannot be read" out &&
    flor fsck --repair >out &&
    grep "^checkpoint,.*,3,live,5,.*checkpoint dropped,1$" out &&
    flor fsck && all_restore 17
'

test_expect_success 'checkpoint rows whose chunks are gone (an old flor.db after a gc)' '
    copy c8 && cd c8 &&
    cp .flor/flor.db old.db &&
    flor gc --keep-runs 1 --every 0 >/dev/null &&
    cp old.db .flor/flor.db && rm -f .flor/flor.db-wal .flor/flor.db-shm &&
    test_exit_code 1 flor fsck >out &&
    grep "^checkpoint,.*,1,live,0,cannot be read: chunk .* not found in" out &&
    flor fsck --repair >out &&
    test "$(grep -c "checkpoint dropped,1$" out)" -eq 10 &&
    flor fsck && all_restore 8
'

test_expect_success 'a run left running by a dead process is marked killed, then fsck is clean' '
    copy c9 && cd c9 &&
    flor query "SELECT 1" >/dev/null &&
    sqlite3 .flor/flor.db "UPDATE runs SET status = '\''running'\'', pid = 999999999 WHERE run_id = 2" &&
    flor fsck >out &&
    test "$(q "SELECT status FROM runs WHERE run_id = 2")" = killed
'

test_expect_success 'a record torn by a crash, then appended to by the next run: nothing to report' '
    copy c11 && cd c11 &&
    size=$(stat -c %s $P) &&
    truncate -s $((size - 1000)) $P &&
    flor fsck --repair >/dev/null &&
    FLOR_OVERHEAD=1 ckpt --kwargs epochs=3 kb=64 seed=9 >/dev/null &&
    flor fsck && all_restore 20
'

test_expect_success 'an index record torn by a crash at the end: not a problem, cut off by the next run' '
    copy c12 && cd c12 &&
    head -c 64 /dev/zero >>$I &&
    flor fsck &&
    FLOR_OVERHEAD=1 ckpt --kwargs epochs=2 kb=64 seed=10 >/dev/null &&
    flor fsck && all_restore 20 &&
    flor gc --keep-runs 100 >/dev/null && all_restore 20
'

test_expect_success 'while a program writes checkpoints, fsck exits 3 and changes nothing' '
    copy c13 && cd c13
    FLOR_OVERHEAD=1 ckpt --kwargs epochs=100 kb=64 sleep_ms=50 seed=11 >/dev/null 2>&1 &
    pid=$!
    i=0 && while [ "$(q "SELECT count(*) FROM checkpoints")" -le 18 ] && [ $i -lt 100 ]; do
        sleep 0.1; i=$((i + 1))
    done &&
    test_exit_code 3 flor fsck --repair 2>err &&
    grep "^flor: store .* is in use by a process writing checkpoints" err &&
    kill -9 $pid && { wait $pid || :; } &&
    flor fsck && n=$(q "SELECT count(*) FROM checkpoints") && test $n -gt 18 && all_restore $n
'

test_expect_success 'json output names the same problems' '
    copy c10 && cd c10 &&
    rm $I &&
    test_exit_code 1 flor fsck --format json >out &&
    grep "\"kind\": *\"index\"" out
'

test_done
