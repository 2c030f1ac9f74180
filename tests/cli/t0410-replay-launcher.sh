#!/bin/sh
# flor replay: the segment launcher.  Run over 2 and 3 segments, the new
# statement of t0400 gets the values that a single `--replay_flor` (and
# a retraining) gives, with no row lost to concurrent workers; the
# summary is read from the replays table; failures are named with their
# logs; Ctrl-C reaches the segments; --plan prints shards that give the
# same values when run by hand.
. "$(dirname "$0")/lib.sh"
. "$TEST_SRC/lib-linear.sh"

# the logs that failed segments leave behind stay in the scratch directory
mkdir -p "$TRASH/tmp" && export TMPDIR="$TRASH/tmp"

# weight_norm per epoch of run 1, as "epoch,value" lines
norms() {
    q "SELECT lp.iteration, l.value FROM logs l JOIN loops lp
       ON lp.run_id = l.run_id AND lp.ctx_id = l.ctx_id
       WHERE l.name = 'weight_norm' AND l.run_id = 1 ORDER BY lp.iteration"
}

# the replays rows added after replay_id $1, as "segment,nsegments,status"
new_replays() {
    q "SELECT segment, nsegments, status FROM replays WHERE replay_id > $1 ORDER BY segment"
}

last_replay_id() {
    q "SELECT coalesce(max(replay_id), 0) FROM replays"
}

test_expect_success 'setup: record the example; the truth is a retraining with the statement' '
    add_weight_norm >with_norm.c &&
    grep -q weight_norm with_norm.c &&
    build with_norm.c ./linear_norm &&
    new_project truth && (cd truth && ../linear_norm --kwargs $ARGS >out) &&
    (cd truth && norms) >expect &&
    test "$(wc -l <expect)" -eq 4 &&
    new_project proj && cd proj &&
    FLOR_OVERHEAD=1 linear --kwargs $ARGS >/dev/null &&
    test "$(q "SELECT count(*) FROM checkpoints")" -eq 4 &&
    cp ../linear_norm ./linear &&
    ./linear --replay_flor >/dev/null &&
    norms >../single &&
    test_cmp ../expect ../single
'

test_expect_success 'replay -j 2: two segments give the values of one replay, and a summary' '
    cd proj && forget_replays &&
    base=$(last_replay_id) &&
    flor replay -j 2 -- ./linear >sum 2>err &&
    norms >actual &&
    test_cmp ../single actual &&
    test "$(q "SELECT count(*) FROM logs WHERE source = '"'replay'"'")" -eq 4 &&
    cut -d, -f1,2,4- sum >actual &&
    cat >expect <<-\EOF &&
	segment,status,new_values,compared,divergences,restores
	0,finished,2,2,0,2
	1,finished,2,3,0,3
	EOF
    test_cmp expect actual &&
    head -n 1 sum >header &&
    echo "segment,status,seconds,new_values,compared,divergences,restores" >expect &&
    test_cmp expect header &&
    tail -n +2 sum | cut -d, -f3 | grep -Eqx "[0-9]+\.[0-9]+" &&
    new_replays $base >actual &&
    printf "%s\n" 0,2,finished 1,2,finished >expect &&
    test_cmp expect actual &&
    test "$(q "SELECT count(DISTINCT pid) FROM replays WHERE replay_id > $base")" -eq 2 &&
    grep -Eq "^flor: replay of run 1: 2 segments in [0-9.]+ s, 4 new values, 0 divergences$" err &&
    test "$(grep -c "^replay: segment [01]/2 finished, [0-9.]* s ([12]/2 done)$" err)" -eq 2 &&
    ! grep -q warning err
'

