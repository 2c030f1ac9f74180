# serve-lib.sh -- starting and stopping `flor serve` in the tests of
# t09xx (sourced after lib.sh).
#
#   serve_start DIR [ARGS...]   starts flor serve --port 0 ARGS in DIR, waits
#                               for its address; keeps it in $TRASH/serve.url
#                               (and $URL), the pid in $TRASH/serve.pid
#   serve_stop                  stops it (SIGTERM) and waits for it to exit

# A server a failing test left running is stopped when the script ends.
trap 'kill "$(cat "$TRASH/serve.pid" 2>/dev/null)" 2>/dev/null; cd /; rm -rf "$TRASH"' EXIT

serve_start() {
    dir=$1
    shift
    (cd "$dir" && exec flor serve --port 0 "$@" >"$TRASH/serve.out" 2>"$TRASH/serve.err") &
    echo $! >"$TRASH/serve.pid"
    i=0
    while ! grep -q "^flor serve: http" "$TRASH/serve.out" 2>/dev/null; do
        i=$((i + 1))
        if [ $i -gt 100 ] || ! kill -0 "$(cat "$TRASH/serve.pid")" 2>/dev/null; then
            cat "$TRASH/serve.err" >&2
            return 1
        fi
        sleep 0.1
    done
    URL=$(sed -n 's/^flor serve: //p' "$TRASH/serve.out")
    echo "$URL" >"$TRASH/serve.url"
}

serve_stop() {
    pid=$(cat "$TRASH/serve.pid") &&
    kill "$pid" &&
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
}

# http PATH [CURL ARGS...]: the status code of GET PATH from the server in
# $TRASH/serve.url (the body in ./body); the path is sent as it is
http() {
    path=$1
    shift
    url=$(cat "$TRASH/serve.url")
    curl -s --path-as-is -o body -w '%{http_code}' "$@" "${url%/}/$path"
}

# doc_block MARKER: the fenced block after "<!-- MARKER -->" in docs/cli.md
doc_block() {
    awk -v m="<!-- $1 -->" '
        $0 == m { found = 1; next }
        found && /^```/ { if (inside) exit; inside = 1; next }
        inside { print }' "$REPO_ROOT/docs/cli.md"
}
