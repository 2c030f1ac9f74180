#!/bin/sh
# tests/pg/server.sh start|stop|restart|env DIR -- a real PostgreSQL server
# for the tests (Debian's postgresql, version 15 or the newest installed),
# listening on 127.0.0.1 on a free port, its cluster, socket and log under
# DIR (docs/team.md says why).  Run as root (CI), the server runs as the
# unprivileged user `nobody`, who then owns DIR.
#
#   start DIR    makes DIR afresh: initdb, a role `flor_test` that logs in
#                over TCP with a password (scram-sha-256 in pg_hba.conf), its
#                database `flor_test`; starts the server, waits until it
#                answers
#   env DIR      prints, as `export NAME=VALUE` lines, what a test needs:
#                FLOR_TEST_PG_URL (postgresql://flor_test:PASSWORD@127.0.0.1:PORT/flor_test),
#                FLOR_TEST_PG_HOST, FLOR_TEST_PG_PORT, FLOR_TEST_PG_PASSWORD
#   stop DIR     stops the server started in DIR; its data stays
#   restart DIR  starts that server again, on the same port, with its data
#   sql DIR      runs the SQL on its standard input as the server's superuser
#                (over the socket): what a team's administrator does, such as
#                making roles
#
# Only the TCP port needs a password; the socket under DIR/run lets the
# server's own user in (`local all all peer`), which the setup uses.
#
# Exit status: 0; 1 for a failure (the reason on stderr, with the log's
# tail); 2 when PostgreSQL is not installed (scripts/install-deps.sh installs it).
set -u
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop|restart|env|sql DIR" >&2; exit 1; }

ROLE=flor_test
PASSWORD=flor-test-pw-7f3a9c
DB=flor_test

. "$(dirname "$0")/../daemons.sh"

# The newest PostgreSQL whose server programs are installed.
bin=""
for v in 15 16 17 14 13; do
    [ -x "/usr/lib/postgresql/$v/bin/postgres" ] && { bin=/usr/lib/postgresql/$v/bin; break; }
done
if [ -z "$bin" ] && command -v pg_ctl >/dev/null 2>&1; then
    bin=$(dirname "$(command -v pg_ctl)")
fi

# as_owner CMD...: CMD as the server's user, in DIR (whose files it owns).
# runuser is in /usr/sbin, which a plain PATH may lack.
runuser=$(command -v runuser || echo /usr/sbin/runuser)
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        (cd "$dir" && "$runuser" -u nobody -- "$@")
    else
        (cd "$dir" && "$@")
    fi
}

