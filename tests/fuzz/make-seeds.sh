#!/bin/sh
# Regenerates the committed seed corpus, tests/fuzz/corpus/<target>/, from
# real flor output: two recorded runs of tests/progs/ckpt.c (checkpoints on)
# in a fresh git repository give flor.db, its manifests and a pack with its
# index; the store fixture the pack/idx targets build (store_fixture.h) gives
# a pack with raw, zstd, shuffle and xor records, whose stored bytes seed the
# codec.  Every seed is a few KB.  Run from anywhere after `make` and
# `make fuzz-build`:
#
#   sh tests/fuzz/make-seeds.sh
set -eu
cd "$(dirname "$0")/../.."
top=$PWD
py=/usr/bin/python3
for f in build/progs/ckpt build-fuzz/fuzz_pack; do
    [ -x "$f" ] || { echo "make-seeds: $f is missing: run make build/progs/ckpt fuzz-build" >&2; exit 2; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
corpus=tests/fuzz/corpus
for t in codec db idx kwargs manifest pack replay_flag source; do
    mkdir -p "$corpus/$t"
done

# Two real runs.
export GIT_AUTHOR_NAME=flor-seeds GIT_AUTHOR_EMAIL=seeds@flor GIT_COMMITTER_NAME=flor-seeds \
       GIT_COMMITTER_EMAIL=seeds@flor
unset FLOR_DIR FLOR_REPLAY FLOR_REPLAY_RUN FLOR_PROBE
mkdir "$tmp/proj"
(cd "$tmp/proj" && git init -q -b main && echo seeds >README.md && git add README.md &&
    git commit -q -m init &&
    FLOR_OVERHEAD=1 "$top/build/progs/ckpt" --kwargs epochs=3 kb=2 seed=7 >/dev/null &&
    FLOR_OVERHEAD=1 "$top/build/progs/ckpt" --kwargs epochs=2 kb=1 seed=8 >/dev/null)
flor=$tmp/proj/.flor
cp "$flor/objects/pack-000001.pack" "$corpus/pack/ckpt.pack"
cp "$flor/objects/pack-000001.idx" "$corpus/idx/ckpt.idx"

# flor.db, shrunk to 512-byte pages; its manifests, one seed each (a few).
sqlite3 "$flor/flor.db" "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE;" >/dev/null
cp "$flor/flor.db" "$tmp/small.db"
sqlite3 "$tmp/small.db" "PRAGMA page_size=512; VACUUM;"
cp "$tmp/small.db" "$corpus/db/ckpt.db"
$py - "$flor/flor.db" "$corpus/manifest" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = db.execute("SELECT ckpt_id, name, manifest FROM checkpoint_objects "
                  "ORDER BY ckpt_id, name LIMIT 4").fetchall()
for ckpt, name, blob in rows:
    open("%s/ckpt%d-%s" % (sys.argv[2], ckpt, name), "wb").write(blob)
PY

# The fixture's pack and index; its records' stored bytes seed the codec,
# both as stored bytes to decode and as raw bytes to round-trip.
FLOR_FUZZ_DUMP=$tmp/fixture build-fuzz/fuzz_pack -runs=0 >/dev/null 2>&1
cp "$tmp/fixture.pack" "$corpus/pack/fixture.pack"
cp "$tmp/fixture.idx" "$corpus/idx/fixture.idx"
$py - "$tmp/fixture.pack" "$corpus/codec" <<'PY'
import struct, sys
p = open(sys.argv[1], "rb").read()
off, k = 16, 0
esize_code = {1: 0, 2: 1, 4: 2, 8: 3}
while off + 64 <= len(p):
    codec, esize = p[off + 5], p[off + 6]
    raw, stored = struct.unpack_from("<II", p, off + 8)
    body = p[off + 64: off + 64 + stored]
    head = bytes([codec, esize_code.get(esize, 0)]) + struct.pack("<H", raw & 0xffff)
    open("%s/record%d-codec%d" % (sys.argv[2], k, codec), "wb").write(head + body)
    k += 1
    off += 64 + stored
# round trips: typed data (f32-like), text, and a near copy for xor
import math
f32 = b"".join(struct.pack("<f", 1.0 + (i % 97) / 128.0) for i in range(512))
open("%s/roundtrip-f32" % sys.argv[2], "wb").write(bytes([0x81, 2, 0, 0]) + f32)
text = (b"epoch step loss accuracy\n" * 40)
open("%s/roundtrip-text" % sys.argv[2], "wb").write(bytes([0x80, 0, 0, 0]) + text)
PY

# Program text: the C loop of tests/progs/ckpt.c and the Python example.
# Byte 0: 0 for C, 1 for Python; bytes 1-2: a line number inside the loop.
{ printf '\000\010\000'; sed -n '/FLOR_LOOP(epoch/,/^}/p' tests/progs/ckpt.c; } >"$corpus/source/ckpt.c"
{ printf '\001\014\000'; head -c 2500 examples/linear.py; } >"$corpus/source/linear.py"

# Flags.
printf -- '--kwargs\000lr=0.01\000epochs=3\000flag=yes\000name=abc\000lr=1e-3\000--\000--kwargs\000x=1' \
    >"$corpus/kwargs/seed-1"
printf -- '--kwargs\000batch=0x20\000depth=-7\000rate=inf\000on=off\000--kwargs\000a=' \
    >"$corpus/kwargs/seed-2"
printf -- 'train.py\000--replay_flor\0002/4\000--probe\000epoch,step\000--replay_run\0003\000--\000--replay_flor' \
    >"$corpus/replay_flag/seed-1"
printf -- '--replay_flor\000--kwargs\000a=b' >"$corpus/replay_flag/seed-2"
du -sh "$corpus"
