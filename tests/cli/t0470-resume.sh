#!/bin/sh
# Resume: a run killed with kill -9 (or failed) is continued by a new
# process from its last complete checkpoint (--resume_flor, FLOR_RESUME,
# `flor resume RUN`), as the same run: one row in runs, its recorded args,
# the state restored, the checkpointed loop going on after the checkpoint,
# and every value bit-identical to an uninterrupted run with no duplicate.
# What the killed process logged after the checkpoint is kept in
# superseded_logs; the continuation is a row of resumes.
. "$(dirname "$0")/lib.sh"

# every value run $1 logged, with where, bits and all: "coords,name,value"
values() {
    q "SELECT ifnull(p.name || '=' || p.iteration || '/', '') ||
              ifnull(c.name || '=' || c.iteration, '-'), l.name, printf('%.17g', l.value)
       FROM logs l LEFT JOIN loops c ON c.run_id = l.run_id AND c.ctx_id = l.ctx_id
       LEFT JOIN loops p ON p.run_id = c.run_id AND p.ctx_id = c.parent_ctx_id
       WHERE l.run_id = $1 ORDER BY 1, 2, 3"
}

# how many checkpoints of run $1 a resume may start from: those followed
# by a saved log of a later iteration
ncheckpoints() {
    n=
    [ ! -s .flor/flor.db ] ||
        n=$(q "SELECT count(*) FROM checkpoints c WHERE run_id = $1 AND EXISTS (SELECT 1
               FROM loops l WHERE l.run_id = $1 AND l.parent_ctx_id IS NULL AND
               l.name = c.loop AND l.iteration > c.iteration)" 2>/dev/null) || n=
    echo "${n:-0}"
}

# start_killed RUN K CMD...: starts CMD (run RUN) in the background, waits
# until RUN has K checkpoints, lets it go on a random moment (up to 60 ms),
# and kills it with SIGKILL; fails if it finished first
start_killed() {
    run=$1 k=$2
    shift 2
    "$@" >/dev/null 2>&1 &
    pid=$!
    tries=0
    while [ "$(ncheckpoints "$run")" -lt "$k" ]; do
        tries=$((tries + 1))
        [ $tries -lt 1500 ] || { kill -9 $pid; return 1; }
        sleep 0.02
    done
    sleep "0.0$(($$ % 7))"
    kill -9 $pid
    wait $pid || true
    test "$(q "SELECT status FROM runs WHERE run_id = $run")" != finished
}

SQ="'"

# a random number of checkpoints before the kill: 2 to 5
K=$((2 + $$ % 4))

test_expect_success 'setup: the truth of the flat loop, uninterrupted' '
    new_project truth && (cd truth && flat --kwargs every=20 sleep_us=5000 >/dev/null) &&
    (cd truth && values 1) >flat.expect &&
    test "$(grep -c ",loss," flat.expect)" -eq 20
'

test_expect_success "flat loop: killed after $K checkpoints, resumed bit for bit" '
    new_project flat && cd flat &&
    start_killed 1 $K flat --kwargs every=20 sleep_us=5000 &&
    before=$(q "SELECT count(*) FROM logs WHERE run_id = 1") &&
    flat --resume_flor >../resumed.out &&
    last=$(q "SELECT iteration FROM resumes") &&
    test "$last" -ge 19 &&
    head -n 1 ../resumed.out >first && echo "step $((last + 1))" >expect && test_cmp expect first &&
    values 1 >actual && test_cmp ../flat.expect actual &&
    test "$(q "SELECT count(*) FROM runs")" -eq 1 &&
    test "$(q "SELECT status FROM runs")" = finished &&
    flor resume --format csv | tail -n +2 | cut -d, -f2-5,9 >resumes &&
    echo "1,step,$last,killed,finished" >expect && test_cmp expect resumes &&
    moved=$(q "SELECT count(*) FROM superseded_logs WHERE run_id = 1") &&
    test "$(q "SELECT superseded FROM resumes")" -eq "$moved" &&
    test "$(q "SELECT count(*) FROM superseded_logs WHERE name = $SQ""final$SQ")" -eq 0 &&
    test "$before" -ge "$moved" &&
    flor fsck >fsck.out && test "$(wc -l <fsck.out)" -eq 1
'

test_expect_success 'the killed process'"'"'s later logs are kept, marked by the resume' '
    cd flat &&
    test "$(q "SELECT count(*) FROM superseded_logs s JOIN resumes r USING (resume_id)
               WHERE r.run_id = 1")" = "$(q "SELECT superseded FROM resumes")"