stop() {
    if [ -n "$bin" ] && [ -f "$dir/data/postmaster.pid" ]; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 20 stop >/dev/null 2>&1
    fi
    stop_pidfiles "$dir"/run/*.pid
}

fail() {
    echo "tests/pg/server.sh: $*" >&2
    log_tails "$dir/log/postgres.log" "$dir/setup.log"
    stop
    exit 1
}

# Starts the cluster in DIR/data on the port in DIR/port; waits up to 30 s.
launch() {
    port=$(cat "$dir/port")
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/log/postgres.log" -w -t 30 \
        -o "-p $port -k $dir/run -c listen_addresses=127.0.0.1" start >> "$dir/setup.log" 2>&1 ||
        fail "the server did not start on 127.0.0.1:$port"
    head -n 1 "$dir/data/postmaster.pid" > "$dir/run/postgres.pid"
}

case "$cmd" in
env)
    [ -f "$dir/port" ] || { echo "tests/pg/server.sh: no server started in '$dir'" >&2; exit 1; }
    port=$(cat "$dir/port")
    echo "export FLOR_TEST_PG_URL=postgresql://$ROLE:$PASSWORD@127.0.0.1:$port/$DB"
    echo "export FLOR_TEST_PG_HOST=127.0.0.1"
    echo "export FLOR_TEST_PG_PORT=$port"
    echo "export FLOR_TEST_PG_PASSWORD=$PASSWORD"
    exit 0 ;;
stop)
    [ -d "$dir" ] && { dir=$(cd "$dir" && pwd); stop; }
    exit 0 ;;
restart)
    [ -n "$bin" ] || { echo "tests/pg/server.sh: PostgreSQL is not installed (scripts/install-deps.sh)" >&2; exit 2; }
    [ -f "$dir/port" ] || { echo "tests/pg/server.sh: no server was started in '$dir'" >&2; exit 1; }
    dir=$(cd "$dir" && pwd)
    launch
    exit 0 ;;
sql)
    [ -f "$dir/port" ] || { echo "tests/pg/server.sh: no server was started in '$dir'" >&2; exit 1; }
    dir=$(cd "$dir" && pwd)
    port=$(cat "$dir/port")
    owner=$(as_owner id -un)
    sql=$(cat)
    echo "$sql" | as_owner psql -h "$dir/run" -p "$port" -U "$owner" -d $DB -v ON_ERROR_STOP=1 -qX
    exit $? ;;
start) ;;
*)
    echo "usage: $0 start|stop|restart|env|sql DIR" >&2; exit 1 ;;
esac

[ -n "$bin" ] || { echo "tests/pg/server.sh: PostgreSQL is not installed (scripts/install-deps.sh)" >&2; exit 2; }
for p in initdb pg_ctl postgres; do
    [ -x "$bin/$p" ] || { echo "tests/pg/server.sh: '$bin/$p' not installed (scripts/install-deps.sh)" >&2; exit 2; }
done
command -v psql >/dev/null 2>&1 || { echo "tests/pg/server.sh: 'psql' not installed (scripts/install-deps.sh)" >&2; exit 2; }

[ -d "$dir" ] && { dir_abs=$(cd "$dir" && pwd); (dir=$dir_abs; stop); }
rm -rf "$dir"
mkdir -p "$dir/run" "$dir/log" || exit 1
dir=$(cd "$dir" && pwd)
if [ "$(id -u)" -eq 0 ]; then
    chown -R nobody "$dir" || fail "cannot give '$dir' to the user nobody"
    # nobody must reach DIR through its parents (/tmp is world-searchable).
    as_owner test -w "$dir" || fail "the user nobody cannot write '$dir' (choose a directory under /tmp)"
fi
port=$(free_port)
[ -n "$port" ] || fail "no free port found"
echo "$port" > "$dir/port"

as_owner "$bin/initdb" -D "$dir/data" -A peer --auth-host=scram-sha-256 -E UTF8 \
    --locale=C.UTF-8 >> "$dir/setup.log" 2>&1 ||
    as_owner "$bin/initdb" -D "$dir/data" -A peer --auth-host=scram-sha-256 -E UTF8 \
        --no-locale >> "$dir/setup.log" 2>&1 || fail "initdb failed in $dir/data"
# Password logins over TCP only; the socket is the owner's alone.
cat > "$dir/data/pg_hba.conf" <<EOF
local all all peer
host all all 127.0.0.1/32 scram-sha-256
EOF
{
    echo "fsync = off"
    echo "synchronous_commit = off"
    echo "full_page_writes = off"
    echo "max_connections = 50"
    echo "shared_buffers = 32MB"
} >> "$dir/data/postgresql.conf"
chown nobody "$dir/data/pg_hba.conf" 2>/dev/null
launch

owner=$(as_owner id -un)
as_owner psql -h "$dir/run" -p "$port" -U "$owner" -d postgres -v ON_ERROR_STOP=1 -q >> "$dir/setup.log" 2>&1 <<EOF || fail "the role $ROLE could not be created"
SET password_encryption = 'scram-sha-256';
CREATE ROLE $ROLE LOGIN PASSWORD '$PASSWORD';
CREATE DATABASE $DB OWNER $ROLE;
EOF
exit 0
