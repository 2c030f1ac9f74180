#!/bin/sh
# The checkpoint store spooled to S3 (a real server: Ceph's radosgw on
# 127.0.0.1, tests/s3/server.sh): runs copy their checkpoints to the remote
# while they record; evicted packs come back bit for bit when a replay or a
# restore needs them; a clone of the project that never recorded a run
# pulls and replays it; kill -9 during uploads leaves nothing half done;
# bad keys, a missing bucket, a stopped server, a 5xx in the middle of a
# multipart upload and an object altered on the server each give a clear
# message and lose nothing local.
. "$(dirname "$0")/lib.sh"

S3DIR="$TRASH/s3"
trap 'sh "$REPO_ROOT/tests/s3/server.sh" stop "$S3DIR" >/dev/null 2>&1;
      [ -f "$TRASH/proxy.pid" ] && kill "$(cat "$TRASH/proxy.pid")" 2>/dev/null;
      cd /; rm -rf "$TRASH"' EXIT

sh "$REPO_ROOT/tests/s3/server.sh" start "$S3DIR" >"$TRASH/server.out" 2>&1
case $? in
0) ;;
2) echo "skip $TEST_NAME: radosgw is not installed (scripts/install-deps.sh installs it)"
   exit 0 ;;
*) echo "FAIL $TEST_NAME: the S3 server did not start"; cat "$TRASH/server.out"; exit 1 ;;
esac
eval "$(sh "$REPO_ROOT/tests/s3/server.sh" env "$S3DIR")"
export AWS_ACCESS_KEY_ID="$FLOR_TEST_S3_KEY" AWS_SECRET_ACCESS_KEY="$FLOR_TEST_S3_SECRET"
unset AWS_PROFILE AWS_REGION AWS_DEFAULT_REGION AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 \
      AWS_SESSION_TOKEN FLOR_REMOTE FLOR_S3_ENDPOINT FLOR_REMOTE_CACHE
export AWS_SHARED_CREDENTIALS_FILE=/nonexistent AWS_CONFIG_FILE=/nonexistent
EP=$FLOR_TEST_S3_ENDPOINT
ARGS="epochs=4 ntrain=2000 ntest=500 hidden=32 print_every=20"

# s3 METHOD PATH [curl args]: a signed request to the test server
s3() {
    m=$1 p=$2
    shift 2
    curl -sS -f --aws-sigv4 "aws:amz:us-east-1:s3" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
        --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -X "$m" "$@" "$EP$p"
}

# start_proxy NAME FAIL: tests/s3/faultproxy.py in front of the server,
# failing as FAIL says; prints its port
start_proxy() {
    /usr/bin/python3 "$REPO_ROOT/tests/s3/faultproxy.py" "$TRASH/$1" "$EP" "$2" \
        >/dev/null 2>&1 </dev/null &
    echo $! >"$TRASH/proxy.pid"
    n=0
    while [ ! -f "$TRASH/$1" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
    cat "$TRASH/$1"
}

stop_proxy() {
    kill "$(cat "$TRASH/proxy.pid")" && rm "$TRASH/proxy.pid"
}

# the multipart uploads under way in BUCKET
uploads_under_way() {
    s3 GET "/$1?uploads=" | grep -o "<UploadId>" | wc -l
}

# local_only: chunks still only in the local store
local_only() {
    flor du --places --format csv | grep "^local only," | cut -d, -f3
}

# The statement added after the runs: the weight norm, after the step loop.
add_weight_norm() {
    sed 's|^        double t1 = now();|        { double s2 = 0; for (size_t k = 0; k < st.nparams; k++) s2 += (double)st.params[k] * st.params[k]; flor_log("weight_norm", sqrt(s2)); }\
        double t1 = now();|' "$REPO_ROOT/examples/linear.c"
}

SAN=""
case "$FLOR_BUILD" in *build-san) SAN="-fsanitize=address,undefined" ;; esac
LIBS="$FLOR_BUILD/libflor.a $(pkg-config --libs sqlite3 libgit2 libzstd libxxhash libcurl libpq) -lpthread -lm -lz"

