#!/bin/sh
# flor gc never destroys what a kept checkpoint needs.  With a pack's index
# missing, truncated or damaged, or a kept chunk corrupt, gc (and its dry
# run) refuses, changes nothing, names the file and says to run
# `flor fsck --repair`; after the repair gc proceeds.  A write or sync that
# fails at any point of a gc (ENOSPC, EIO, once or for good) leaves every
# checkpoint row in place and every checkpoint restorable, and fsck clean.
. "$(dirname "$0")/lib.sh"

. "$TEST_SRC/lib-store.sh"

# the store's files and their contents
store_state() {
    (cd .flor/objects && ls && md5sum pack-*)
}

P=.flor/objects/pack-000001.pack
I=.flor/objects/pack-000001.idx
INJECT=$FAULT_LIB

test_expect_success 'setup: three runs of 6 checkpoints' '
    test -f "$FLOR_BUILD/tests/libfaultinject.so" &&
    new_project proj && cd proj &&
    for seed in 1 2 3; do
        FLOR_OVERHEAD=1 ckpt --kwargs epochs=6 kb=64 seed=$seed >/dev/null || exit 1
    done &&
    all_restore 18
'

test_expect_success 'the reported loss: index deleted, gc --keep-runs 100 refuses, keeps the pack' '
    copy c1 && cd c1 &&
    rm $I &&
    store_state >before &&
    test_exit_code 1 flor gc --keep-runs 100 --dry-run 2>err &&
    grep "pack-000001.pack. has no index; run .flor fsck --repair." err &&
    test_exit_code 1 flor gc --keep-runs 100 2>err &&
    grep "^flor: gc changed nothing: .*pack-000001.pack. has no index; run .flor fsck --repair." err &&
    store_state >after && test_cmp before after &&
    flor fsck --repair >/dev/null &&
    all_restore 18 &&
    flor gc --keep-runs 100 >/dev/null && all_restore 18 &&
    flor gc --keep-runs 1 --every 0 >/dev/null && all_restore 8 && flor fsck
'

test_expect_success 'an index truncated at a record boundary: gc refuses, rows and pack stay' '
    copy c2 && cd c2 &&
    truncate -s $((16 + 5 * 64)) $I &&
    store_state >before &&
    test_exit_code 1 flor gc --keep-runs 1 --every 0 --dry-run 2>err &&
    grep "chunks that kept checkpoints need are in no index" err &&
    grep "flor fsck --repair" err &&
    test_exit_code 1 flor gc --keep-runs 1 --every 0 2>err &&
    store_state >after && test_cmp before after &&
    test "$(q "SELECT count(*) FROM checkpoints")" -eq 18 &&
    flor fsck --repair >/dev/null && all_restore 18 &&
    flor gc --keep-runs 1 --every 0 >/dev/null && all_restore 8 && flor fsck
'

test_expect_success 'a damaged index record: gc refuses and names the index' '
    copy c3 && cd c3 &&
    flip $I $((16 + 64 + 7)) &&
    test_exit_code 1 flor gc --keep-runs 1 --every 0 2>err &&
    grep "pack-000001.idx. has 1 damaged records" err &&
    test "$(q "SELECT count(*) FROM checkpoints")" -eq 18 &&
    flor fsck --repair >/dev/null && all_restore 18 &&
    flor gc --keep-runs 1 --every 0 >/dev/null && all_restore 8 && flor fsck
'

test_expect_success 'a corrupt kept chunk: gc refuses; fsck --repair drops it; gc then proceeds' '
    copy c4 && cd c4 &&
    flip $P $((16 + 64 + 100)) &&
    store_state >before &&
    test_exit_code 1 flor gc --keep-runs 1 --every 0 --dry-run 2>err &&
    grep "pack-000001.pack.: chunk .* at offset 16: checksum mismatch; .* run .flor fsck --repair." err &&
    test_exit_code 1 flor gc --keep-runs 1 --every 0 2>err &&
    grep "checksum mismatch" err &&
    store_state >after && test_cmp before after &&
    test "$(q "SELECT count(*) FROM checkpoints")" -eq 18 &&
    flor fsck --repair >/dev/null && all_restore 12 &&
    flor gc --keep-runs 1 --every 0 >/dev/null && flor fsck && all_restore 7
'

# gc_under_fault OPS ERRNO STICKY: sweeps N over every counted write or
# sync that a gc makes in the store; after each, nothing is lost.
gc_under_fault() {
    copy count && (cd count && rm -f ../calls &&
        FAULT_PATH=objects FAULT_OPS=$1 FAULT_REPORT=../calls LD_PRELOAD="$INJECT" \
            flor gc --keep-runs 1 --every 0 >/dev/null) &&
    calls=$(cut -d" " -f1 calls) && test "$calls" -ge 2 &&
    n=1 && while [ $n -le "$calls" ]; do
        copy f && (cd f &&
            if FAULT_PATH=objects FAULT_OPS=$1 FAULT_ERRNO=$2 FAULT_STICKY=$3 FAULT_AT=$n \
                LD_PRELOAD="$INJECT" flor gc --keep-runs 1 --every 0 >/dev/null 2>err; then
                kept=8
            else
                grep "^flor: cannot .*\.flor/objects/.*: \(No space left on device\|Input/output error\)" err &&
                kept=18
            fi &&
            flor fsck >/dev/null && all_restore $kept) || { echo "failed at call $n"; exit 1; }
        n=$((n + 1))
    done
}

test_expect_success 'ENOSPC at each write and sync of a gc: no row lost, all restore' '
    gc_under_fault write,sync ENOSPC 0
'

test_expect_success 'a disk that stays full from each write of a gc on' '
    gc_under_fault write ENOSPC 1
'

test_expect_success 'EIO at each sync of a gc' '
    gc_under_fault sync EIO 0
'

test_done
