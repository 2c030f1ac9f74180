#!/bin/sh
# flor replay --slurm: the segments of a replay run as one job array on a
# real one-node Slurm cluster (munged, slurmctld and slurmd started by
# tests/slurm/cluster.sh), and give the values the local launcher gives,
# bit for bit; --no-wait hands back the job id and --follow reports it
# later; a failing task, a cancelled job, bad sbatch options and a missing
# sbatch are reported, and nothing recorded is lost.
. "$(dirname "$0")/lib.sh"
. "$TEST_SRC/lib-linear.sh"

CLUSTER="$TRASH/cluster"

sh "$REPO_ROOT/tests/slurm/cluster.sh" start "$CLUSTER" >"$TRASH/cluster.log" 2>&1
case $? in
0) ;;
2)  echo "skip $TEST_NAME: $(tail -n 1 "$TRASH/cluster.log")"
    echo "0 passed, 0 failed"
    exit 0 ;;
*)  # installed, yet it does not start: that is a failure, not a skip
    echo "FAIL $TEST_NAME: the Slurm test cluster did not start"
    sed 's/^/    /' "$TRASH/cluster.log" | tail -n 40
    echo "0 passed, 1 failed"
    exit 1 ;;
esac
trap 'sh "$REPO_ROOT/tests/slurm/cluster.sh" stop "$CLUSTER"; cd /; rm -rf "$TRASH"' EXIT
eval "$(sh "$REPO_ROOT/tests/slurm/cluster.sh" env "$CLUSTER")"

# The values the replays added, every bit of them: "run,loop,iteration,name,type,value".
replayed() {
    q "SELECT l.run_id, lp.name, lp.iteration, l.name, typeof(l.value), printf('%!.17g', l.value)
       FROM logs l JOIN loops lp ON lp.run_id = l.run_id AND lp.ctx_id = l.ctx_id
       WHERE l.source = 'replay' ORDER BY l.run_id, lp.iteration, l.name"
}

# The summary without its seconds: "segment,status,new_values,compared,divergences,restores".
no_seconds() {
    cut -d, -f1,2,4- "$1"
}

test_expect_success 'setup: record the example; replay it locally in 4 segments' '
    add_weight_norm >with_norm.c && grep -q weight_norm with_norm.c &&
    build with_norm.c ./linear_norm &&
    new_project proj && cd proj &&
    FLOR_OVERHEAD=1 linear --kwargs $ARGS >../recorded.out &&
    test "$(q "SELECT count(*) FROM checkpoints")" -eq 4 &&
    cp ../linear_norm ./linear &&
    flor replay --format csv -j 4 --segments 4 -- ./linear >../local.csv 2>../local.err &&
    replayed >../local.values &&
    test "$(wc -l <../local.values)" -eq 4 &&
    test "$(grep -c ",finished," ../local.csv)" -eq 4
'

test_expect_success 'a replay of 4 segments through Slurm equals the local replay, bit for bit' '
    cd proj && forget_replays && test -z "$(replayed)" &&
    flor replay --format csv --slurm --segments 4 -- ./linear >../slurm.csv 2>../slurm.err &&
    replayed >../slurm.values &&
    test_cmp ../local.values ../slurm.values &&
    no_seconds ../local.csv >../local.rows && no_seconds ../slurm.csv >../slurm.rows &&
    test_cmp ../local.rows ../slurm.rows &&
    job=$(sed -n "s/^flor: submitted 4 segments of run 1 as Slurm job \([0-9]*\) .*/\1/p" ../slurm.err) &&
    test -n "$job" &&
    grep -q "^flor: Slurm job $job: 4 of 4 segments ended" ../slurm.err &&
    grep -q "^flor: replay of run 1: 4 segments in .* 4 new values, 0 divergences" ../slurm.err &&
    squeue -h -j "$job" -t all -o "%K %T" | sort >../states &&
    printf "%s\n" "0 COMPLETED" "1 COMPLETED" "2 COMPLETED" "3 COMPLETED" >../expect &&
    test_cmp ../expect ../states &&
    test ! -e .flor/slurm
