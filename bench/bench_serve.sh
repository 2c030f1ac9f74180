#!/bin/sh
# flor serve (docs/serve.md): from the page's request to the curves drawn,
# in headless Chromium, for 1,000 runs x 1,000 values and for 1 run x
# 1,000,000 (goal < 1 s each); and the server's JSON and float64 arrays
# for the 1 M-point series against the CSV of the same rows from flor
# query (goal <= 1).
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

# serve DIR: starts flor serve in DIR; sets $server and $url
serve() {
    (cd "$1" && exec flor serve --port 0 >"$work/url" 2>"$work/serve.err") &
    server=$!
    while ! grep -q "^flor serve: " "$work/url"; do sleep 0.1; done
    url=$(sed -n 's/^flor serve: //p' "$work/url")
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

serve "$work/many"
printf '%s runs x 1,000 values, request to curves drawn (goal < 1 s): ' "$RUNS"
python3 "$REPO/bench/serve_page_time.py" "$url" $((RUNS * 1000))
stop

serve "$work/one"
printf '1 run x 1,000,000 values, request to curves drawn (goal < 1 s): '
python3 "$REPO/bench/serve_page_time.py" "$url" 1000000
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
