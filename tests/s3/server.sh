#!/bin/sh
# tests/s3/server.sh start|stop|env DIR -- a real S3 server for the tests:
# Ceph's RADOS Gateway (radosgw, from Debian) over a one-node Ceph cluster
# (one monitor, one OSD keeping its objects in memory), all on 127.0.0.1,
# with its files, logs and sockets under DIR (docs/remote.md says why).
#
#   start DIR   makes DIR afresh, starts the cluster and the gateway on free
#               ports, creates the S3 user, waits until the gateway answers
#   env DIR     prints, as `export NAME=VALUE` lines, what a test needs:
#               FLOR_TEST_S3_ENDPOINT, FLOR_TEST_S3_KEY, FLOR_TEST_S3_SECRET,
#               FLOR_TEST_S3_REGION
#   stop DIR    stops the daemons started for DIR (by their pid files)
#
# Exit status: 0; 1 for a failure (the reason on stderr, with the log's
# tail); 2 when radosgw is not installed (scripts/install-deps.sh installs it).
set -u
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop|env DIR" >&2; exit 1; }

KEY=FLORTESTACCESSKEY01
SECRET=flor-test-secret-0123456789abcdefghijkl

. "$(dirname "$0")/../daemons.sh"

stop() {
    stop_pidfiles "$dir"/run/*.pid
}

fail() {
    echo "tests/s3/server.sh: $*" >&2
    log_tails "$dir"/log/*.log "$dir"/setup.log
    stop
    exit 1
}

case "$cmd" in
env)
    [ -f "$dir/endpoint" ] || { echo "tests/s3/server.sh: no server started in '$dir'" >&2; exit 1; }
    echo "export FLOR_TEST_S3_ENDPOINT=$(cat "$dir/endpoint")"
    echo "export FLOR_TEST_S3_KEY=$KEY"
    echo "export FLOR_TEST_S3_SECRET=$SECRET"
    echo "export FLOR_TEST_S3_REGION=us-east-1"
    exit 0 ;;
stop)
    stop; exit 0 ;;
start) ;;
*)
    echo "usage: $0 start|stop|env DIR" >&2; exit 1 ;;
esac

for p in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph-authtool ceph; do
    command -v $p >/dev/null 2>&1 || { echo "tests/s3/server.sh: '$p' not installed (scripts/install-deps.sh)" >&2; exit 2; }
done

[ -d "$dir" ] && stop
rm -rf "$dir"
mkdir -p "$dir/run" "$dir/log" "$dir/mon" "$dir/osd0" || exit 1
dir=$(cd "$dir" && pwd)
conf="$dir/ceph.conf"
fsid=$(cat /proc/sys/kernel/random/uuid)
mon_port=$(free_port)
rgw_port=$(free_port)
[ -n "$mon_port" ] && [ -n "$rgw_port" ] || fail "no free port found"

cat > "$conf" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
public addr = 127.0.0.1
run dir = $dir/run
admin socket = $dir/run/\$name.asok
pid file = $dir/run/\$name.pid
log file = $dir/log/\$name.log
keyring = $dir/keyring
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon warn on pool no redundancy = false
mon data avail crit = 0
mon data avail warn = 0
mon max pg per osd = 1000
osd crush chooseleaf type = 0
mon data = $dir/mon
osd data = $dir/osd\$id
osd objectstore = memstore
memstore device bytes = 2147483648
osd max object size = 1073741824
erasure code dir = /usr/lib/x86_64-linux-gnu/ceph/erasure-code
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw dns name = localhost
rgw data = $dir/rgw
EOF

export CEPH_CONF="$conf"
{
    ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' &&
    ceph-authtool "$dir/keyring" --gen-key -n client.admin --cap mon 'allow *' \
        --cap osd 'allow *' --cap mgr 'allow *' &&
    ceph-authtool "$dir/keyring" --gen-key -n client.rgw --cap mon 'allow rw' --cap osd 'allow rwx' &&
    ceph-authtool "$dir/keyring" --gen-key -n osd.0 --cap mon 'allow profile osd' \
        --cap osd 'allow *' --cap mgr 'allow profile osd' &&
    monmaptool --create --addv a "[v2:127.0.0.1:$mon_port]" --fsid "$fsid" "$dir/monmap" &&
    ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring"
} > "$dir/setup.log" 2>&1 || fail "the monitor could not be made"
ceph-mon -c "$conf" -i a >> "$dir/setup.log" 2>&1 || fail "the monitor did not start"

C="timeout 60 ceph -c $conf --connect-timeout 20"
osd_uuid=$(cat /proc/sys/kernel/random/uuid)
{
    $C osd new "$osd_uuid" &&
    ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" &&
    $C osd crush add-bucket localhost host &&
    $C osd crush move localhost root=default &&
    $C osd crush add osd.0 1.0 host=localhost
} >> "$dir/setup.log" 2>&1 || fail "the OSD could not be made"
timeout 90 ceph-osd -c "$conf" -i 0 >> "$dir/setup.log" 2>&1 || fail "the OSD did not start"

mkdir -p "$dir/rgw"
timeout 90 radosgw -c "$conf" -n client.rgw >> "$dir/setup.log" 2>&1 || fail "radosgw did not start"

# The gateway answers an anonymous GET / once it is up (with a 200 and an
# empty listing); wait up to 90 s.
i=0
until curl -s -o /dev/null -m 2 "http://127.0.0.1:$rgw_port/"; do
    i=$((i + 1))
    [ $i -gt 180 ] && fail "radosgw does not answer on 127.0.0.1:$rgw_port after 90 s"
    sleep 0.5
done
radosgw-admin -c "$conf" user create --uid=flor --display-name=flor \
    --access-key="$KEY" --secret-key="$SECRET" >> "$dir/setup.log" 2>&1 ||
    fail "the S3 user could not be created"
echo "http://127.0.0.1:$rgw_port" > "$dir/endpoint"
exit 0
