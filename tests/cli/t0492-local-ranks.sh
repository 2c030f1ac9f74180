#!/bin/sh
# Ranks started by hand with torchrun's variables (RANK, WORLD_SIZE,
# MASTER_ADDR, MASTER_PORT), not by torchrun: one run of launcher "local",
# and `flor replay NAME` starts two ranks again with flor's own local
# launcher, each replaying its own row.  (A C++ program without
# communication: the mechanics alone; tests/python/test_ddp.py has DDP.)
. "$(dirname "$0")/lib.sh"

SAN=""
case "$FLOR_BUILD" in *build-san) SAN="-fsanitize=address,undefined" ;; esac
LIBS="$FLOR_BUILD/libflor.a $(pkg-config --libs sqlite3 libgit2 libzstd libxxhash libcurl libpq) -lpthread -lm"
BUILD="g++ -std=c++17 $SAN -O2 -I$REPO_ROOT/include toy.cc -o toy $LIBS"

ranks() {
    port=$1; shift
    RANK=0 LOCAL_RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port "$@" >out0 2>err0 &
    RANK=1 LOCAL_RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port "$@" >out1 2>err1 &&
    wait $!
}

# The project: toy_cxx.cc without the hindsight statement, and with it.
mkdir proj && (cd proj && git init -q . && printf 'toy\n' >.gitignore)
sed '/^#ifdef HINDSIGHT/,/^#endif/d' "$REPO_ROOT/tests/progs/toy_cxx.cc" >proj/toy.cc
sed '/^#ifdef HINDSIGHT/d; /^#endif/d' "$REPO_ROOT/tests/progs/toy_cxx.cc" >with-statement.cc
(cd proj && git add . && git -c user.name=t -c user.email=t@t commit -qm toy && eval "$BUILD")

test_expect_success 'two processes with torchrun variables are one run of launcher local' '
    (cd proj && ranks 29731 ./toy) &&
    (cd proj && flor query "SELECT rank, world_size, launcher, job, status FROM runs ORDER BY rank") >runs &&
    printf "rank,world_size,launcher,job,status\n0,2,local,local:127.0.0.1:29731,finished\n1,2,local,local:127.0.0.1:29731,finished\n" >expect &&
    test_cmp expect runs
'

test_expect_success 'flor replay NAME starts the two ranks with the local launcher' '
    cp with-statement.cc proj/toy.cc &&
    (cd proj && flor replay wsum --build "$BUILD" >../sum 2>../rerr) || { cat sum rerr; false; } &&
    grep -q "^1,[0-9a-f]*,finished,[0-9.]*,6,0,$" sum &&
    test "$(cd proj && flor query "SELECT r.rank, count(*) FROM logs l JOIN runs r USING (run_id)
        WHERE l.name = '\''wsum'\'' GROUP BY r.rank" | tr "\n" " ")" = "rank,count(*) 0,3 1,3 "
'

test_done
