#!/bin/sh
# A process killed with SIGKILL whose parent has not yet collected its exit
# status (a zombie) is dead: it records nothing more.  The reaper marks its
# run killed at once, and the run can be resumed, without waiting for
# whatever started it to call wait().
. "$(dirname "$0")/lib.sh"

# a checkpoint of run 1 followed by a log of a later step
resumable() {
    [ -s .flor/flor.db ] &&
    test "$(q "SELECT count(*) FROM checkpoints c WHERE run_id = 1 AND EXISTS (SELECT 1
              FROM loops l WHERE l.run_id = 1 AND l.parent_ctx_id IS NULL AND
              l.name = c.loop AND l.iteration > c.iteration)" 2>/dev/null)" -ge 2
}

# unwaited CMD...: CMD started by a parent that never waits (a shell that
# execs sleep), from the project; its pid in ../child, the parent's in
# ../parent, outside the project (whose files a resume compares)
unwaited() {
    sh -c '"$@" >/dev/null 2>&1 & echo $! >../child; exec sleep 60' sh "$@" &
    echo $! >../parent
    until [ -s ../child ]; do sleep 0.01; done
}

# the state of process $1: R, S, Z, ...
state() {
    sed 's/.*) //' "/proc/$1/stat" | cut -c1
}

test_expect_success 'setup: a flat loop killed after two checkpoints, left unwaited' '
    new_project proj && cd proj &&
    unwaited flat --kwargs every=20 steps=400 sleep_us=5000 &&
    tries=0 &&
    until resumable; do
        tries=$((tries + 1)) && test $tries -lt 1500 && sleep 0.02 || return 1
    done &&
    kill -9 "$(cat ../child)" &&
    tries=0 &&
    until test "$(state "$(cat ../child)")" = Z; do
        tries=$((tries + 1)) && test $tries -lt 500 && sleep 0.01 || return 1
    done
'

test_expect_success 'the run of a killed, unwaited process reads as killed' '
    cd proj &&
    test "$(state "$(cat ../child)")" = Z &&
    flor runs --format csv >../runs.csv &&
    test "$(q "SELECT status FROM runs WHERE run_id = 1")" = killed
'

test_expect_success 'fsck reports no run left running' '
    cd proj &&
    test "$(state "$(cat ../child)")" = Z &&
    flor fsck
'

test_expect_success 'it is resumed while its parent has still not waited' '
    cd proj &&
    test "$(state "$(cat ../child)")" = Z &&
    flat --resume_flor >../resumed.out 2>../resumed.err &&
    ! grep "being recorded right now" ../resumed.err &&
    test "$(q "SELECT status FROM runs WHERE run_id = 1")" = finished &&
    test "$(q "SELECT count(*) FROM resumes WHERE run_id = 1")" -eq 1
'

# the parent that never waited
[ ! -s "$TRASH/parent" ] || kill "$(cat "$TRASH/parent")" 2>/dev/null
test_done
