#!/bin/sh
# Hindsight logging: a statement added to the example after it was
# recorded gets, by replay, exactly the values a full retraining with the
# statement would have logged -- with the step loop skipped, with it
# probed, and split into 1, 2 and 3 segments.
. "$(dirname "$0")/lib.sh"
. "$TEST_SRC/lib-linear.sh"

# weight_norm per epoch of run 1, as "epoch,value" lines
norms() {
    flor query "SELECT lp.iteration, l.value FROM logs l JOIN loops lp
                ON lp.run_id = l.run_id AND lp.ctx_id = l.ctx_id
                WHERE l.name = 'weight_norm' AND l.run_id = 1 ORDER BY lp.iteration" \
        --format csv | tail -n +2
}

test_expect_success 'setup: record the example; the truth is a retraining with the statement' '
    add_weight_norm >with_norm.c &&
    grep -q weight_norm with_norm.c &&
    build with_norm.c ./linear_norm &&
    new_project truth && (cd truth && ../linear_norm --kwargs $ARGS >out) &&
    (cd truth && norms) >expect &&
    test "$(wc -l <expect)" -eq 4 &&
    new_project proj && cd proj &&
    FLOR_OVERHEAD=1 linear --kwargs $ARGS >../recorded.out &&
    test "$(flor query "SELECT count(*) FROM checkpoints" --format csv | tail -n 1)" -eq 4
'

test_expect_success 'replay skips the step loop and gives the same values bit for bit' '
    cd proj && cp ../linear_norm ./linear &&
    FLOR_QUIET=0 ./linear --replay_flor >out 2>err &&
    norms >actual &&
    test_cmp ../expect actual &&
    grep -q "replay of run 1: 4 new values, 5 compared, 0 divergences, 4 checkpoints restored" err &&
    ! grep -q " step " out
'

test_expect_success 'replaying twice adds no rows' '
    cd proj && FLOR_QUIET=0 ./linear --replay_flor >/dev/null 2>&1 &&
    test "$(flor query "SELECT count(*) FROM logs WHERE source = '"'replay'"'" --format csv | tail -n 1)" -eq 4
'

test_expect_success 'a probed step loop runs, and its recorded losses agree' '
    cd proj && forget_replays &&
    FLOR_QUIET=0 ./linear --replay_flor --probe step >out 2>err &&
    norms >actual && test_cmp ../expect actual &&
    grep -q "0 divergences" err &&
    grep -q " step " out
'

# The same two things from the program itself: flor_probe("step") after
# flor_init (the seed's probed=True), and flor_finish_error(), whose reason
# becomes the replay's error.
test_expect_success 'flor_probe in the program runs the step loop; flor_finish_error gives the replay its error' '
    sed "s|^    int rc = flor_init(&argc, &argv);|    int rc = flor_init(\&argc, \&argv); flor_probe(\"step\");|" with_norm.c >probed.c &&
    grep -q "flor_probe(\"step\")" probed.c &&
    build probed.c ./linear_probed &&
    sed "s|^    if (flor_finish() != 0) {|    if (flor_finish_error(FLOR_RUN_FAILED, \"gave up: custom reason\") != 0) {|" \
        with_norm.c >ends.c &&
    grep -q "gave up: custom reason" ends.c &&
    build ends.c ./linear_ends &&
    cd proj && forget_replays &&
    cp ../linear_probed ./linear && FLOR_QUIET=0 ./linear --replay_flor >out 2>err &&
    norms >actual && test_cmp ../expect actual &&
    grep -q "0 divergences" err && grep -q " step " out &&
    forget_replays &&
    cp ../linear_ends ./linear && FLOR_QUIET=0 ./linear --replay_flor >out 2>err;
    cp ../linear_norm ./linear &&
    test "$(flor query "SELECT status || \" \" || error FROM replays ORDER BY replay_id DESC LIMIT 1" \
            --format csv | tail -n 1)" = "failed gave up: custom reason" &&
    ! grep -q " step " out
'

test_expect_success 'two segments together give the same values' '
    cd proj && forget_replays &&
    FLOR_QUIET=0 ./linear --replay_flor 0/2 >/dev/null 2>err0 &&
    FLOR_QUIET=0 ./linear --replay_flor 1/2 >/dev/null 2>err1 &&
    norms >actual && test_cmp ../expect actual &&
    grep -q "segment 0/2: 2 new values" err0 &&
    grep -q "segment 1/2: 2 new values" err1