test_expect_success 'replay --segments 3 -j 2: no value lost by concurrent workers' '
    cd proj && forget_replays &&
    base=$(last_replay_id) &&
    flor replay --segments 3 -j 2 -- ./linear >sum 2>err &&
    norms >actual &&
    test_cmp ../single actual &&
    test "$(q "SELECT count(*) FROM logs WHERE source = '"'replay'"'")" -eq 4 &&
    cut -d, -f1,2,4- sum >actual &&
    cat >expect <<-\EOF &&
	segment,status,new_values,compared,divergences,restores
	0,finished,2,2,0,2
	1,finished,1,1,0,2
	2,finished,1,2,0,2
	EOF
    test_cmp expect actual &&
    new_replays $base >actual &&
    printf "%s\n" 0,3,finished 1,3,finished 2,3,finished >expect &&
    test_cmp expect actual &&
    grep -Eq "^flor: replay of run 1: 3 segments in [0-9.]+ s, 4 new values, 0 divergences$" err
'

test_expect_success 'more segments than CPUs, one at a time, and a probed loop' '
    cd proj && forget_replays &&
    base=$(last_replay_id) &&
    flor replay -j 1 --segments 4 --probe step --format json -- ./linear >sum 2>err &&
    norms >actual &&
    test_cmp ../single actual &&
    test "$(grep -c "\"status\": \"finished\"" sum)" -eq 4 &&
    head -n 2 sum | tail -n 1 | grep -q "^  {\"segment\": 0, \"status\": \"finished\", \"seconds\": " &&
    test "$(q "SELECT count(*) FROM replays WHERE replay_id > $base AND probed = '"'step'"' AND divergences = 0")" -eq 4 &&
    test "$(q "SELECT sum(compared) FROM replays WHERE replay_id > $base")" -gt 20
'

test_expect_success 'runs: the replays of each run and their divergences' '
    cd proj &&
    n=$(q "SELECT count(*) FROM replays WHERE run_id = 1") &&
    flor runs | tail -n +2 | cut -d, -f1,13,15,16 >actual &&
    echo "1,4,$n,0" >expect &&
    test_cmp expect actual
'

test_expect_success 'divergences: exit 0, the first one shown as a warning, counted in runs' '
    cd proj &&
    sed "s|double loss = train_step(&st, &s, bsz, lr);|double loss = train_step(\&st, \&s, bsz, lr * 1.001);|" \
        "$REPO_ROOT/examples/linear.c" >perturbed.c &&
    grep -q "lr \* 1.001" perturbed.c &&
    mkdir -p perturbed && build perturbed.c perturbed/linear &&
    flor replay -j 2 --probe step -- perturbed/linear >sum 2>err &&
    grep -q "^flor: warning: the replay diverged from the recording; first, in segment 0: loss at epoch=0/step=20: recorded " err &&
    grep -Eq "^flor: replay of run 1: 2 segments in [0-9.]+ s, 0 new values, [1-9][0-9]* divergences$" err &&
    tail -n +2 sum | cut -d, -f2 | sort -u >actual &&
    echo finished >expect &&
    test_cmp expect actual &&
    test "$(tail -n +2 sum | cut -d, -f6 | sort -n | head -n 1)" -gt 0 &&
    test "$(flor runs | tail -n 1 | cut -d, -f16)" -gt 0
'

test_expect_success 'a failing segment: exit 1, named with its kept log and its last lines' '
    cd proj &&
    cat >fail1 <<-\EOF &&
	#!/bin/sh
	case "$*" in *"--replay_flor 1/2"*) echo "fail1: no GPU for segment 1" >&2; exit 3 ;; esac
	exec ./linear "$@"
	EOF
    chmod +x fail1 &&
    mkdir -p tmp &&
    test_exit_code 1 env TMPDIR=$PWD/tmp flor replay -j 2 -- ./fail1 >sum 2>err &&
    cat >expect <<-\EOF &&
	segment,status,new_values,compared,divergences,restores
	0,finished,2,2,0,2
	1,failed,,,,
	EOF
    cut -d, -f1,2,4- sum >actual &&
    test_cmp expect actual &&
    grep "^flor: segment 1/2 failed: exit status 3$" err &&
    log=$(sed -n "s/^flor: its stderr, in \(.*\), ends with:$/\1/p" err) &&
    case "$log" in "$PWD"/tmp/flor-replay.*/segment-1.err) ;; *) exit 1 ;; esac &&
    test -f "$log" &&
    grep -x "    fail1: no GPU for segment 1" err &&
    (cd "$(dirname "$log")" && ls) >actual &&
    printf "%s\n" segment-1.err segment-1.out >expect &&
    test_cmp expect actual
