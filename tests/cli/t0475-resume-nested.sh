#!/bin/sh
# Resume of a checkpointed loop nested in another: tests/progs/nested
# checkpoints its inner `step` loop (coords "epoch=E,step=S", the step
# counter starting again in each epoch).  Killed with SIGKILL in the middle
# of an epoch, it is resumed at that epoch: the epochs before are skipped
# (their bodies do not run again), the epoch's own code before its step
# loop runs again, the step loop goes on after the checkpoint, and the
# run's dataframe equals an uninterrupted run's, bit for bit, each value
# once.
. "$(dirname "$0")/lib.sh"

SQ="'"

# the run's dataframe, without the project and the time stamp
frame() { flor dataframe lr loss eval final | cut -d, -f3-; }

# killed_then_resumed DIR E.S: records nested in a new project DIR, killed
# at step S of epoch E, then resumes it (what it prints in DIR.out)
killed_then_resumed() {
    new_project "$1" && (
        cd "$1" &&
        { NESTED_KILL=$2 nested >/dev/null 2>&1 && return 1 || true; } &&
        test "$(q "SELECT status FROM runs")" = killed &&
        nested --resume_flor >"../$1.out"
    )
}

test_expect_success 'setup: the truth, uninterrupted' '
    new_project truth && (cd truth && nested >../truth.out && frame) >truth.frame &&
    test "$(grep -c "^step" truth.out)" -eq 120 &&
    test "$(wc -l <truth.frame)" -eq 121
'

test_expect_success 'killed mid epoch 2: resumed in epoch 2 after its checkpoint, bit for bit' '
    killed_then_resumed mid 2.17 &&
    printf "epoch 2\nstep 2.15\n" >expect && head -n 2 mid.out >actual && test_cmp expect actual &&
    test "$(grep -c "^step" mid.out)" -eq $((15 + 30)) &&
    (cd mid && frame) >actual && test_cmp truth.frame actual &&
    cd mid &&
    test "$(q "SELECT loop || $SQ=$SQ || iteration || $SQ/$SQ || status FROM resumes")" = \
        "step=14/finished" &&
    test "$(q "SELECT count(*) FROM runs")" -eq 1 &&
    test "$(q "SELECT status FROM runs")" = finished &&
    test "$(q "SELECT count(*) FROM loops WHERE name = ${SQ}epoch$SQ")" -eq 4 &&
    test "$(q "SELECT count(*) FROM loops WHERE name = ${SQ}step$SQ")" -eq 120 &&
    flor fsck >fsck.out && test "$(wc -l <fsck.out)" -eq 1
'

test_expect_success 'what the killed process logged after the checkpoint is kept, superseded' '
    cd mid &&
    q "SELECT s.name || $SQ $SQ || ifnull(p.name || $SQ=$SQ || p.iteration || $SQ/$SQ, $SQ$SQ)
              || c.name || $SQ=$SQ || c.iteration AS logged
       FROM superseded_logs s JOIN superseded_loops c USING (resume_id, ctx_id)
       LEFT JOIN loops p ON p.run_id = c.run_id AND p.ctx_id = c.parent_ctx_id
       ORDER BY s.rowid" >actual &&
    printf "loss epoch=2/step=15\nloss epoch=2/step=16\n" >expect && test_cmp expect actual &&
    test "$(q "SELECT count(*) FROM superseded_logs WHERE name = ${SQ}lr$SQ")" -eq 1 &&
    test "$(q "SELECT superseded FROM resumes")" -eq 3
'

test_expect_success 'killed early in epoch 1: the checkpoint is the end of epoch 0' '
    killed_then_resumed early 1.2 &&
    printf "epoch 0\nepoch 1\nstep 1.0\n" >expect && head -n 3 early.out >actual &&
    test_cmp expect actual &&
    (cd early && frame) >actual && test_cmp truth.frame actual
'

E=$((1 + $$ % 3)) S=$((5 + $$ % 25))
test_expect_success "killed at epoch $E step $S, its resume killed at 3.29, resumed again" '
    new_project twice && cd twice &&
    { NESTED_KILL=$E.$S nested >/dev/null 2>&1 && false || true; } &&
    { NESTED_KILL=3.29 nested --resume_flor >/dev/null 2>&1 && false || true; } &&
    test "$(q "SELECT status FROM runs")" = killed &&
    nested --resume_flor >/dev/null &&
    frame >actual && test_cmp ../truth.frame actual &&
    q "SELECT status FROM resumes ORDER BY resume_id" >actual &&
    printf "killed\nfinished\n" >expect && test_cmp expect actual
'

test_expect_success 'refused, naming the loop: an enclosing loop whose name has a comma' '
    new_project comma && cd comma &&
    { NESTED_OUTER=a,b NESTED_KILL=1.12 nested >/dev/null 2>&1 && false || true; } &&
    test_must_fail env NESTED_OUTER=a,b nested --resume_flor 2>err &&
    grep -q "run 1 cannot be resumed: checkpoint coords .a,b=1,step=9.: expected" err &&
    test "$(q "SELECT status FROM runs")" = killed &&
    test "$(q "SELECT count(*) FROM resumes")" -eq 0
'

# resume_fails DIR VAR=VALUE MESSAGE: nested, killed at step 17 of epoch 2
# in a new project DIR, is resumed with VAR=VALUE (code that differs from
# the run's in a way the resume cannot follow): the run ends as failed,
# MESSAGE on stderr, and what it logged up to the checkpoint is there
resume_fails() {
    new_project "$1" && (
        cd "$1" &&
        { NESTED_KILL=2.17 nested >/dev/null 2>&1 && return 1 || true; } &&
        test_must_fail env "$2" nested --resume_flor >/dev/null 2>err &&
        grep -q "$3" err &&
        test "$(q "SELECT status FROM runs")" = failed &&
        q "SELECT reason FROM runs" | grep -q "$3" &&
        test "$(q "SELECT count(*) FROM logs WHERE name = ${SQ}loss$SQ")" -eq 75
    )
}

test_expect_success 'an epoch loop now shorter than the checkpoint'"'"'s: the run fails, saying so' '
    resume_fails short NESTED_EPOCHS=2 "resume of run 1: loop .epoch. has 2 iterations, the checkpoint (epoch=2,step=14) is at iteration 2"
'

test_expect_success 'no step loop in the checkpoint'"'"'s epoch any more: the run fails, saying so' '
    resume_fails nosteps NESTED_NO_STEPS=1 "resume of run 1: loop .step. did not begin in epoch=2: the checkpoint (epoch=2,step=14) was not restored"
'

test_done