'

test_expect_success 'refused: a finished run, and the run is untouched' '
    cd flat &&
    n=$(q "SELECT count(*) FROM logs") &&
    test_must_fail flat --resume_flor 2>err &&
    grep -q "run 1 finished: there is nothing to resume" err &&
    test "$(q "SELECT count(*) FROM logs")" -eq "$n" &&
    test "$(q "SELECT count(*) FROM resumes")" -eq 1
'

test_expect_success 'refused: a run with no checkpoint' '
    new_project nockpt && cd nockpt &&
    test_must_fail flat --kwargs steps=-5 >/dev/null 2>&1 &&
    test "$(q "SELECT status FROM runs")" = failed &&
    test_must_fail flat --resume_flor 2>err &&
    grep -q "run 1 (failed) has no checkpoint to resume from" err &&
    test_must_fail flor resume 1 2>err &&
    grep -q "has no checkpoint" err
'

test_expect_success 'refused: a run being recorded right now' '
    new_project busy && cd busy &&
    { flat --kwargs every=20 sleep_us=20000 >/dev/null & } &&
    pid=$! && tries=0 &&
    while [ "$(ncheckpoints 1)" -lt 1 ] && [ $tries -lt 1500 ]; do
        tries=$((tries + 1)) && sleep 0.02
    done &&
    test "$(q "SELECT status FROM runs")" = running &&
    if test_must_fail flat --resume_flor 2>err; then rc=0; else rc=1; fi &&
    kill -9 $pid && { wait $pid || true; } && test $rc -eq 0 &&
    grep -q "run 1 is being recorded right now by another process" err &&
    test "$(q "SELECT count(*) FROM resumes")" -eq 0
'

test_expect_success 'refused: code that differs from the run'"'"'s; --force resumes it' '
    cd busy &&
    echo changed >>README.md &&
    test_must_fail flor resume 1 2>err &&
    grep -q "run 1 was recorded with code version [0-9a-f]* and the working tree differs" err &&
    flor resume --force 1 >/dev/null &&
    test "$(q "SELECT status FROM runs")" = finished &&
    test "$(q "SELECT vid FROM resumes")" != "$(q "SELECT vid FROM runs")"
'

test_expect_success 'a resume killed in turn is resumed again (flor resume RUN), bit for bit' '
    new_project twice && cd twice &&
    start_killed 1 2 flat --kwargs every=20 sleep_us=5000 &&
    first=$(ncheckpoints 1) &&
    start_killed 1 $((first + 2)) env FLOR_RESUME=1 flat &&
    flor resume 1 >/dev/null &&
    values 1 >actual && test_cmp ../flat.expect actual &&
    flor resume --format csv | tail -n +2 | cut -d, -f2,5,9 >resumes &&
    printf "1,killed,killed\n1,killed,finished\n" >expect && test_cmp expect resumes &&
    flor fsck >fsck.out && test "$(wc -l <fsck.out)" -eq 1
'

test_expect_success 'setup: the truth of an epoch loop (examples/linear), uninterrupted' '
    new_project ltruth && cd ltruth &&
    FLOR_CHECKPOINT_EVERY=1 linear --kwargs epochs=40 ntrain=6000 ntest=500 hidden=32 \
        print_every=50 >/dev/null &&
    values 1 >../linear.expect &&
    test "$(grep -c ",acc," ../linear.expect)" -eq 41
'

test_expect_success "epoch loop: killed after $K checkpoints, resumed bit for bit" '
    new_project lin && cd lin &&
    start_killed 1 $K env FLOR_CHECKPOINT_EVERY=1 linear --kwargs epochs=40 ntrain=6000 \
        ntest=500 hidden=32 print_every=50 &&
    FLOR_CHECKPOINT_EVERY=1 linear --resume_flor >/dev/null &&
    values 1 >actual && test_cmp ../linear.expect actual &&
    test "$(q "SELECT count(*) FROM runs")" -eq 1 &&
    test "$(q "SELECT loop || status FROM resumes")" = epochfinished &&
    flor fsck >fsck.out && test "$(wc -l <fsck.out)" -eq 1
'

test_expect_success '--kwargs cannot change a resumed run' '
    cd lin &&
    test_must_fail linear --resume_flor --kwargs epochs=3 2>err &&
    grep -q "cannot be combined with --resume_flor" err
'

test_done
