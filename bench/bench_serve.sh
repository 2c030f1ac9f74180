#!/bin/sh
# flor serve (docs/serve.md): from the page's request to the curves drawn,
# in headless Chromium, for 1,000 runs x 1,000 values and for 1 run x
# 1,000,000 (goal < 1 s each): once the server has read the page's first
# answers ahead (as it does when it starts), and cold (--cache-mb 0: every
# answer read when the page asks); and the server's JSON and float64
# arrays for the 1 M-point series against the CSV of the same rows from
# flor query (goal <= 1).
set -e
: "${FLOR_BUILD:?set FLOR_BUILD (make bench does)}"
REPO=$(cd "$(dirname "$0")/.." && pwd)
export FLOR_QUIET=1
PATH="$FLOR_BUILD:$PATH"
CURVES="$FLOR_BUILD/progs/curves"
RUNS=${FLOR_BENCH_SERVE_RUNS:-1000}
work=$(mktemp -d "${TMPDIR:-/tmp}/flor-bench-serve.XXXXXX")
server=
trap 'if [ -n "$server" ]; then kill "$server" 2>/dev/null; fi; rm -rf "$work"' EXIT

# serve DIR [OPTION...]: starts flor serve in DIR; sets $server and $url
serve() {
    dir=$1
    shift
    rm -f "$work/url"
    (cd "$dir" && exec flor serve --port 0 "$@" >"$work/url" 2>"$work/serve.err") &
    server=$!
    while ! grep -q "^flor serve: " "$work/url" 2>/dev/null; do sleep 0.1; done
    url=$(sed -n 's/^flor serve: //p' "$work/url")
}

# ready: waits until the server holds the page's first curves, read ahead
ready() {
    until curl -sI "${url}api/series?format=f64&first=1&name=" | grep -qi '^x-flor-cache: hit'; do
        sleep 0.2
    done
}

stop() {
    kill "$server" && wait "$server" 2>/dev/null || true
    server=
}

# $RUNS runs of 1,000 values of loss (and 1 of val_loss), two at a time
mkdir "$work/many" "$work/one"
(cd "$work/many" && "$CURVES" --kwargs epochs=1 steps=1000 2>/dev/null &&
 seq 2 "$RUNS" | xargs -P 2 -I{} "$CURVES" --kwargs epochs=1 steps=1000 lr=0.{} >/dev/null 2>&1)
(cd "$work/one" && "$CURVES" --kwargs epochs=1 steps=1000000 2>/dev/null)

for project in many one; do
    if [ $project = many ]; then
        what="$RUNS runs x 1,000 values"
        points=$((RUNS * 1000))
    else
        what="1 run x 1,000,000 values"
        points=1000000
    fi
    serve "$work/$project"
    ready
    printf '%s, request to curves drawn, first answers read ahead (goal < 1 s): ' "$what"
    python3 "$REPO/bench/serve_page_time.py" "$url" $points
    stop
    serve "$work/$project" --cache-mb 0
    printf '%s, request to curves drawn, cold: --cache-mb 0 (goal < 1 s): ' "$what"
    python3 "$REPO/bench/serve_page_time.py" "$url" $points
    [ $project = one ] || stop
done
json=$(curl -s "${url}api/series?name=loss" | wc -c)
f64=$(curl -s "${url}api/series?name=loss&format=f64" | wc -c)
csv=$(cd "$work/one" && flor query "SELECT run_id, value FROM logs WHERE name = 'loss'" --format csv | wc -c)
t0=$(date +%s.%N)
curl -s -o /dev/null "${url}api/series?name=loss"
t1=$(date +%s.%N)
curl -s -o /dev/null "${url}api/series?name=loss&format=f64"
t2=$(date +%s.%N)
(cd "$work/one" && flor query "SELECT run_id, value FROM logs WHERE name = 'loss'" --format csv >/dev/null)
t3=$(date +%s.%N)
stop
secs() { echo "$2 - $1" | bc -l | cut -c1-5; }
echo "1 M-point series: /api/series JSON $json bytes, format=f64 $f64 bytes, flor query CSV" \
     "$csv bytes: JSON / CSV = $(echo "scale=3; $json / $csv" | bc -l)," \
     "f64 / CSV = $(echo "scale=3; $f64 / $csv" | bc -l) (goal <= 1);" \
     "time JSON $(secs "$t0" "$t1") s, f64 $(secs "$t1" "$t2") s, CSV $(secs "$t2" "$t3") s"
