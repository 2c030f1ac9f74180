#!/bin/sh
# flor serve's JSON and its safety: what /api/ answers (checked against
# flor query), and what it refuses -- SQL in a parameter, a path that
# leaves the page's directory, any method that could write, a foreign Host,
# a non-local address without a token, a request without the token.
. "$(dirname "$0")/lib.sh"
. "$TEST_SRC/serve-lib.sh"

sum() { cksum <proj/.flor/flor.db; }

test_expect_success 'setup: two runs of curves, the second replayed with a hindsight statement' '
    new_project proj && cp "$FLOR_BUILD/progs/curves" proj/ &&
    (cd proj && FLOR_OVERHEAD=1 ./curves && ./curves --kwargs lr=0.5 epochs=2 &&
     CURVES_HINDSIGHT=1 CURVES_SHIFT=0.5 ./curves --replay_flor >/dev/null 2>&1) &&
    serve_start proj &&
    grep -q "^http://127.0.0.1:[0-9]*/\$" "$TRASH/serve.url"
'

test_expect_success 'the page and its files are served from the build' '
    test "$(http "")" = 200 && grep -q "<title>flor</title>" body &&
    test "$(http uPlot.iife.min.js)" = 200 && grep -q uPlot body &&
    test "$(http app.js)" = 200
'

test_expect_success '/api/runs and /api/dataframe: the tables of flor runs and flor dataframe' '
    test "$(http api/runs)" = 200 &&
    python3 -c "import json,sys; t=json.load(open(\"body\")); r=t[\"rows\"]; c=t[\"columns\"];