'

test_expect_success '--no-wait prints the job id at once; --follow waits for it and reports it' '
    cd proj && forget_replays &&
    flor replay --slurm --no-wait -j 2 --segments 4 -- ./linear >../job 2>../nowait.err &&
    job=$(cat ../job) && test -n "$job" && test -z "$(echo "$job" | tr -d 0-9)" &&
    grep -q "^flor: follow it with: flor replay --follow $job$" ../nowait.err &&
    test -f .flor/slurm/replay-*/launch &&
    grep -q "^#SBATCH --array=0-3%2$" .flor/slurm/replay-*/job.sh &&
    test "$(squeue -h -j "$job" -t all -r -o %i | wc -l)" -eq 4 &&
    flor replay --format csv --follow "$job" >../follow.csv 2>../follow.err &&
    grep -q "^flor: following Slurm job $job: 4 segments of run 1" ../follow.err &&
    replayed >../follow.values && test_cmp ../local.values ../follow.values &&
    no_seconds ../follow.csv >../follow.rows && test_cmp ../local.rows ../follow.rows &&
    test ! -e .flor/slurm &&
    test_exit_code 1 flor replay --follow "$job" 2>../again.err &&
    grep -q "no Slurm replay with that job id" ../again.err
'

test_expect_success 'a failing task is reported with its log; the other segments keep their values' '
    cd proj && forget_replays &&
    printf "%s\n" "#!/bin/sh" "case \"\$*\" in *\"--replay_flor 2/4\"*) echo \"segment two gives up\" >&2; exit 3;; esac" "exec ./linear \"\$@\"" >fail2 &&
    chmod +x fail2 &&
    test_exit_code 1 flor replay --format csv --slurm --segments 4 --run 1 -- ./fail2 >../fail.csv 2>../fail.err &&
    grep -q "^2,failed," ../fail.csv &&
    test "$(grep -c ",finished," ../fail.csv)" -eq 3 &&
    grep -q "^flor: segment 2/4 failed: exit status 3" ../fail.err &&
    grep -q "segment two gives up" ../fail.err &&
    log=$(ls .flor/slurm/replay-*/segment-2.err) && grep -q "segment two gives up" "$log" &&
    test "$(ls .flor/slurm/replay-*/)" = "$(printf "%s\n" segment-2.err segment-2.out)" &&
    test "$(replayed | wc -l)" -eq 3 &&
    test "$(q "SELECT status FROM runs WHERE run_id = 1")" = finished &&
    rm -r .flor/slurm
'

test_expect_success 'a cancelled job: tasks never started are cancelled, a running one killed' '
    cd proj && forget_replays &&
    printf "%s\n" "#!/bin/sh" "case \"\$*\" in *\"--replay_flor 0/2\"*) sleep 60;; esac" "exec ./linear \"\$@\"" >slow0 &&
    chmod +x slow0 &&
    job=$(flor replay --slurm="--hold" --no-wait --segments 2 --run 1 -- ./slow0 2>/dev/null) &&
    scontrol release "${job}_0" &&
    i=0 && until test -f .flor/slurm/replay-*/task-0.pid || test $i -ge 300; do
        i=$((i + 1)); sleep 0.1; done &&
    test -f .flor/slurm/replay-*/task-0.pid &&
    scancel "$job" &&
    test_exit_code 1 flor replay --format csv --follow "$job" >../cancel.csv 2>../cancel.err &&
    grep -q "^0,killed," ../cancel.csv &&
    grep -q "^1,cancelled," ../cancel.csv &&
    grep -q "^flor: segment 0/2 killed" ../cancel.err &&
    test "$(q "SELECT status FROM runs WHERE run_id = 1")" = finished &&
    rm -r .flor/slurm
'

