#!/bin/sh
# flor serve's answers kept while the project is unchanged (--cache-mb):
# the page's first answers read ahead when the server starts and again
# once a change has settled; an answer given again only while nothing was
# committed since it was read; a run recording seen as it grows; large
# answers kept compressed and sent so to clients that take zstd; the
# cache's bound; --cache-mb 0; its bad values.  The X-Flor-Cache header
# says whether an answer was kept (hit) or read for the request (miss).
. "$(dirname "$0")/lib.sh"
. "$TEST_SRC/serve-lib.sh"

# cached PATH: "hit", "miss" or "none" (no header) for GET PATH; the body
# in ./body
cached() {
    url=$(cat "$TRASH/serve.url")
    curl -s -D headers -o body "${url%/}/$1" &&
    tr -d '\r' <headers | sed -n 's/^[Xx]-[Ff]lor-[Cc]ache: //p' | grep . || echo none
}

# values NAME: the number of values of NAME inside loops, as flor query has it
values() {
    (cd proj && flor query "SELECT count(*) FROM logs WHERE name = '$1' AND ctx_id IS NOT NULL" \
                --format csv | tail -n 1)
}

# f64_count: the number of values in ./body, an answer of format=f64
f64_count() {
    python3 -c "
import struct
b = open('body', 'rb').read()
n = struct.unpack_from('<Q', b, 8)[0]
w = struct.unpack_from('<%dd' % ((len(b) - 16 - (n + 7) // 8 * 8) // 8), b, 16 + (n + 7) // 8 * 8)
k, total = 1, 0
for _ in range(int(w[0])):
    cnt, h, d = int(w[k + 1]), int(w[k + 2]), int(w[k + 3])
    total += cnt
    k += 4 + cnt + 2 * h + d
assert k == len(w)
print(total)"
}

test_expect_success 'setup: two runs of curves' '
    new_project proj && cp "$FLOR_BUILD/progs/curves" proj/ &&
    (cd proj && ./curves && ./curves --kwargs lr=0.5) &&
    serve_start proj
'

test_expect_success 'the page'\''s first answers are read ahead when the server starts' '
    sleep 2 &&
    test "$(cached "api/series?format=f64&first=1&name=")" = hit &&
    test "$(f64_count)" = "$(values loss)" &&
    test "$(cached api/runs)" = hit && test "$(cached api/names)" = hit &&
    test "$(cached api/dataframe)" = hit && test "$(cached api/changes)" = hit
'

test_expect_success 'another answer is read once, then given again, the same bytes' '
    test "$(cached "api/series?name=val_loss")" = miss && mv body first &&
    test "$(cached "api/series?name=val_loss")" = hit && cmp first body &&
    test "$(cached "api/series?name=val_loss&runs=2")" = miss &&
    test "$(cached "api/series?runs=2&name=val_loss")" = hit
'

test_expect_success 'a run recorded meanwhile: the next answers are read afresh and show it' '
    (cd proj && ./curves --kwargs lr=0.75 epochs=2) &&
    test "$(cached "api/series?name=val_loss")" = miss &&
    grep -q "\"run\":3" body &&
    test "$(cached "api/series?name=loss&format=f64")" = miss &&
    test "$(f64_count)" = "$(values loss)" && test "$(values loss)" -eq 100 &&
    test "$(cached api/runs)" = miss && grep -q "\[3," body
'

test_expect_success 'once the project is quiet again, the first answers are read ahead again' '
    sleep 3 &&
    test "$(cached "api/series?format=f64&first=1&name=")" = hit &&
    test "$(f64_count)" = 100
'

test_expect_success 'a run recording: every answer is as current as the database' '
    { (cd proj && exec ./curves --kwargs epochs=1 steps=40 sleep_ms=50) & } &&
    echo $! >train.pid &&
    : >counts &&
    for i in 1 2 3 4 5 6 7 8; do
        cached "api/series?name=loss&format=f64&runs=4" >/dev/null && f64_count >>counts &&
        sleep 0.3 || return 1
    done &&
    wait "$(cat train.pid)" &&
    sort -n -c counts &&
    test "$(sort -u counts | wc -l)" -ge 2 &&
    cached "api/series?name=loss&format=f64&runs=4" >/dev/null &&
    test "$(f64_count)" = 40 &&
    serve_stop
'

test_expect_success 'the cache is bounded: an answer larger than it is never kept, and the least recently used goes first' '
    new_project big && cp "$FLOR_BUILD/progs/curves" big/ &&
    (cd big && ./curves --kwargs epochs=1 steps=60000 && ./curves --kwargs epochs=1 steps=10) &&
    serve_start big --cache-mb 1 &&
    test "$(cached "api/series?name=loss")" = miss && test "$(wc -c <body)" -gt 1048576 &&
    test "$(cached "api/series?name=loss")" = miss &&
    url=$(cat "$TRASH/serve.url") &&
    kept=$(curl -s -H "Accept-Encoding: zstd" "${url}api/series?name=loss&format=f64&runs=1" | wc -c) &&
    n=$((1048576 / kept + 2)) &&
    for d in $(seq 1 $n); do
        cached "api/series?name=loss&format=f64&runs=1&digits=$d" >/dev/null || return 1
    done &&
    test "$(cached "api/series?name=loss&format=f64&runs=1&digits=$n")" = hit &&
    test "$(cached "api/series?name=loss&format=f64&runs=1&digits=1")" = miss &&
    serve_stop
'

test_expect_success 'a large answer is sent compressed to a client that takes zstd, the same once decoded' '
    serve_start big &&
    url=$(cat "$TRASH/serve.url") &&
    curl -s -o plain "${url}api/series?name=loss" &&
    test "$(wc -c <plain)" -gt 1000000 &&
    curl -s --compressed -D headers -o decoded "${url}api/series?name=loss" &&
    tr -d "\r" <headers >h && grep -qi "^content-encoding: zstd" h && grep -qi "^x-flor-cache: hit" h &&
    cmp plain decoded &&
    curl -s -H "Accept-Encoding: zstd" -o raw "${url}api/series?name=loss" &&
    test "$(wc -c <raw)" -lt "$(wc -c <plain)" &&
    curl -s -H "Accept-Encoding: gzip, zstd;q=0" -D headers -o refused "${url}api/series?name=loss" &&
    ! grep -qi "^content-encoding" headers && cmp plain refused &&
    curl -s --compressed -D headers -o small "${url}api/names" &&
    ! grep -qi "^content-encoding" headers &&
    serve_stop
'

test_expect_success '--cache-mb 0: nothing kept, every answer read when asked, and the same' '
    serve_start proj --cache-mb 0 &&
    test "$(cached "api/series?name=val_loss")" = none && mv body first &&
    test "$(cached "api/series?name=val_loss")" = none && cmp first body &&
    serve_stop
'

test_expect_success '--cache-mb: a number of megabytes, or a clear error' '
    for bad in -1 x 1.5 "" 2000000; do
        test_must_fail flor serve --cache-mb "$bad" 2>err &&
        grep -q "cache-mb .*expected a number of megabytes from 0 to 1048576" err || return 1
    done &&
    test_must_fail flor serve --cache-mb 2>err && grep -q "cache-mb needs a value" err
'

test_done