# replay_both: replays runs 1 and 2 with the statement added
replay_both() {
    ./linear --replay_flor --replay_run 1 >/dev/null 2>&1 &&
    ./linear --replay_flor --replay_run 2 >/dev/null 2>&1
}

# the replayed weight norms of every run, "run,epoch,value", full precision
norms() {
    sqlite3 .flor/flor.db "SELECT l.run_id, lp.iteration, printf('%.17g', l.value) FROM logs l
        JOIN loops lp ON lp.run_id = l.run_id AND lp.ctx_id = l.ctx_id
        WHERE l.name = 'weight_norm' ORDER BY 1, 2"
}

test_expect_success 'setup: a remote for the project, before its first run' '
    add_weight_norm >with_norm.c && grep -q weight_norm with_norm.c &&
    cc $SAN -std=c11 -D_GNU_SOURCE -O2 -fno-math-errno -I"$REPO_ROOT/include" with_norm.c \
        -o linear_norm $LIBS &&
    new_project proj && cd proj &&
    flor remote add s3://flor-test/team/proj --endpoint "$EP" --path-style --create-bucket &&
    flor remote --format csv >out &&
    grep "^s3://flor-test/team/proj,$EP,us-east-1,path,,,project,environment$" out &&
    ! grep -r "$AWS_SECRET_ACCESS_KEY" .flor out
'

test_expect_success 'a version 5 database (before remotes) gets the remote tables in place' '
    new_project v5 && cd v5 &&
    FLOR_OVERHEAD=1 ckpt --kwargs epochs=2 kb=64 seed=9 >/dev/null &&
    sqlite3 .flor/flor.db "DROP TABLE remote_chunks; DROP TABLE remote_segments;
        DROP TABLE remotes; UPDATE meta SET value = 5 WHERE key = '"'schema_version'"'" &&
    flor remote add s3://flor-test/v5 --endpoint "$EP" &&
    test "$(sqlite3 .flor/flor.db "SELECT value FROM meta WHERE key = '"'schema_version'"'")" = 6 &&
    flor push --format csv | tail -n 1 | grep "^1,3," &&
    test "$(q "SELECT count(*) FROM runs")" -eq 1
'

test_expect_success 'remote add: a malformed URL or endpoint is refused, naming it' '
    cd proj &&
    test_exit_code 1 flor remote add http://flor-test 2>err &&
    grep "remote .http://flor-test.: expected s3://BUCKET or s3://BUCKET/PREFIX" err &&
    test_exit_code 1 flor remote add s3://Bad_Bucket 2>err &&
    grep "a bucket name has lowercase letters" err &&
    test_exit_code 1 flor remote add s3://flor-test --endpoint ftp://x 2>err &&
    grep "endpoint .ftp://x.: expected http" err &&
    test_exit_code 2 flor remote add s3://flor-test --cache lots 2>err &&
    grep "cache expects a size" err &&
    flor remote --format csv | grep -q "^s3://flor-test/team/proj,"
'

test_expect_success 'two runs copy their checkpoints to the remote as they record' '
    cd proj &&
    FLOR_OVERHEAD=1 linear --kwargs $ARGS seed=1 >/dev/null &&
    FLOR_OVERHEAD=1 linear --kwargs $ARGS seed=2 >/dev/null &&
    test "$(q "SELECT count(*) FROM checkpoints")" -eq 8 &&
    test "$(local_only)" -eq 0 &&
    test "$(q "SELECT count(*) FROM remote_segments")" -ge 1 &&
    s3 GET "/flor-test?list-type=2&prefix=team%2Fproj%2Fsegments%2F" >list &&
    grep -c "<Key>team/proj/segments/[0-9a-f]\{32\}\.seg</Key>" list &&
    flor push --format csv >out && tail -n 1 out | grep "^0,0,0,[0-9]*,0,0$"
'

