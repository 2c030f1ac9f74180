#!/bin/sh
# bench_remote.sh -- the checkpoint store's remote, against the real S3
# server of the tests (radosgw on 127.0.0.1, tests/s3/server.sh):
#
# 1. Upload: `flor push` of a store of incompressible checkpoints (BYTES of
#    random state, recorded with spooling off) ÷ `curl -T` of the same pack
#    file to the same server, as throughputs (goal: at least 0.8).
# 2. Replay from the remote ÷ replay from local packs: the example
#    (examples/linear.c) with a hindsight statement replayed over its 4
#    checkpoints, once with its packs here, once right after `flor gc
#    --evict` (goal: at most 1.5 on localhost).
# 3. Record with spooling on ÷ off: the example recorded with a checkpoint
#    every epoch, the remote set, and with FLOR_REMOTE= (goal: at most
#    1.01).
#
# Each ratio is measured RUNS (3) times, the two sides interleaved; the
# median and the range are printed.
#
#   FLOR_BUILD=build sh bench/bench_remote.sh [RUNS]
set -e
: "${FLOR_BUILD:?set FLOR_BUILD to the build directory}"
REPO=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-3}
export FLOR_QUIET=1
PATH="$FLOR_BUILD:$FLOR_BUILD/examples:$FLOR_BUILD/progs:$PATH"
work=$(mktemp -d "${TMPDIR:-/tmp}/flor-bench-remote.XXXXXX")
trap 'sh "$REPO/tests/s3/server.sh" stop "$work/s3" >/dev/null 2>&1; rm -rf "$work"' EXIT

. "$REPO/bench/lib.sh"

if ! sh "$REPO/tests/s3/server.sh" start "$work/s3" >"$work/server.out" 2>&1; then
    echo "remote: skipped, the S3 test server did not start:"; tail -n 5 "$work/server.out"
    exit 0
fi
eval "$(sh "$REPO/tests/s3/server.sh" env "$work/s3")"
export AWS_ACCESS_KEY_ID="$FLOR_TEST_S3_KEY" AWS_SECRET_ACCESS_KEY="$FLOR_TEST_S3_SECRET"
EP=$FLOR_TEST_S3_ENDPOINT

# ---- 1. upload throughput -------------------------------------------------
mkdir -p "$work/up" && cd "$work/up" && git init -q
flor remote add s3://bench/up0 --endpoint "$EP" --create-bucket
env FLOR_REMOTE= FLOR_OVERHEAD=1 ckpt --kwargs epochs=2 kb=65536 seed=5 >/dev/null
pack=$(ls .flor/objects/*.pack | head -n 1)
bytes=$(stat -c %s "$pack")
: >"$work/up.ratios"
for i in $(seq "$RUNS"); do
    flor remote add "s3://bench/up$i" --endpoint "$EP"
    tf=$(took flor push)
    tc=$(took curl -sS -f --aws-sigv4 "aws:amz:us-east-1:s3" \
        -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
        --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -T "$pack" "$EP/bench/curl$i.pack")
    calc "$tc / $tf" >>"$work/up.ratios"
    echo "  round $i: flor push $(calc "$bytes / 1048576 / $tf") MiB/s, curl PUT $(calc "$bytes / 1048576 / $tc") MiB/s"
done
echo "upload throughput, flor push / curl PUT ($((bytes >> 20)) MiB pack): $(summary "$work/up.ratios")"

# ---- 2. replay from the remote / from local packs ---------------------------
LIBS="$FLOR_BUILD/libflor.a $(pkg-config --libs sqlite3 libgit2 libzstd libxxhash libcurl libpq) -lpthread -lm -lz"
ARGS="epochs=4 ntrain=10000 ntest=1000 hidden=256 print_every=1000"
sed 's|^        double t1 = now();|        { double s2 = 0; for (size_t k = 0; k < st.nparams; k++) s2 += (double)st.params[k] * st.params[k]; flor_log("weight_norm", sqrt(s2)); }\
        double t1 = now();|' "$REPO/examples/linear.c" >"$work/linear_norm.c"
mkdir -p "$work/rp" && cd "$work/rp" && git init -q
# the program with the statement, under the recorded program's name
cc -std=c11 -D_GNU_SOURCE -O3 -fno-math-errno -I"$REPO/include" "$work/linear_norm.c" \
    -o "$work/rp/linear" $LIBS
flor remote add s3://bench/rp --endpoint "$EP"
FLOR_OVERHEAD=1 "$FLOR_BUILD/examples/linear" --kwargs $ARGS >/dev/null
forget() { sqlite3 .flor/flor.db "DELETE FROM logs WHERE source = 'replay'; DELETE FROM replays"; }
: >"$work/rp.ratios"
for i in $(seq "$RUNS"); do
    forget
    flor pull >/dev/null
    tl=$(took ./linear --replay_flor)
    forget
    flor gc --evict >/dev/null
    tr=$(took ./linear --replay_flor)
    calc "$tr / $tl" >>"$work/rp.ratios"
    echo "  round $i: local $(calc "$tl") s, remote $(calc "$tr") s"
done
echo "replay, remote / local ($(du -sh .flor/objects | cut -f1) of packs after the last): $(summary "$work/rp.ratios")"

# ---- 3. record with spooling on / off -----------------------------------------
ARGS3="epochs=3 ntrain=20000 ntest=2000 hidden=256 print_every=1000"
mkdir -p "$work/on" "$work/off"
(cd "$work/on" && git init -q && flor remote add s3://bench/rec --endpoint "$EP")
(cd "$work/off" && git init -q)
: >"$work/rec.ratios"
for i in $(seq "$RUNS"); do
    toff=$(cd "$work/off" && took env FLOR_OVERHEAD=1 linear --kwargs $ARGS3 seed=$i)
    ton=$(cd "$work/on" && took env FLOR_OVERHEAD=1 linear --kwargs $ARGS3 seed=$i)
    calc "$ton / $toff" >>"$work/rec.ratios"
    echo "  round $i: spooling off $(calc "$toff") s, on $(calc "$ton") s"
done
cd "$work/on"
test "$(flor du --places --format csv | grep '^local only,' | cut -d, -f3)" -eq 0
echo "record, spooling on / off (a checkpoint every epoch): $(summary "$work/rec.ratios")"