test_expect_success 'NAME on Slurm: each run in its version, built here, replayed as one job array, as locally' '
    new_project names && cd names &&
    cp "$REPO_ROOT/examples/linear.c" linear.c && printf "linear\n" >.gitignore &&
    git add linear.c .gitignore && git commit -q -m linear &&
    BUILD="cc $SAN -std=c11 -D_GNU_SOURCE -O2 -fno-math-errno -I$REPO_ROOT/include linear.c -o linear $LIBS" &&
    $BUILD && ./linear --kwargs $ARGS >/dev/null && ./linear --kwargs $ARGS hidden=16 >/dev/null &&
    add_weight_norm >linear.c &&
    flor replay weight_norm --format csv -j 4 --build "$BUILD" -- ./linear >../names-local.csv 2>../names-local.err &&
    replayed >../names-local.values && test "$(wc -l <../names-local.values)" -eq 8 &&
    forget_replays &&
    flor replay weight_norm --format csv -j 4 --slurm --build "$BUILD" -- ./linear >../names-slurm.csv 2>../names-slurm.err &&
    replayed >../names-slurm.values && test_cmp ../names-local.values ../names-slurm.values &&
    cut -d, -f1-3,5- ../names-local.csv >../expect && cut -d, -f1-3,5- ../names-slurm.csv >../actual &&
    test_cmp ../expect ../actual && test "$(grep -c ",finished,4,0," ../actual)" -eq 2 &&
    grep -q "^flor: submitted 2 runs in 2 segments each as Slurm job [0-9]* " ../names-slurm.err &&
    test ! -e .flor/slurm &&
    test_exit_code 2 flor replay weight_norm --slurm --no-wait -- ./linear 2>../usage.err &&
    grep -q "no-wait is for one run" ../usage.err
'

test_expect_success 'SIGTERM while it waits cancels the job, reports what ran, and ends flor by it' '
    cd proj && forget_replays &&
    { flor replay --format csv --slurm --segments 2 --run 1 -- ./slow0 >../term.csv 2>../term.err & } &&
    pid=$! &&
    i=0 && until test -f .flor/slurm/replay-*/task-1.rc || test $i -ge 300; do
        i=$((i + 1)); sleep 0.1; done &&
    test -f .flor/slurm/replay-*/task-0.pid && test -f .flor/slurm/replay-*/task-1.rc &&
    kill -TERM $pid &&
    test_exit_code 143 wait $pid &&
    grep -q "^flor: interrupted (SIGTERM): cancelled Slurm job [0-9]*; waiting for its tasks to end" ../term.err &&
    grep -q "^0,killed," ../term.csv &&
    grep -q "^1,finished," ../term.csv &&
    test "$(replayed | wc -l)" -eq 2 &&
    rm -r .flor/slurm
'

test_expect_success 'bad sbatch options, or no sbatch: clear errors, nothing left behind' '
    cd proj &&
    test_exit_code 1 flor replay --slurm="--no-such-option" -- ./linear 2>../bad.err &&
    grep -q "^flor: sbatch --no-such-option .*/job.sh failed (exit status [0-9]*): sbatch: unrecognized option .--no-such-option." ../bad.err &&
    test_exit_code 1 flor replay --slurm="--partition=nowhere" -- ./linear 2>../part.err &&
    grep -q "sbatch --partition=nowhere .* failed .*invalid partition" ../part.err &&
    test_exit_code 1 env PATH="$FLOR_BUILD" flor replay --slurm -- ./linear 2>../none.err &&
    grep -q "^flor: cannot run .sbatch.: no such program in PATH" ../none.err &&
    test -z "$(ls .flor/slurm 2>/dev/null)" &&
    test_exit_code 2 flor replay --no-wait -- ./linear 2>../usage.err &&
    grep -q "add --slurm" ../usage.err &&
    test_exit_code 2 flor replay --plan --slurm -- ./linear 2>../usage.err &&
    test_exit_code 2 flor replay --follow 3 -- ./linear 2>../usage.err &&
    test_exit_code 1 flor replay --follow 12x 2>../usage.err &&
    grep -q "expected the job id of a Slurm replay" ../usage.err
'

test_done
