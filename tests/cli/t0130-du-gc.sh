#!/bin/sh
# flor checkpoints, flor du and flor gc on runs of tests/progs/ckpt.c,
# whose checkpointed buffers have a content known in advance: du agrees
# with the checkpoints table, a dry run changes nothing, gc removes what
# its rule says and frees those bytes (as its dry run said), every
# checkpoint it keeps still restores, and a recording that holds the store
# makes gc change nothing.
. "$(dirname "$0")/lib.sh"


# the total size of the files of the store
store_bytes() {
    stat -c %s .flor/objects/* | awk '{ n += $1 } END { print n }'
}

# what must not change: the checkpoints, and the store's files and contents
snapshot() {
    flor checkpoints --format csv &&
    ls -l --time-style=full-iso .flor/objects &&
    md5sum .flor/objects/*
}

test_expect_success 'setup: three runs of 6 epochs, a checkpoint at each' '
    new_project proj && cd proj &&
    for seed in 1 2 3; do
        FLOR_OVERHEAD=1 ckpt --kwargs epochs=6 kb=64 seed=$seed >/dev/null || exit 1
    done &&
    test "$(q "SELECT count(*) FROM checkpoints")" -eq 18 &&
    ckpt --verify >out &&
    test "$(grep -c " ok$" out)" -eq 18
'

test_expect_success 'checkpoints: every run, one run by id or tstamp' '
    cd proj &&
    flor checkpoints >all &&
    head -n 1 all >header &&
    echo "run,loop,iteration,objects,logical_bytes,stored_bytes,stall_ms,write_ms,codec" >expect &&
    test_cmp expect header &&
    test "$(tail -n +2 all | wc -l)" -eq 18 &&
    flor checkpoints 2 | tail -n +2 | cut -d, -f1-5 >actual &&
    for i in 0 1 2 3 4 5; do echo "2,epoch,$i,2,131072"; done >expect &&
    test_cmp expect actual &&
    tstamp=$(q "SELECT tstamp FROM runs WHERE run_id = 2") &&
    flor checkpoints "$tstamp" >by_tstamp &&
    flor checkpoints 2 >by_id &&
    test_cmp by_id by_tstamp
'

test_expect_success 'checkpoints: an unknown run is an error, two runs a usage error' '
    cd proj &&
    test_exit_code 1 flor checkpoints 9 2>err &&
    grep "^flor: no run '\''9'\'' in project '\''proj'\''" err &&
    test_exit_code 1 flor checkpoints "it'\''s" 2>err &&
    grep "^flor: no run '\''it'\''s'\''" err &&
    test_exit_code 2 flor checkpoints 1 2 2>err &&
    grep "^see '\''flor help checkpoints'\''$" err
'

test_expect_success 'du: one row per run that agrees with the checkpoints table' '
    cd proj &&
    flor du >du &&
    head -n 1 du >header &&
    echo "run,tstamp,filename,checkpoints,logical_bytes,stored_bytes,ratio,overhead" >expect &&
    test_cmp expect header &&
    tail -n +2 du | cut -d, -f1,4,5,6 >actual &&
    q "SELECT run_id, count(*), sum(logical_bytes), sum(stored_bytes) FROM checkpoints
       GROUP BY run_id ORDER BY run_id" >expect &&
    test_cmp expect actual &&
    tail -n +2 du | cut -d, -f5 >logical &&
    printf "%s\n" 786432 786432 786432 >expect &&
    test_cmp expect logical &&
    tail -n +2 du | while IFS=, read run ts fn n logical stored ratio overhead; do
        # the frozen half is stored once per run: 7 of 12 buffers
        test "$stored" -gt $((logical * 7 / 12)) &&
        test "$stored" -lt $((logical * 8 / 12)) &&
        test -n "$overhead" || exit 1
    done &&
    test "$(q "SELECT sum(stored_bytes) FROM checkpoints")" -le "$(store_bytes)"
'

test_expect_success 'runs: the checkpoints and the overhead of each run' '
    cd proj &&
    flor runs | tail -n +2 | cut -d, -f1,13 >actual &&
    printf "%s\n" 1,6 2,6 3,6 >expect &&
    test_cmp expect actual &&
    flor runs | tail -n +2 | cut -d, -f14 >overheads &&
    flor du | tail -n +2 | cut -d, -f8 >expect &&
    test_cmp expect overheads
'

test_expect_success 'gc --dry-run reports the plan and changes nothing' '
    cd proj &&
    snapshot >before &&
    flor gc --dry-run --keep-runs 1 --every 2 >report &&
    snapshot >after &&
    test_cmp before after &&
    head -n 1 report >header &&
    echo "dry_run,checkpoints_removed,checkpoints_kept,chunks_removed,chunks_kept,packs_rewritten,bytes_before,bytes_after,bytes_freed" >expect &&
    test_cmp expect header &&
    tail -n 1 report | cut -d, -f1-4,6 >actual &&
    echo "1,4,14,4,1" >expect &&
    test_cmp expect actual &&
    test "$(tail -n 1 report | cut -d, -f7)" -eq "$(store_bytes)" &&
    test "$(tail -n 1 report | cut -d, -f9)" -gt 0 &&
    test "$(tail -n 1 report | cut -d, -f8)" -eq \
        "$(($(store_bytes) - $(tail -n 1 report | cut -d, -f9)))" &&
    cp report ../dry_report
'

test_expect_success 'gc --keep-runs 1 --every 2 removes odd epochs but the last of old runs' '
    cd proj &&
    bytes=$(store_bytes) &&
    doomed=$(q "SELECT sum(stored_bytes) FROM checkpoints WHERE run_id < 3 AND iteration IN (1, 3)") &&
    chunks=$(flor gc --dry-run | tail -n 1 | cut -d, -f5) &&
    flor gc --keep-runs 1 --every 2 >report &&
    test "$(tail -n 1 report | cut -d, -f2-6)" = "$(tail -n 1 ../dry_report | cut -d, -f2-6)" &&
    tail -n 1 report | cut -d, -f1-3 >actual &&
    echo "0,4,14" >expect &&
    test_cmp expect actual &&
    IFS=, read dry removed kept chunks_removed chunks_kept packs before after freed <<-EOF &&
	$(tail -n 1 report)
	EOF
    test "$chunks_removed" -gt 0 &&
    test $((chunks_removed + chunks_kept)) -eq "$chunks" &&
    test "$before" -eq "$bytes" &&
    test "$after" -eq "$(store_bytes)" &&
    test "$freed" -eq $((before - after)) &&
    test "$freed" -ge "$doomed" &&
    test "$freed" -lt $((doomed + 4096)) &&
    flor checkpoints | tail -n +2 | cut -d, -f1,3 | paste -sd " " - >actual &&
    echo "1,0 1,2 1,4 1,5 2,0 2,2 2,4 2,5 3,0 3,1 3,2 3,3 3,4 3,5" >expect &&
    test_cmp expect actual
'

test_expect_success 'du after gc: the removed checkpoints and their bytes are gone' '
    cd proj &&
    flor du | tail -n +2 | cut -d, -f1,4,5,6 >actual &&
    q "SELECT run_id, count(*), sum(logical_bytes), sum(stored_bytes) FROM checkpoints
       GROUP BY run_id ORDER BY run_id" >expect &&
    test_cmp expect actual &&
    cut -d, -f1,2,3 actual >counts &&
    printf "%s\n" 1,4,524288 2,4,524288 3,6,786432 >expect &&
    test_cmp expect counts
'

test_expect_success 'every remaining checkpoint restores its exact content' '
    cd proj &&
    ckpt --verify >out &&
    test "$(grep -c " ok$" out)" -eq 14 &&
    test "$(wc -l <out)" -eq 14
'

test_expect_success 'a run that lost checkpoints still replays, without divergences' '
    cd proj &&
    flor replay -j 2 --segments 3 --run 1 -- ckpt >sum 2>err &&
    tail -n +2 sum | cut -d, -f2,6 >actual &&
    printf "%s\n" finished,0 finished,0 finished,0 >expect &&
    test_cmp expect actual &&
    test "$(q "SELECT sum(compared) FROM replays WHERE run_id = 1")" -ge 6
'

test_expect_success 'gc a second time finds nothing more to remove, and changes nothing' '
    cd proj &&
    snapshot >before &&
    flor gc --keep-runs 1 --every 2 | tail -n 1 | cut -d, -f2,4,6,9 >actual &&
    echo "0,0,0,0" >expect &&
    test_cmp expect actual &&
    snapshot >after &&
    test_cmp before after
'

test_expect_success 'gc while a recording holds the store: exit 1, nothing removed' '
    cd proj
    FLOR_OVERHEAD=1 ckpt --kwargs epochs=400 kb=64 seed=4 sleep_ms=50 >/dev/null 2>&1 &
    bg=$!
    n=0 &&
    while [ "$(q "SELECT count(*) FROM checkpoints WHERE run_id = 4")" -lt 1 ]; do
        n=$((n + 1)) && [ $n -lt 200 ] && sleep 0.05 || { kill $bg; exit 1; }
    done &&
    for r in 1 2 3; do flor checkpoints $r || exit 1; done >before &&
    ls .flor/objects >files_before &&
    rc=0 && flor gc --keep-runs 0 --every 0 >out 2>err || rc=$? &&
    for r in 1 2 3; do flor checkpoints $r || exit 1; done >after &&
    kill -TERM $bg && wait $bg || : &&
    test "$rc" -eq 1 &&
    test ! -s out &&
    grep "^flor: store '\''.*/.flor/objects'\'' is in use by a process writing checkpoints; try again when it has finished$" err &&
    test_cmp before after &&
    ls .flor/objects >files_after &&
    for f in $(cat files_before); do test -f .flor/objects/$f || exit 1; done &&
    ckpt --verify >verify &&
    ! grep -v " ok$" verify
'

test_expect_success 'once the recording has ended, gc --keep-runs 0 --every 0 keeps the last of each run' '
    cd proj &&
    test "$(q "SELECT status FROM runs WHERE run_id = 4")" = killed &&
    last4=$(q "SELECT max(iteration) FROM checkpoints WHERE run_id = 4") &&
    flor gc --keep-runs 0 --every 0 >report &&
    flor checkpoints | tail -n +2 | cut -d, -f1,3 | paste -sd " " - >actual &&
    echo "1,5 2,5 3,5 4,$last4" >expect &&
    test_cmp expect actual &&
    test "$(tail -n 1 report | cut -d, -f8)" -eq "$(store_bytes)" &&
    ckpt --verify >out &&
    test "$(grep -c " ok$" out)" -eq 4
'

test_expect_success 'gc: bad values and arguments are usage errors' '
    cd proj &&
    test_exit_code 2 flor gc --keep-runs -1 2>err &&
    grep "^flor: option '\''--keep-runs'\'' expects a number >= 0, not '\''-1'\''$" err &&
    grep "^see '\''flor help gc'\''$" err &&
    test_exit_code 2 flor gc --every x 2>err &&
    test_exit_code 2 flor gc --every=3x 2>err &&
    test_exit_code 2 flor gc --keep-runs 2>err &&
    grep "^flor: option '\''--keep-runs'\'' needs a value$" err &&
    test_exit_code 2 flor gc now 2>err &&
    grep "^flor: unexpected argument '\''now'\''$" err &&
    test_exit_code 2 flor gc --force 2>err &&
    grep "^flor: unknown option '\''--force'\''$" err &&
    test_exit_code 2 flor du extra 2>err
'

test_expect_success 'du, gc and checkpoints with no runs: exit 1' '
    new_project empty && cd empty &&
    test_exit_code 1 flor du 2>err &&
    grep "^flor: no runs recorded in project '\''empty'\''" err &&
    test_exit_code 1 flor gc 2>err &&
    test_exit_code 1 flor checkpoints 2>err
'

test_done
