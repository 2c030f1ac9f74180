#!/bin/sh
# The kill -9 matrix: a recording with checkpoints, the checkpoint writes
# alone, and gc are each cut off at 30 or more points, and after every cut
# `flor fsck` finds no problem (the run reaper has marked the dead run), no
# row recorded before is gone, and every listed checkpoint restores
# bit-exactly (ckpt --verify).
#
# A cut at call N: from the Nth write or sync on (of any file, or of the
# store's files only) every one fails, so nothing after that point reaches
# the disk, as when the machine stops there; then the process gets SIGKILL.
# Part (a) also kills recordings after plain delays.
. "$(dirname "$0")/lib.sh"

INJECT=$FAULT_LIB


# cut N FILTER CMD...: CMD cut off at its Nth write or sync on files whose
# path contains FILTER (empty: every file), then killed.
cut_at() {
    n=$1
    filter=$2
    shift 2
    FAULT_AT=$n FAULT_STICKY=1 FAULT_ERRNO=EIO FAULT_PATH=$filter LD_PRELOAD="$INJECT" \
        "$@" >/dev/null 2>&1 &
    pid=$!
    i=0
    while kill -0 $pid 2>/dev/null && [ $i -lt 4 ]; do
        sleep 0.02
        i=$((i + 1))
    done
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    return 0
}

# calls FILTER CMD...: how many writes and syncs CMD makes on such files
calls() {
    filter=$1 && shift &&
    rm -f "$TRASH/calls" &&
    FAULT_PATH=$filter FAULT_REPORT="$TRASH/calls" LD_PRELOAD="$INJECT" "$@" >/dev/null 2>&1 &&
    cut -d" " -f1 "$TRASH/calls"
}

# the Nth of 30 points spread over 1..$1
point() {
    echo $((1 + ($2 * ($1 - 1)) / 29))
}

# fsck is clean, no checkpoint row was lost (at least $1 remain), every
# checkpoint restores, and each run's logged epochs have no hole.  ckpt
# --verify knows a run's content from its seed arg; a run killed before its
# args were written has checkpoints it cannot check (they are restored all
# the same, and fsck has checked their chunks).
intact() {
    flor fsck >fsck.out || { cat fsck.out; return 1; }
    n=$(q "SELECT count(*) FROM checkpoints") &&
    test "$n" -ge "$1" &&
    { ckpt --verify >verify 2>&1 || :; } &&
    test "$(grep -c "^run [0-9]* epoch [0-9]* \(ok\|differs\)$" verify)" -eq "$n" &&
    for r in $(grep -v " ok$" verify | cut -d" " -f2 | sort -u); do
        test -z "$(q "SELECT 1 FROM args WHERE run_id = $r AND name = 'seed'")" ||
            { cat verify; return 1; }
    done &&
    test -z "$(q "SELECT run_id FROM loops WHERE name = 'epoch' GROUP BY run_id
                  HAVING count(DISTINCT iteration) != max(iteration) + 1")" &&
    test -z "$(q "SELECT run_id FROM runs WHERE status = 'running'")" &&
    echo "$n" >rows
}

test_expect_success 'setup' '
    test -f "$FLOR_BUILD/tests/libfaultinject.so" &&
    new_project rec && new_project wr && new_project gc && cd gc &&
    for seed in 1 2 3; do
        FLOR_OVERHEAD=1 ckpt --kwargs epochs=6 kb=64 seed=$seed >/dev/null || exit 1
    done
'

test_expect_success '(a) a recording cut at 30 points of its writes and syncs' '
    cd rec &&
    total=$(calls "" env FLOR_OVERHEAD=1 ckpt --kwargs epochs=4 kb=64 seed=100) &&
    test "$total" -ge 30 &&
    intact 0 &&
    k=0 && while [ $k -lt 30 ]; do
        before=$(cat rows) &&
        cut_at "$(point "$total" $k)" "" env FLOR_OVERHEAD=1 \
            ckpt --kwargs epochs=4 kb=64 seed=$((200 + k)) &&
        intact "$before" || { echo "failed at point $k"; exit 1; }
        k=$((k + 1))
    done
'

test_expect_success '(a) a recording killed with SIGKILL after 8 different delays' '
    cd rec &&
    intact 0 &&
    for d in 0.02 0.05 0.08 0.12 0.16 0.2 0.25 0.3; do
        before=$(cat rows)
        FLOR_OVERHEAD=1 ckpt --kwargs epochs=20 kb=64 sleep_ms=20 seed=7$d >/dev/null 2>&1 &
        pid=$!
        sleep $d
        kill -9 $pid
        wait $pid || :
        intact "$before" || { echo "failed after $d s"; exit 1; }
    done
'

test_expect_success '(b) the checkpoint writes cut at 30 points' '
    cd wr &&
    total=$(calls objects env FLOR_OVERHEAD=1 ckpt --kwargs epochs=8 kb=64 seed=300) &&
    test "$total" -ge 30 &&
    intact 0 &&
    k=0 && while [ $k -lt 30 ]; do
        before=$(cat rows) &&
        cut_at "$(point "$total" $k)" objects env FLOR_OVERHEAD=1 \
            ckpt --kwargs epochs=8 kb=64 seed=$((400 + k)) &&
        intact "$before" || { echo "failed at point $k"; exit 1; }
        k=$((k + 1))
    done
'

test_expect_success '(c) gc cut at every one of its writes and syncs (30 or more)' '
    rm -rf g && cp -a gc g && total=$(cd g && calls "" flor gc --keep-runs 1 --every 0) &&
    test "$total" -ge 30 &&
    n=1 && while [ $n -le "$total" ]; do
        rm -rf g && cp -a gc g &&
        (cd g && cut_at $n "" flor gc --keep-runs 1 --every 0 &&
         intact 8 && rows=$(cat rows) && { test "$rows" -eq 8 || test "$rows" -eq 18; } &&
         flor gc --keep-runs 1 --every 0 >/dev/null && intact 8 &&
         test "$(cat rows)" -eq 8) || { echo "failed at call $n"; exit 1; }
        n=$((n + 1))
    done
'

test_done