'

test_expect_success 'three segments, and a segment that must catch up without a checkpoint' '
    cd proj && forget_replays &&
    for pid in 0 1 2; do FLOR_QUIET=0 ./linear --replay_flor $pid/3 >/dev/null 2>&1 || exit 1; done &&
    norms >actual && test_cmp ../expect actual &&
    forget_replays &&
    sqlite3 .flor/flor.db "DELETE FROM checkpoint_objects WHERE ckpt_id IN
        (SELECT ckpt_id FROM checkpoints WHERE iteration = 1);
        DELETE FROM checkpoints WHERE iteration = 1" &&
    FLOR_QUIET=0 ./linear --replay_flor 1/2 >/dev/null 2>err &&
    grep -q "segment 1/2: 2 new values, 8 compared, 0 divergences, 3 checkpoints restored" err &&
    FLOR_QUIET=0 ./linear --replay_flor 0/2 >/dev/null 2>&1 &&
    norms >actual && test_cmp ../expect actual
'

test_expect_success 'the new column joins the recorded ones in the dataframe' '
    cd proj &&
    flor dataframe acc weight_norm --format csv >df &&
    head -n 1 df | grep -q ",epoch,acc,weight_norm$" &&
    test "$(grep -c "^proj," df)" -eq 5
'

test_expect_success 'a perturbed learning rate is reported as divergences, not stored silently' '
    cd proj &&
    sed "s|double loss = train_step(&st, &s, bsz, lr);|double loss = train_step(\&st, \&s, bsz, lr * 1.001);|" \
        "$REPO_ROOT/examples/linear.c" >perturbed.c &&
    grep -q "lr \* 1.001" perturbed.c &&
    build perturbed.c ./perturbed && cp perturbed linear &&
    FLOR_QUIET=0 ./linear --replay_flor --probe step >/dev/null 2>err &&
    grep -q "divergences" err && ! grep -q " 0 divergences" err &&
    grep -q "first divergence: loss at epoch=0/step=20: recorded" err &&
    test "$(flor query "SELECT divergences > 0 FROM replays ORDER BY replay_id DESC LIMIT 1" --format csv | tail -n 1)" = 1 &&
    test "$(flor query "SELECT count(*) FROM divergences" --format csv | tail -n 1)" -gt 0
'

test_expect_success 'bad input: no runs, unknown run, bad segment, --kwargs' '
    new_project empty && cd empty &&
    test_exit_code 1 linear --replay_flor 2>err &&
    grep -q "no runs recorded in project .empty." err &&
    cd ../proj &&
    test_exit_code 1 ../linear_norm --replay_flor --replay_run 99 2>err &&
    grep -q "replay_run 99: no such run" err &&
    test_must_fail ../linear_norm --replay_flor 3/2 2>err &&
    grep -q "replay_flor 3/2: expected PID/N with 0 <= PID < N" err &&
    test_must_fail ../linear_norm --replay_flor 0/0 2>err &&
    test_must_fail ../linear_norm --replay_flor --kwargs lr=1 2>err &&
    grep -q "kwargs cannot be combined with --replay_flor" err
'

test_expect_success 'a corrupt checkpoint is a clear error and changes nothing recorded' '
    cd proj && forget_replays &&
    flor query "SELECT count(*), sum(value) FROM logs WHERE source = '"'record'"'" >before &&
    for f in .flor/objects/*.pack; do
        size=$(stat -c %s "$f") && off=100 &&
        while [ $off -lt $size ]; do
            printf "garbage" | dd of="$f" bs=1 seek=$off conv=notrunc 2>/dev/null || exit 1
            off=$((off + 8192))
        done
    done &&
    cp ../linear_norm ./linear &&
    test_exit_code 1 ./linear --replay_flor 2>err &&
    grep -q "checkpoint of run 1 at epoch=" err &&
    flor query "SELECT count(*), sum(value) FROM logs WHERE source = '"'record'"'" >after &&
    test_cmp before after &&
    test "$(flor query "SELECT status FROM replays ORDER BY replay_id DESC LIMIT 1" --format csv | tail -n 1)" = failed
'

test_done