'

test_expect_success 'every segment finished: the logs are removed' '
    cd proj && rm -rf tmp && mkdir tmp &&
    TMPDIR=$PWD/tmp flor replay -j 2 -- ./linear >/dev/null 2>&1 &&
    test -z "$(ls tmp)"
'

test_expect_success 'a wrapper that runs the program in a child: rows found by segment' '
    cd proj && forget_replays &&
    printf "#!/bin/sh\n./linear \"\$@\"\n" >wrap && chmod +x wrap &&
    flor replay -j 2 -- ./wrap >sum 2>err &&
    cut -d, -f1,2,4 sum >actual &&
    printf "%s\n" segment,status,new_values 0,finished,2 1,finished,2 >expect &&
    test_cmp expect actual &&
    norms >actual && test_cmp ../single actual
'

test_expect_success 'a command that replays nothing fails; one that is not there, before starting' '
    cd proj &&
    test_exit_code 1 flor replay -j 1 --segments 1 -- true >sum 2>err &&
    grep "^flor: segment 0/1 failed: it exited with status 0 but recorded no replay; does COMMAND run a flor program and pass its arguments on?$" err &&
    test_exit_code 1 flor replay -- no-such-program >sum 2>err &&
    echo "flor: cannot run '\''no-such-program'\'': no such program in PATH" >expect &&
    test_cmp expect err &&
    test ! -s sum &&
    test_exit_code 1 flor replay --run 99 -- ./linear 2>err &&
    grep "^flor: no run '\''99'\'' in project '\''proj'\''" err
'

# What --plan prints, @DIR@ standing for the project's directory.
cat >plan.expect <<\EOF
# flor replay: 3 segments of run 1 of ./linear.
# Every segment writes into the project's database,
#   @DIR@/.flor/flor.db
# so run them on this machine, or on nodes that share its file system.

# (a) GNU parallel (--plan=parallel prints it alone)
cd @DIR@ &&
parallel -j 2 ::: \
  './linear '\''a b'\'' '\''it'\''\'\'''\''s'\'' --replay_flor 0/3 --replay_run 1 --probe step' \
  './linear '\''a b'\'' '\''it'\''\'\'''\''s'\'' --replay_flor 1/3 --replay_run 1 --probe step' \
  './linear '\''a b'\'' '\''it'\''\'\'''\''s'\'' --replay_flor 2/3 --replay_run 1 --probe step'

# (b) a Slurm job array (--plan=slurm prints it alone)
#!/bin/sh
#SBATCH --job-name=flor-replay
#SBATCH --array=0-2%2
cd @DIR@ || exit 1
exec ./linear 'a b' 'it'\''s' --replay_flor "${SLURM_ARRAY_TASK_ID}/3" --replay_run 1 --probe step
EOF

cat >slurm.expect <<\EOF
#!/bin/sh
#SBATCH --job-name=flor-replay
#SBATCH --array=0-1
# flor replay: 2 segments of other.
# Every segment writes into the project's database,
#   @DIR@/.flor/flor.db
# so run them on this machine, or on nodes that share its file system.
cd @DIR@ || exit 1
exec other --replay_flor "${SLURM_ARRAY_TASK_ID}/2"
EOF

test_expect_success '--plan: GNU parallel and Slurm, words quoted' '
    cd proj &&
    sed "s|@DIR@|$(pwd -P)|g" ../plan.expect >expect &&
    flor replay --plan -j 2 --segments 3 --probe step -- ./linear "a b" "it'\''s" >actual &&
    test_cmp expect actual
'

test_expect_success '--plan=slurm alone, without -j: no throttle; no run of that name: none pinned' '
    cd proj &&
    sed "s|@DIR@|$(pwd -P)|g" ../slurm.expect >expect &&
    flor replay --plan=slurm --segments 2 -- other >actual &&
    test_cmp expect actual
