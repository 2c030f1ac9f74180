#!/bin/sh
# bench_fsck.sh -- `flor fsck` on a store of realistic size against a plain
# `cat` of the same files to /dev/null (goal: at most 2x).  The store is
# made by tests/progs/ckpt: a run of EPOCHS checkpoints of a MB-MiB buffer
# of incompressible words that changes every epoch, so the packs hold
# about EPOCHS x MB MiB.  Both are timed with the files in the page cache,
# best of three, so the figure is fsck's own work (reading, checksumming
# every record, checking every index and every checkpoint's chunks).
#
#   FLOR_BUILD=build sh bench/bench_fsck.sh [MB [EPOCHS]]
set -e
: "${FLOR_BUILD:?set FLOR_BUILD to the build directory}"
MB=${1:-32}
EPOCHS=${2:-16}
export FLOR_QUIET=1
PATH="$FLOR_BUILD:$FLOR_BUILD/progs:$PATH"
work=$(mktemp -d "${TMPDIR:-/tmp}/flor-bench-fsck.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work" && git init -q
FLOR_OVERHEAD=1 ckpt --kwargs epochs="$EPOCHS" kb=$((MB * 1024)) >/dev/null

now() { date +%s.%N; }
best() { # best of three timings of "$@", in seconds
    b=""
    for i in 1 2 3; do
        t0=$(now); "$@" >/dev/null; t1=$(now)
        t=$(echo "$t1 - $t0" | bc -l)
        if [ -z "$b" ] || [ "$(echo "$t < $b" | bc -l)" -eq 1 ]; then b=$t; fi
    done
    echo "$b"
}
bytes=$(cat .flor/objects/pack-* .flor/flor.db | wc -c)
cat .flor/objects/pack-* .flor/flor.db >/dev/null # into the page cache
tc=$(best cat .flor/objects/pack-* .flor/flor.db)
tf=$(best flor fsck)
flor fsck >/dev/null # and it is clean
echo "flor fsck on $((bytes >> 20)) MiB ($EPOCHS checkpoints): $(printf %.3f "$tf") s;" \
     "cat: $(printf %.3f "$tc") s; ratio $(echo "scale=2; $tf / $tc" | bc -l)"
