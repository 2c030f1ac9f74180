#!/bin/sh
# flor replay --replay_every N[:R]: a hindsight statement at a period
# inside a flat step loop (`if (step % 50 == 0)`) is replayed by running
# only the steps it needs, each from the checkpoint before it, exactly as
# FLOR_REPLAY_EVERY does; the values are those of a re-run, bit for bit.
. "$(dirname "$0")/lib.sh"

SAN=""
case "$FLOR_BUILD" in *build-san) SAN="-fsanitize=address,undefined" ;; esac
LIBS="$FLOR_BUILD/libflor.a $(pkg-config --libs sqlite3 libgit2 libzstd libxxhash libcurl libpq) -lpthread -lm -lz"
BUILD="cc $SAN -std=c11 -D_GNU_SOURCE -O2 -I$REPO_ROOT/include -I$REPO_ROOT/tests/progs train.c -o train $LIBS"
export ASAN_OPTIONS=detect_leaks=0

# The statement the user adds afterwards: a weight norm every 50 steps.
add_statement() {
    sed -i 's|^        if (step % 50 == 49)$|        if (step % 50 == 0)\n            flor_log("param_norm", sqrt(w[0] * w[0] + w[1] * w[1]));\n&|' "$1" &&
    grep -q param_norm "$1"
}

# param_norm of run 1 as "step,value" lines, every bit of the value
values() {
    q "SELECT c.iteration, printf('%.17g', l.value) FROM logs l JOIN loops c
       ON c.run_id = l.run_id AND c.ctx_id = l.ctx_id
       WHERE l.run_id = 1 AND l.name = 'param_norm' ORDER BY c.iteration"
}

# "restores,compared" of the replays of run 1, summed
replayed() {
    q "SELECT sum(restores), sum(compared) FROM replays WHERE run_id = 1"
}

forget_replays() {
    sqlite3 .flor/flor.db "DELETE FROM logs WHERE source = 'replay'; DELETE FROM replays"
}

test_expect_success 'setup: a run checkpointed every 25 steps; the truth is a re-run' '
    new_project truth && cp "$REPO_ROOT/tests/progs/flat.c" truth/train.c &&
    (cd truth && add_statement train.c && eval "$BUILD" && ./train >/dev/null && values) >expect &&
    test "$(cut -d, -f1 expect | tr "\n" " ")" = "0 50 100 150 " &&
    new_project proj && cd proj &&
    cp "$REPO_ROOT/tests/progs/flat.c" train.c && printf "train\n" >.gitignore &&
    git add train.c .gitignore && git commit -q -m flat &&
    eval "$BUILD" && ./train --kwargs every=25 >/dev/null &&
    test "$(q "SELECT count(*) FROM checkpoints")" -eq 8 &&
    add_statement train.c
'

test_expect_success 'flor replay --replay_every 50 NAME: the 4 needed steps only, 4 restores (the last for after the loop)' '
    cd proj &&
    flor replay param_norm --replay_every 50 -j 1 --segments 1 --build "$BUILD" -- ./train \
        >out 2>err &&
    values >actual && test_cmp ../expect actual &&
    test "$(replayed)" = "4,5" &&
    test "$(q "SELECT sum(divergences) FROM replays")" -eq 0
'

test_expect_success 'the same as FLOR_REPLAY_EVERY=50, and unlike a replay without a period' '
    cd proj && replayed >../option && forget_replays &&
    FLOR_REPLAY_EVERY=50 flor replay param_norm -j 1 --segments 1 --build "$BUILD" -- ./train \
        >out 2>err &&
    values >actual && test_cmp ../expect actual &&
    replayed >env && test_cmp ../option env &&
    forget_replays &&
    flor replay param_norm -j 1 --segments 1 --build "$BUILD" -- ./train >out 2>err &&
    values >actual && test_cmp ../expect actual &&
    test "$(replayed)" = "0,25"
'

test_expect_success 'the option wins over the environment; N:R and --replay_every=N forms' '
    cd proj && forget_replays &&
    FLOR_REPLAY_EVERY=7 flor replay param_norm --replay_every=50:0 -j 1 --segments 1 \
        --build "$BUILD" -- ./train >out 2>err &&
    values >actual && test_cmp ../expect actual &&
    test "$(replayed)" = "4,5"
'

test_expect_success 'a bad period is a usage error, before anything runs' '
    cd proj && forget_replays &&
    for bad in 0 50:50 x 5:-1 :3 5: ""; do
        test_exit_code 2 flor replay param_norm --replay_every "$bad" -- ./train 2>err &&
        grep -q "replay_every .$bad.: expected N or N:R" err || exit 1
    done &&
    test_exit_code 2 flor replay param_norm --replay_every 2>err &&
    grep -q "option .--replay_every. needs a value" err &&
    test_exit_code 2 flor replay --replay_every 50 --plan -- ./train >out 2>err &&
    grep -q "not available with --plan: set FLOR_REPLAY_EVERY=50" err &&
    test "$(q "SELECT count(*) FROM replays")" -eq 0
'

test_done
