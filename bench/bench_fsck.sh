#!/bin/sh
# bench_fsck.sh -- `flor fsck` on a store of realistic size against a plain
# `cat` of the same files to /dev/null (goal: at most 2x).  The store is
# made by tests/progs/ckpt: a run of EPOCHS checkpoints of a MB-MiB buffer
# of incompressible words that changes every epoch, so the packs hold
# about EPOCHS x MB MiB.  Both are timed with the files in the page cache,
# in RUNS (5) interleaved pairs reported as median (range), so the figure
# is fsck's own work (reading, checksumming every record, checking every
# index and every checkpoint's chunks).
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
took() { # seconds "$@" takes
    t0=$(now); "$@" >/dev/null; t1=$(now)
    echo "$t1 - $t0" | bc -l
}
# median and range of the lines of a file of numbers: "MEDIAN (MIN-MAX)"
summary() {
    sort -g "$1" | awk '{ v[NR] = $1 } END {
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.3f (%.3f-%.3f)", m, v[1], v[NR] }'
}
bytes=$(cat .flor/objects/pack-* .flor/flor.db | wc -c)
cat .flor/objects/pack-* .flor/flor.db >/dev/null # into the page cache
flor fsck >/dev/null # and it is clean
# RUNS interleaved pairs, so that the machine's noise falls on both alike
: >cat.t; : >fsck.t; : >ratio.t
for i in $(seq "${RUNS:-5}"); do
    tc=$(took cat .flor/objects/pack-* .flor/flor.db)
    tf=$(took flor fsck)
    echo "$tc" >>cat.t; echo "$tf" >>fsck.t
    echo "$tf / $tc" | bc -l >>ratio.t
done
echo "flor fsck on $((bytes >> 20)) MiB ($EPOCHS checkpoints), median (range) of ${RUNS:-5}:" \
     "fsck $(summary fsck.t) s; cat $(summary cat.t) s; ratio $(summary ratio.t)"
