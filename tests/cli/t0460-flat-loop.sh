#!/bin/sh
# A trainer with ONE flat loop over steps (tests/progs/flat.c): its steps
# are checkpointed at a fixed cadence or by the adaptive policy, its
# momentum (allocated inside step 0) is part of the checkpoints, and a
# hindsight statement at a period (param_norm every 25 steps) replays from
# the checkpoints to exactly the values of a re-run, re-executing only
# part of the loop.
. "$(dirname "$0")/lib.sh"

SAN=""
case "$FLOR_BUILD" in *build-san) SAN="-fsanitize=address,undefined" ;; esac
LIBS="$FLOR_BUILD/libflor.a $(pkg-config --libs sqlite3 libgit2 libzstd libxxhash libcurl libpq) -lpthread -lm -lz"

# param_norm and final of run 1, bits and all, as "iteration,name,value"
values() {
    flor query "SELECT lp.iteration, l.name, printf('%.17g', l.value) FROM logs l
                LEFT JOIN loops lp ON lp.run_id = l.run_id AND lp.ctx_id = l.ctx_id
                WHERE l.run_id = 1 AND l.name IN ('param_norm', 'final')
                ORDER BY l.name, lp.iteration" --format csv | tail -n +2
}

# the iterations run 1 checkpointed, on one line
ckpts() {
    echo $(flor query "SELECT iteration FROM checkpoints WHERE run_id = 1 ORDER BY iteration" \
        --format csv | tail -n +2)
}

forget_replays() {
    sqlite3 .flor/flor.db "DELETE FROM logs WHERE source = 'replay'"
}

test_expect_success 'setup: the truth is a re-run of the build with the statement' '
    cc $SAN -std=c11 -D_GNU_SOURCE -O2 -DHINDSIGHT -I"$REPO_ROOT/include" \
        "$REPO_ROOT/tests/progs/flat.c" -o flat_h $LIBS &&
    new_project truth && (cd truth && ../flat_h --kwargs every=20 >/dev/null) &&
    (cd truth && values) >expect &&
    test "$(grep -c param_norm expect)" -eq 8 &&
    new_project proj && (cd proj && flat --kwargs every=20 >../recorded.out) &&
    test "$(grep -c "^step " recorded.out)" -eq 200
'

test_expect_success 'flor_checkpoint_every(NULL, 20, 0): every 20th step, and the last' '
    cd proj &&
    test "$(ckpts)" = "19 39 59 79 99 119 139 159 179 199" &&
    flor checkpoints 1 --format csv >out &&
    grep -q "^1,step,19,3," out
'

test_expect_success 'FLOR_CHECKPOINT_EVERY overrides the program; a bad value is ignored, said' '
    new_project env && cd env &&
    FLOR_CHECKPOINT_EVERY=50 flat --kwargs every=20 >/dev/null &&
    test "$(ckpts)" = "49 99 149 199" &&
    FLOR_QUIET=0 FLOR_CHECKPOINT_EVERY=fast flat --kwargs every=20 >/dev/null 2>err &&
    grep -q "FLOR_CHECKPOINT_EVERY=fast: expected a number of iterations" err &&
    test "$(flor query "SELECT count(*) FROM checkpoints WHERE run_id = 2" --format csv |
            tail -n 1)" -eq 10
'

test_expect_success 'a cadence in seconds: a checkpoint per 50 ms of 1 ms steps' '
    new_project secs && cd secs &&
    FLOR_CHECKPOINT_EVERY=0.05s flat --kwargs sleep_us=1000 >/dev/null &&
    set -- $(ckpts) &&
    test $# -ge 4 && test $# -lt 100 &&
    eval "test \${$#} -eq 199"
'

# The budget pays for the checkpoint writer's CPU and its sync too (about
# 1 ms for this tiny state when the disk is quiet, 10 ms or more when a
# test suite's other jobs fill it), which 1% of a short loop cannot pay more
# than once or twice. 25% of a 0.8 s loop (4 ms steps) affords a
# checkpoint every 10 steps or less even at 10 ms each, and the case
# stays about the policy, not about the machine's disk that moment.
test_expect_success 'the adaptive policy checkpoints a flat loop within its budget' '
    new_project adaptive && cd adaptive &&
    FLOR_OVERHEAD=0.25 flat --kwargs sleep_us=4000 >/dev/null &&
    set -- $(ckpts) &&
    test $# -ge 5 &&
    cp ../flat_h ./flat &&
    FLOR_QUIET=0 ./flat --replay_flor 1/2 >out 2>err &&
    grep -q "segment 1/2: 4 new values, [0-9]* compared, 0 divergences, 1 checkpoints restored" err
