# daemons.sh -- sourced by the scripts that start the tests' servers
# (tests/s3/server.sh, tests/slurm/cluster.sh): ports, stopping by pid
# files, and the logs' tails for a failure.

# A TCP port of 127.0.0.1 that is free now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# stop_pidfiles FILE...: SIGTERM to the process each FILE names, up to
# 10 s for them all to go, then SIGKILL to those left; the files go.
stop_pidfiles() {
    for f in "$@"; do
        [ -f "$f" ] || continue
        pid=$(cat "$f" 2>/dev/null)
        [ -n "$pid" ] && kill "$pid" 2>/dev/null
    done
    i=0
    while [ $i -lt 50 ]; do
        alive=0
        for f in "$@"; do
            [ -f "$f" ] || continue
            pid=$(cat "$f" 2>/dev/null)
            [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && alive=1
        done
        [ $alive -eq 0 ] && break
        sleep 0.2; i=$((i + 1))
    done
    for f in "$@"; do
        [ -f "$f" ] || continue
        pid=$(cat "$f" 2>/dev/null)
        [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
        rm -f "$f"
    done
    return 0
}

# log_tails FILE...: the last 15 lines of each FILE there is, on stderr.
log_tails() {
    for l in "$@"; do
        [ -f "$l" ] && { echo "--- tail of $l" >&2; tail -n 15 "$l" >&2; }
    done
    return 0
}
