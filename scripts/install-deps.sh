#!/bin/sh
# Installs the Debian packages flor needs to build, test and run its
# examples; does nothing for packages already there.  libcurl is the S3
# client's HTTP and signing; radosgw, ceph-mon and ceph-osd are the S3
# server the tests start (tests/s3/server.sh, docs/remote.md); slurm-wlm
# and munge the one-node Slurm cluster of the replay tests
# (tests/slurm/cluster.sh, docs/team.md); libpq-dev the team database's
# client (src/pg/) and postgresql the server its tests start
# (tests/pg/server.sh).
# libmicrohttpd and libpng are flor serve's HTTP server and flor plot's PNG
# writer; chromium and chromium-driver the browser of their tests; npm
# installs the page's plotting library (web/package-lock.json) at build
# time (docs/serve.md).  A node that is already there (NodeSource's, which
# brings its own npm) is kept.
set -e
PKGS="build-essential pkg-config git sqlite3 libsqlite3-dev libgit2-dev libzstd-dev
libxxhash-dev zlib1g-dev bc python3-dev python3-torch python3-numpy python3-pandas
python3-pytest libopenblas0-pthread dataset-fashion-mnist clang-14 libfuzzer-14-dev
openmpi-bin libopenmpi-dev python3-ipykernel python3-nbclient python3-nbformat ipython3
python3-venv python3-build python3-setuptools python3-wheel
curl libcurl4-openssl-dev radosgw ceph-mon ceph-osd slurm-wlm munge postgresql libpq-dev
libmicrohttpd-dev libpng-dev chromium chromium-driver"
command -v npm >/dev/null 2>&1 || PKGS="$PKGS nodejs npm"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "installing:$missing"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