assert [x[c.index(\"run\")] for x in r] == [1, 2], r
assert [x[c.index(\"status\")] for x in r] == [\"finished\"] * 2, r" &&
    test "$(http api/dataframe)" = 200 &&
    python3 -c "import json; t=json.load(open(\"body\")); c=t[\"columns\"];
assert c[:3] == [\"projid\", \"tstamp\", \"filename\"] and \"lr\" in c, c
assert [r[c.index(\"lr\")] for r in t[\"rows\"]] == [0.25, 0.5], t"
'

test_expect_success '/api/names: the names logged inside loops, hindsight ones marked' '
    test "$(http api/names)" = 200 &&
    python3 -c "import json; t=json.load(open(\"body\"))
assert t[\"rows\"] == [[\"loss\", 0], [\"val_acc\", 1], [\"val_loss\", 0]], t"
'

test_expect_success '/api/series: every value of the name, in loop order, as flor query has them' '
    test "$(http "api/series?name=loss")" = 200 &&
    (cd proj && flor query "SELECT run_id, value FROM logs WHERE name = '\''loss'\''
                            ORDER BY run_id, ctx_id" --format csv) | tail -n +2 >expect &&
    python3 -c "import json; t=json.load(open(\"body\"))
for s in t[\"series\"]:
    for y in s[\"y\"]: print(\"%d,%r\" % (s[\"run\"], y))" >actual &&
    test_cmp expect actual &&
    test "$(wc -l <expect)" -eq 60
'

test_expect_success '/api/series: hindsight values and divergences are marked' '
    test "$(http "api/series?name=val_acc&runs=2")" = 200 &&
    grep -q "\"replay\":\[\[0,1\]\]" body &&
    test "$(http "api/series?name=val_loss&runs=1,2")" = 200 &&
    python3 -c "import json; t=json.load(open(\"body\"))
assert [s[\"divergences\"] for s in t[\"series\"]] == [[], [1]], t"
'

test_expect_success '/api/series?digits=D: the values rounded for a plot' '
    test "$(http "api/series?name=loss&runs=1&digits=3")" = 200 &&
    python3 -c "import json; t=json.load(open(\"body\"))
assert t[\"series\"][0][\"y\"][:4] == [1, 0.5, 0.333, 0.25], t[\"series\"][0][\"y\"][:4]" &&
    for d in 0 18 x 3x 100; do
        test "$(http "api/series?name=loss&digits=$d")" = 400 || return 1
    done
'

test_expect_success '/api/series?format=f64: the same series as float64 arrays, bit for bit as logged' '
    for q in "name=loss" "name=val_acc&runs=2" "name=val_loss&runs=1,2" "name=loss&runs=2"; do
        test "$(http "api/series?$q")" = 200 && mv body series.json &&
        test "$(http "api/series?$q&format=f64" -D headers)" = 200 &&
        grep -qi "^content-type: application/octet-stream" headers &&
        name=$(echo "$q" | sed "s/^name=//; s/&.*//") &&
        python3 "$REPO_ROOT/tests/tools/series_f64.py" compare body series.json \
            proj/.flor/flor.db "$name" >out &&
        cat out || return 1
    done &&
    test "$(http "api/series?name=val_loss&runs=1,2&format=f64")" = 200 &&
    python3 -c "import sys; sys.path.insert(0, \"$REPO_ROOT/tests/tools\"); import series_f64
s = series_f64.parse(open(\"body\", \"rb\").read())
assert [x[\"divergences\"] for x in s] == [[], [1]], s" &&
    test "$(http "api/series?name=val_acc&runs=2&format=f64")" = 200 &&
    python3 -c "import sys; sys.path.insert(0, \"$REPO_ROOT/tests/tools\"); import series_f64
s = series_f64.parse(open(\"body\", \"rb\").read())
assert s[0][\"replay\"] == [[0, 1]], s" &&
    test "$(http "api/series?name=no_such_name&format=f64")" = 200 &&
    python3 -c "import sys; sys.path.insert(0, \"$REPO_ROOT/tests/tools\"); import series_f64
assert series_f64.parse_named(open(\"body\", \"rb\").read()) == (\"no_such_name\", [])" &&
    test "$(http "api/series?name=loss&format=csv")" = 400 && grep -q "format: expected json or f64" body
'

test_expect_success '/api/series?first=1: the name asked for, else the first with loss in it, else the first' '
    for q in "name=val_acc" "name=" "name=no_such_name" "" "name=loss%27"; do
        test "$(http "api/series?format=f64&first=1&$q")" = 200 &&
        python3 -c "import sys; sys.path.insert(0, \"$REPO_ROOT/tests/tools\"); import series_f64
print(series_f64.parse_named(open(\"body\", \"rb\").read())[0])" >>picked || return 1
    done &&
    printf "%s\n" val_acc loss loss loss loss >expect &&
    test_cmp expect picked &&
    test "$(http "api/series?first=1&name=val_loss&runs=2")" = 200 &&
    python3 -c "import json; t=json.load(open(\"body\"))
assert t[\"name\"] == \"val_loss\" and [s[\"run\"] for s in t[\"series\"]] == [2], t" &&
    test "$(http "api/series?first=2&name=loss")" = 400 && grep -q "first: expected 1" body
'

test_expect_success '/api/run and /api/diff: a run page and flor diff' '
    test "$(http "api/run?id=2")" = 200 &&
    python3 -c "import json; t=json.load(open(\"body\"))
assert [\"lr\", 0.5, \"real\", 1] in t[\"args\"][\"rows\"], t[\"args\"]
assert len(t[\"replays\"][\"rows\"]) == 1 and len(t[\"divergences\"][\"rows\"]) == 1, t" &&
    test "$(http "api/diff?a=1&b=2")" = 200 &&
    (cd proj && flor diff 1 2) >expect &&
    python3 -c "import json; print(json.load(open(\"body\"))[\"text\"], end=\"\")" >actual &&
    test_cmp expect actual
'

test_expect_success 'SQL in a parameter is a value, or refused, and changes nothing' '
    sum >db.sum &&
    test "$(http "api/series?name=loss%27%3B%20DELETE%20FROM%20logs%3B--")" = 200 &&
    grep -q "\"series\":\[\]" body &&
    test "$(http "api/series?name=x%27%20OR%20%271%27=%271")" = 200 &&
    grep -q "\"series\":\[\]" body &&
    test "$(http "api/series?name=loss&runs=1%29%20OR%20%281")" = 400 &&
    grep -q "expected run ids" body &&
    test "$(http "api/run?id=1%20OR%201=1")" = 400 &&
    test "$(http "api/diff?a=1;DROP%20TABLE%20runs&b=2")" = 400 &&
    sum >now.sum && test_cmp db.sum now.sum &&
    test "$(cd proj && q "SELECT count(*) FROM logs")" -eq 68
'

test_expect_success 'a path that leaves the page directory is refused' '
    test "$(http ../../etc/passwd)" = 403 && ! grep -q root: body &&
    test "$(http ..%2f..%2fetc%2fpasswd)" = 403 &&
    test "$(http %2e%2e/%2e%2e/etc/passwd)" = 403 &&
    test "$(http ./index.html)" = 403 &&
    test "$(http .hidden)" = 403 &&
    test "$(http //etc/passwd)" = 403 &&
    test "$(http nothing-here.js)" = 404
'

test_expect_success 'the server is read-only: any method but GET and HEAD is refused' '
    sum >db.sum &&
    for m in POST PUT DELETE PATCH; do
        test "$(http api/runs -X $m -d "x=1")" = 405 || return 1
        grep -q "read-only" body || return 1
    done &&
    test "$(http "api/run?id=1" -X POST -H "Content-Type: application/json" -d "{\"status\":\"x\"}")" = 405 &&
    test "$(http "" -I)" = 200 &&
    sum >now.sum && test_cmp db.sum now.sum
'

test_expect_success 'a request naming another host is refused (DNS rebinding)' '
    test "$(http api/runs -H "Host: evil.example:80")" = 403 &&
    test "$(http api/runs -H "Host: localhost:$(sed "s|.*:\([0-9]*\)/|\1|" "$TRASH/serve.url")")" = 200
'

test_expect_success 'an unknown endpoint and bad parameters are errors in JSON' '
    test "$(http api/nothing)" = 404 && grep -q "\"error\"" body &&
    test "$(http "api/series")" = 400 && grep -q "name: expected" body &&
    test "$(http "api/run?id=0")" = 400 &&
    serve_stop
'

test_expect_success 'a non-local address without a token is refused, as is a malformed token' '
    (cd proj && test_exit_code 2 flor serve --bind 0.0.0.0 --port 0) >out 2>err &&
    grep -q "not a loopback address: refusing" err && test ! -s out &&
    (cd proj && test_exit_code 2 flor serve --bind ::) 2>err &&
    grep -q "without --token" err &&
    (cd proj && test_exit_code 2 flor serve --bind nowhere) 2>err &&
    grep -q "expected an IPv4 or IPv6 address" err &&
    (cd proj && test_exit_code 2 flor serve --port 70000) 2>err &&
    grep -q "expected a port number" err &&
    (cd proj && test_exit_code 2 flor serve --bogus) 2>err &&
    grep -q "unexpected argument '\''--bogus'\''" err &&
    (cd proj && test_exit_code 2 flor serve --port) 2>err &&
    grep -q "\-\-port needs a value" err &&
    (cd proj && test_exit_code 2 flor serve --token short) 2>err &&
    grep -q "the token: expected at least 8" err &&
    (cd proj && test_exit_code 2 flor serve --token "$(printf "abcdefgh\r\nSet-Cookie: x=1")") 2>err &&
    grep -q "the token: expected" err
'

test_expect_success 'with a token: refused without it, served with it, then by its cookie' '
    FLOR_SERVE_TOKEN=s3cret-t0ken serve_start proj --bind 0.0.0.0 &&
    case "$URL" in *"?token=s3cret-t0ken") ;; *) false ;; esac &&
    sed -i "s|0.0.0.0|127.0.0.1|; s|?token=.*||" "$TRASH/serve.url" &&
    test "$(http api/runs)" = 401 &&
    test "$(http "api/runs?token=wrong")" = 401 &&
    test "$(http "api/runs" -b "flor_token=s3cret-t0keX")" = 401 &&
    test "$(http "?token=s3cret-t0ken" -c jar)" = 200 && grep -q "flor_token" jar &&
    test "$(http api/runs -b jar)" = 200 && grep -q "\"rows\":\[\[1," body &&
    test "$(http api/runs -b flor_token=s3cret-t0ken -H "Host: evil.example")" = 200 &&
    test "$(http api/runs -b jar -X DELETE)" = 405 &&
    serve_stop
'

test_expect_success 'a project with no run yet is served, empty' '
    new_project empty && serve_start empty &&
    test "$(http api/runs)" = 200 && grep -q "\"rows\":\[\]" body &&
    serve_stop
'

test_expect_success 'flor serve -h is its usage, as docs/cli.md shows it' '
    flor serve -h >actual && flor help serve >help.out && test_cmp actual help.out &&
    doc_block "flor help serve" >expect && test_cmp expect actual &&
    flor help | grep -q "^  serve "
'

test_done