'

test_expect_success 'a whole replay runs every step and gives the values of the re-run' '
    cd proj && cp ../flat_h ./flat &&
    FLOR_QUIET=0 ./flat --replay_flor >out 2>err &&
    values >actual && test_cmp ../expect actual &&
    grep -q "replay of run 1: 8 new values, [0-9]* compared, 0 divergences, 0 checkpoints" err &&
    test "$(grep -c "^step " out)" -eq 200
'

test_expect_success 'two segments: the second starts at the checkpoint of step 99, with momentum' '
    cd proj && forget_replays &&
    FLOR_QUIET=0 ./flat --replay_flor 0/2 >out0 2>err0 &&
    FLOR_QUIET=0 ./flat --replay_flor 1/2 >out1 2>err1 &&
    values >actual && test_cmp ../expect actual &&
    grep -q "0 divergences" err0 && grep -q "0 divergences, 1 checkpoints restored" err1 &&
    test "$(grep -c "^step " out0)" -eq 100 &&
    test "$(head -n 1 out1)" = "step 100" && test "$(grep -c "^step " out1)" -eq 100
'

test_expect_success '--replay_every 25 re-executes 68 of 200 steps, values bit for bit' '
    cd proj && forget_replays &&
    FLOR_QUIET=0 ./flat --replay_flor --replay_every 25 >out 2>err &&
    values >actual && test_cmp ../expect actual &&
    grep -q "8 new values, [0-9]* compared, 0 divergences, 8 checkpoints restored" err &&
    test "$(grep -c "^step " out)" -eq 68 &&
    grep -q "^step 175$" out && ! grep -q "^step 176$" out
'

test_expect_success '--replay_every with segments 0/2 and 1/2, and from the environment' '
    cd proj && forget_replays &&
    FLOR_QUIET=0 ./flat --replay_flor 0/2 --replay_every 25 >out0 2>err0 &&
    FLOR_QUIET=0 FLOR_REPLAY_EVERY=25 ./flat --replay_flor 1/2 >out1 2>err1 &&
    values >actual && test_cmp ../expect actual &&
    test "$(grep -c "^step " out0)" -eq 34 && test "$(grep -c "^step " out1)" -eq 34 &&
    grep -q "0 divergences" err0 && grep -q "0 divergences" err1
'

test_expect_success 'flor replay hands FLOR_REPLAY_EVERY to its segments' '
    cd proj && forget_replays &&
    FLOR_REPLAY_EVERY=25 flor replay -j 2 -- ./flat >out 2>err &&
    values >actual && test_cmp ../expect actual &&
    grep -q "0 divergences" err
'

test_expect_success 'a period that is not the statement'"'"'s: values stay right, more are run' '
    cd proj && forget_replays &&
    FLOR_QUIET=0 ./flat --replay_flor --replay_every 50:25 >out 2>err &&
    grep -q "0 divergences" err &&
    flor query "SELECT count(*) FROM logs WHERE source = '"'replay'"' AND name = '"'param_norm'"'" \
        --format csv | tail -n 1 >n &&
    test "$(cat n)" -ge 4 &&
    values | grep -v "^,final" | while IFS=, read it name v; do
        grep -qx "$it,$name,$v" ../expect || exit 1
    done
'

test_expect_success 'bad --replay_every values are refused' '
    cd proj &&
    test_must_fail ./flat --replay_flor --replay_every 0 2>err &&
    grep -q "replay_every .0.: expected N or N:R" err &&
    test_must_fail ./flat --replay_flor --replay_every 25:25 2>err &&
    test_must_fail ./flat --replay_flor --replay_every 2>err &&
    grep -q "replay_every: expected a value after it" err
'

test_expect_success 'momentum registered on first use: a checkpoint without it is an error' '
    cd proj && forget_replays &&
    sqlite3 .flor/flor.db "UPDATE checkpoint_objects SET name = '"'moment'"' WHERE name = '"'momentum'"'
        AND ckpt_id = (SELECT ckpt_id FROM checkpoints WHERE iteration = 99)" &&
    test_must_fail ./flat --replay_flor 1/2 >out 2>err &&
    grep -q "object .moment. is not registered" err &&
    sqlite3 .flor/flor.db "UPDATE checkpoint_objects SET name = '"'momentum'"' WHERE name = '"'moment'"'"
'

test_done