test_expect_success 'replay from local packs, then evict them all and replay from the remote: the same values bit for bit' '
    cd proj && cp ../linear_norm ./linear &&
    replay_both && norms >../from_local &&
    test "$(wc -l <../from_local)" -eq 8 &&
    sqlite3 .flor/flor.db "DELETE FROM logs WHERE source = '"'replay'"'; DELETE FROM replays" &&
    flor gc --evict=1T --format csv | tail -n 1 | grep "^0,0,0," &&
    test_exit_code 2 flor gc --evict=lots 2>err && grep "evict expects a size" err &&
    flor gc --evict --format csv >out &&
    tail -n 1 out | grep "^0,1,0," &&
    ! ls .flor/objects/*.pack 2>/dev/null &&
    test "$(flor du --places --format csv | grep "^local," | cut -d, -f4)" -eq 0 &&
    replay_both && norms >../from_remote &&
    test_cmp ../from_local ../from_remote &&
    flor fsck --format csv >out && test "$(wc -l <out)" -eq 1
'

test_expect_success 'a clone elsewhere, with the database but no packs, pulls one run and replays both' '
    git clone -q proj clone && mkdir clone/.flor &&
    cp proj/.flor/flor.db clone/.flor/ && cd clone &&
    sqlite3 .flor/flor.db "DELETE FROM logs WHERE source = '"'replay'"'; DELETE FROM replays" &&
    flor pull 1 --format csv >out &&
    tail -n 1 out | grep "^1,4,[1-9][0-9]*,[1-9][0-9]*,0$" &&
    cp ../linear_norm ./linear &&
    replay_both && norms >../from_clone &&
    test_cmp ../from_local ../from_clone
'

test_expect_success 'flor fsck --remote --read finds every object whole' '
    cd proj && flor fsck --remote --read --format csv >out &&
    test "$(wc -l <out)" -eq 1
'

test_expect_success 'kill -9 during flor push at many points: fsck clean, no upload left open, the next push completes' '
    new_project big && cd big &&
    flor remote add s3://flor-test/big --endpoint "$EP" &&
    FLOR_REMOTE= FLOR_OVERHEAD=1 ckpt --kwargs epochs=2 kb=40960 seed=7 >/dev/null &&
    test "$(local_only)" -gt 0 &&
    for s in 0.05 0.15 0.3 0.45 0.6 0.8 1 1.3 1.6 2; do
        flor push >/dev/null 2>&1 &
        pid=$!
        sleep $s
        kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null || :
    done &&
    flor fsck --format csv >out && test "$(wc -l <out)" -eq 1 &&
    flor fsck --remote --read --format csv >out && test "$(wc -l <out)" -eq 1 &&
    flor push --format csv >out &&
    tail -n 1 out | grep ",0,[0-9]*$" &&
    test "$(local_only)" -eq 0 &&
    test "$(uploads_under_way flor-test)" -eq 0 &&
    flor gc --evict >/dev/null && ! ls .flor/objects/*.pack 2>/dev/null &&
    ckpt --verify >out && test "$(grep -c " ok$" out)" -eq 2
'

test_expect_success 'a wrong secret: a clear message without the secret; the run records, warns and keeps its checkpoints local' '
    new_project keys && cd keys &&
    flor remote add s3://flor-test/keys --endpoint "$EP" &&
    AWS_SECRET_ACCESS_KEY=not-the-secret-0123456789 FLOR_QUIET=0 FLOR_OVERHEAD=1 \
        ckpt --kwargs epochs=3 kb=64 seed=3 >/dev/null 2>err &&
    grep "flor: warning: checkpoints not copied to s3://flor-test/keys yet: .*403 SignatureDoesNotMatch" err &&
    grep "flor push" err &&
    ! grep "not-the-secret" err &&
    test "$(local_only)" -gt 0 &&
    test_exit_code 1 env AWS_SECRET_ACCESS_KEY=not-the-secret-0123456789 flor push 2>err &&
    grep "SignatureDoesNotMatch" err && ! grep "not-the-secret" err &&
    test_exit_code 1 env AWS_ACCESS_KEY_ID=NOSUCHKEY flor push 2>err &&
    grep "InvalidAccessKeyId" err &&
    ckpt --verify >out && test "$(grep -c " ok$" out)" -eq 3 &&
    flor push >/dev/null && test "$(local_only)" -eq 0
'

test_expect_success 'a missing bucket and no credentials: clear messages' '
    cd keys &&
    test_exit_code 1 env FLOR_REMOTE=s3://no-such-bucket-here FLOR_S3_ENDPOINT="$EP" flor push 2>err &&
    grep "no-such-bucket-here.*404 NoSuchBucket" err &&
    env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY flor remote --format csv >out &&
    grep ",none found$" out &&
    test_exit_code 1 env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY flor push 2>err &&
    grep -i "credentials" err
'

test_expect_success 'a 5xx on a part of a multipart upload: retried; failing every time, the upload is aborted and nothing local changes' '
    cd big &&
    flor remote add s3://flor-test/big5xx --endpoint "$EP" &&
    port=$(start_proxy port1 part:2:once) &&
    FLOR_S3_ENDPOINT="http://127.0.0.1:$port" flor push >/dev/null &&
    grep -q "partNumber=2.* 500 injected" "$TRASH/port1.log" &&
    test "$(local_only)" -eq 0 &&
    stop_proxy &&
    flor remote add s3://flor-test/big5xx-always --endpoint "$EP" &&
    md5sum .flor/objects/* >../before &&
    port=$(start_proxy port2 part:2) &&
    test_exit_code 1 env FLOR_S3_ENDPOINT="http://127.0.0.1:$port" flor push 2>err &&
    grep "500 InternalError" err &&
    stop_proxy &&
    test "$(uploads_under_way flor-test)" -eq 0 &&
    md5sum .flor/objects/* >../after && test_cmp ../before ../after &&
    test "$(local_only)" -gt 0 &&
    flor push >/dev/null && test "$(local_only)" -eq 0
'

test_expect_success 'an object altered on the server: fsck --remote --read finds it, --repair drops it, push uploads it again' '
    cd keys &&
    key=$(sqlite3 .flor/flor.db "SELECT key FROM remote_segments ORDER BY segment_id LIMIT 1") &&
    s3 GET "/flor-test/$key" -o seg && flip seg 200 &&
    s3 PUT "/flor-test/$key" -T seg -o /dev/null &&
    test_exit_code 1 flor fsck --remote --read --format csv >out &&
    grep "^remote,s3://flor-test/keys/segments/.*fails its checksum" out &&
    flor fsck --remote --read --repair --format csv >out &&
    grep "dropped from the catalogue" out &&
    test "$(local_only)" -gt 0 &&
    flor push >/dev/null &&
    flor fsck --remote --read --format csv >out && test "$(wc -l <out)" -eq 1
'

test_expect_success 'an object altered after its pack was evicted: the restore fails naming it, nothing is invented' '
    cd keys && flor gc --evict >/dev/null &&
    key=$(sqlite3 .flor/flor.db "SELECT key FROM remote_segments ORDER BY segment_id DESC LIMIT 1") &&
    s3 GET "/flor-test/$key" -o seg && flip seg 100 &&
    s3 PUT "/flor-test/$key" -T seg -o /dev/null &&
    test_must_fail ckpt --verify >out 2>&1 &&
    grep "checkpoint of run 1 at epoch=0: s3://flor-test/keys/segments/[0-9a-f]*\.seg: at byte [0-9]*: a record.s stored bytes do not match their checksum" out &&
    ! grep " ok$" out
'

test_expect_success 'the server stopped: a run records and warns; push and a fetch fail clearly; nothing local is lost' '
    cd proj && flor gc --evict >/dev/null &&
    sh "$REPO_ROOT/tests/s3/server.sh" stop "$S3DIR" &&
    FLOR_QUIET=0 FLOR_OVERHEAD=1 linear --kwargs $ARGS seed=3 >/dev/null 2>err &&
    grep "warning: checkpoints not copied to s3://flor-test/team/proj yet: .*failed" err &&
    test "$(q "SELECT status FROM runs WHERE run_id = 3")" = finished &&
    test "$(local_only)" -gt 0 &&
    test_exit_code 1 flor push 2>err &&
    grep "s3://flor-test/.*failed [0-9]* times.*127.0.0.1" err &&
    sqlite3 .flor/flor.db "DELETE FROM logs WHERE source = '"'replay'"'" &&
    test_must_fail ./linear --replay_flor --replay_run 1 >/dev/null 2>err &&
    grep "checkpoint of run 1 at epoch=0: .*s3://flor-test/team/proj/segments/.*failed [0-9]* times" err
'

test_done