'

test_expect_success 'the planned shards, run by hand, give the same values' '
    cd proj &&
    flor replay --plan=parallel -j 2 --segments 3 -- ./linear >plan.sh &&
    flor replay --plan=slurm --segments 3 -- ./linear >plan.sbatch &&
    cd .. &&
    forget() { (cd proj && forget_replays); } &&
    forget &&
    cat >parallel <<-\EOF &&
	#!/bin/sh
	# a stand-in for GNU parallel: runs each command of ::: in turn
	while [ "$1" != ":::" ]; do shift; done; shift
	for c in "$@"; do sh -c "$c" >/dev/null || exit 1; done
	EOF
    chmod +x parallel &&
    PATH=$PWD:$PATH sh proj/plan.sh &&
    (cd proj && norms) >actual && test_cmp single actual &&
    forget &&
    for i in 0 1 2; do SLURM_ARRAY_TASK_ID=$i sh proj/plan.sbatch >/dev/null || exit 1; done &&
    (cd proj && norms) >actual && test_cmp single actual
'

test_expect_success 'usage errors exit 2' '
    cd proj &&
    test_exit_code 2 flor replay 2>err &&
    grep "^flor: missing the program to replay: flor replay \[OPTIONS\] -- COMMAND \[ARGS...\]$" err &&
    grep "^see '\''flor help replay'\''$" err &&
    test_exit_code 2 flor replay -j 2 -- 2>err &&
    grep "^flor: missing the program" err &&
    test_exit_code 2 flor replay ./linear 2>err &&
    grep "^flor: '\''./linear'\'' is not the NAME of a logged value; to replay the program, put it after '\''--'\'': flor replay -- ./linear$" err &&
    test_exit_code 2 flor replay -j 0 -- ./linear 2>err &&
    grep "^flor: option '\''-j'\'' expects a number from 1 to 4096, not '\''0'\''$" err &&
    test_exit_code 2 flor replay -jx -- ./linear 2>err &&
    test_exit_code 2 flor replay -j 2>err &&
    grep "^flor: option '\''-j'\'' needs a value$" err &&
    test_exit_code 2 flor replay --segments 0 -- ./linear 2>err &&
    test_exit_code 2 flor replay --segments=-3 -- ./linear 2>err &&
    test_exit_code 2 flor replay --plan=make -- ./linear 2>err &&
    test_exit_code 2 flor replay --bogus -- ./linear 2>err &&
    grep "^flor: unknown option '\''--bogus'\''$" err &&
    test_exit_code 2 flor replay -- ./linear --replay_flor 0/2 2>err &&
    grep "^flor: '\''--replay_flor'\'' is for flor replay to add" err &&
    flor replay -j 3 -h >out && grep -q "^usage: flor replay" out
'

test_expect_success 'Ctrl-C reaches the running segments, which end as killed' '
    new_project slow && cd slow &&
    FLOR_OVERHEAD=1 ckpt --kwargs epochs=8 sleep_ms=500 >/dev/null
    # a background job starts with SIGINT ignored, unlike one at a terminal
    env --default-signal=INT flor replay -j 2 --segments 4 -- ckpt >sum 2>err &
    pid=$!
    n=0 &&
    while [ "$(q "SELECT count(*) FROM replays WHERE status = '"'running'"'")" -lt 2 ]; do
        n=$((n + 1)) && [ $n -lt 200 ] && sleep 0.05 || { kill $pid; exit 1; }
    done &&
    kill -INT $pid &&
    rc=0 && wait $pid || rc=$? &&
    test "$rc" -eq 130 &&
    grep "^flor: interrupted: SIGINT passed on to the 2 running segments; waiting for them" err &&
    cut -d, -f1,2 sum >actual &&
    printf "%s\n" segment,status 0,killed 1,killed 2,cancelled 3,cancelled >expect &&
    test_cmp expect actual &&
    q "SELECT segment, status FROM replays ORDER BY segment" >actual &&
    printf "%s\n" 0,killed 1,killed >expect &&
    test_cmp expect actual
'

test_done
