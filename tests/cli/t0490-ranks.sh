#!/bin/sh
# A run of several processes: `mpirun -np 2` of a trainer that averages
# its ranks' gradients with MPI_Allreduce (tests/mpi/avg.c) is one run
# with two ranks.  Each rank logs and checkpoints its own state under its
# rank; the code is snapshotted once; a replay runs as many ranks and
# gives each rank's new values, equal bit for bit to a run recorded with
# the statement.
. "$(dirname "$0")/lib.sh"

command -v mpirun >/dev/null && command -v mpicc >/dev/null || {
    echo "FAIL $TEST_NAME: mpirun and mpicc are needed (Debian: openmpi-bin libopenmpi-dev;" \
        "scripts/install-deps.sh installs them)"
    exit 1
}
# Open MPI refuses root unless told, and 2 ranks may exceed the cores
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
# Open MPI's own allocations at exit are not flor's
export ASAN_OPTIONS=detect_leaks=0
SAN=""
case "$FLOR_BUILD" in *build-san) SAN="-fsanitize=address,undefined" ;; esac
LIBS="$FLOR_BUILD/libflor.a $(pkg-config --libs sqlite3 libgit2 libzstd libxxhash libcurl libpq) -lpthread -lm"
BUILD="mpicc $SAN -std=c11 -D_GNU_SOURCE -O2 -I$REPO_ROOT/include avg.c -o avg $LIBS"

# The project: avg.c without the hindsight statement, and with it.
mkdir proj && (cd proj && git init -q . && printf 'avg\n' >.gitignore)
sed '/^#ifdef HINDSIGHT/,/^#endif/d' "$REPO_ROOT/tests/mpi/avg.c" >proj/avg.c
sed '/^#ifdef HINDSIGHT/d; /^#endif/d' "$REPO_ROOT/tests/mpi/avg.c" >with-statement.c
(cd proj && git add . && git commit -qm trainer && eval "$BUILD")

q() { (cd proj && flor query "$1"); }

test_expect_success 'mpirun -np 2 records one run with two ranks' '
    (cd proj && mpirun -np 2 ./avg >../out 2>../err) &&
    test "$(grep -c "^rank 0 step" out)" = 200 && test "$(grep -c "^rank 1 step" out)" = 200 &&
    (cd proj && flor runs --format json) >runs.json &&
    test "$(grep -o "\"run\":" runs.json | wc -l)" = 1 &&
    grep -q "\"status\": \"finished\"" runs.json && grep -q "\"ranks\": 2}" runs.json &&
    q "SELECT rank, world_size, launcher, status FROM runs ORDER BY rank" >ranks &&
    printf "rank,world_size,launcher,status\n0,2,mpi,finished\n1,2,mpi,finished\n" >expect &&
    test_cmp expect ranks
'

test_expect_success 'the code is snapshotted once, and both ranks share its version' '
    test "$(q "SELECT count(DISTINCT vid), count(DISTINCT tstamp), count(*) FROM runs" | tail -1)" = "1,1,2" &&
    test "$(cd proj && git log --format=%s flor.shadow | grep -c "^flor run")" = 1 &&
    test "$(q "SELECT vid FROM runs WHERE rank = 1" | tail -1)" = "$(cd proj && git rev-parse flor.shadow)"
'

test_expect_success 'each rank logs and checkpoints its own state' '
    (cd proj && flor dataframe final) >final &&
    head -1 final | grep -q "^projid,tstamp,filename,rank," &&
    test "$(grep -c ",avg," final)" = 2 &&
    test "$(cut -d, -f4 final | tail -n +2 | sort | tr "\n" " ")" = "0 1 " &&
    test "$(q "SELECT count(DISTINCT value) FROM logs WHERE name = '\''final'\''" | tail -1)" = 2 &&
    q "SELECT r.rank, count(*) FROM checkpoints c JOIN runs r USING (run_id) GROUP BY r.rank" >ck &&
    printf "rank,count(*)\n0,8\n1,8\n" >expect && test_cmp expect ck &&
    (cd proj && flor fsck) >fsck 2>&1
'

test_expect_success 'ranks of two jobs running at once do not mix, nor collide on locks' '
    # Open MPI makes its session directory under TMPDIR, and two mpiruns
    # started at the same instant race to create the same one
    mkdir tmp2 tmp3 &&
    (cd proj && TMPDIR=$TRASH/tmp2 mpirun -np 2 ./avg --kwargs steps=150 >../out2 2>../err2 ||
        { echo "exit $?"; cat ../err2; false; }) &
    (cd proj && TMPDIR=$TRASH/tmp3 mpirun -np 2 ./avg --kwargs steps=120 >../out3 2>../err3 ||
        { echo "exit $?"; cat ../err3; false; }) &&
    wait $! &&
    q "SELECT a.value, count(*), count(DISTINCT r.rank), min(r.world_size) FROM runs r JOIN args a
       USING (run_id) WHERE a.name = '\''steps'\'' GROUP BY r.tstamp ORDER BY a.value" >jobs &&
    printf "value,count(*),count(DISTINCT r.rank),min(r.world_size)\n120,2,2,2\n150,2,2,2\n200,2,2,2\n" >expect &&
    test_cmp expect jobs &&
    test "$(q "SELECT count(*) FROM runs WHERE status != '\''finished'\''" | tail -1)" = 0 &&
    test "$(cd proj && git log --format=%s flor.shadow | grep -c "^flor run")" = 3
'

test_expect_success 'gc counts a run of several processes once: --keep-runs 1 keeps both ranks of the last' '
    cp -r proj gcproj &&
    (cd gcproj && flor gc --keep-runs 1 --format json >../gc.json 2>../gc.err) &&
    last=$(cd gcproj && flor query "SELECT max(tstamp) FROM runs" | tail -1) &&
    (cd gcproj && flor query "SELECT r.tstamp = '\''$last'\'' AS latest, r.rank, count(*)
        FROM checkpoints c JOIN runs r USING (run_id) GROUP BY 1, 2 ORDER BY 1, 2") >kept &&
    q "SELECT r.tstamp = '\''$last'\'' AS latest, r.rank, count(*)
        FROM checkpoints c JOIN runs r USING (run_id) GROUP BY 1, 2 ORDER BY 1, 2" >before &&
    test "$(sed -n 4,5p kept)" = "$(sed -n 4,5p before)" &&
    test "$(sed -n 2p kept | cut -d, -f3)" -lt "$(sed -n 2p before | cut -d, -f3)" &&
    test "$(sed -n 3p kept | cut -d, -f3)" -lt "$(sed -n 3p before | cut -d, -f3)" &&
    (cd gcproj && flor fsck >/dev/null)
'

test_expect_success 'replay with two ranks: new values of both, equal to a recorded run of the statement' '
    cp with-statement.c proj/avg.c &&
    (cd proj && flor replay grad_norm --where "run_id = 1" --build "$BUILD" >../sum 2>../rerr ||
        { echo "exit $?"; cat ../sum ../rerr; false; }) &&
    grep -q "^1,[0-9a-f]*,finished,[0-9.]*,16,0,$" sum &&
    (cd proj && git checkout -q avg.c && cp ../with-statement.c avg.c && eval "$BUILD" &&
     mpirun -np 2 ./avg >../out4 2>../err4) &&
    q "SELECT r.rank, l.ctx_id IS NOT NULL, lp.iteration, l.value FROM logs l JOIN runs r USING (run_id)
       LEFT JOIN loops lp ON lp.run_id = l.run_id AND lp.ctx_id = l.ctx_id
       WHERE l.name = '\''grad_norm'\'' AND r.run_id <= 2 ORDER BY 1, 3" >replayed &&
    last=$(q "SELECT max(tstamp) FROM runs" | tail -1) &&
    q "SELECT r.rank, l.ctx_id IS NOT NULL, lp.iteration, l.value FROM logs l JOIN runs r USING (run_id)
       LEFT JOIN loops lp ON lp.run_id = l.run_id AND lp.ctx_id = l.ctx_id
       WHERE l.name = '\''grad_norm'\'' AND r.tstamp = '\''$last'\'' ORDER BY 1, 3" >recorded &&
    test "$(wc -l <replayed)" = 17 &&
    test_cmp recorded replayed &&
    test "$(q "SELECT count(*) FROM replays x JOIN runs r USING (run_id) WHERE r.run_id <= 2 AND x.restores > 0" | tail -1)" -ge 1
'

test_expect_success 'with the adaptive policy (each rank picks its own steps) a replay equals a recorded run' '
    mkdir adaptive && (cd adaptive && git init -q . &&
        mpirun -np 2 mpi_avg --kwargs every=0 steps=600 >out 2>err &&
        flor replay --run 1 -j 2 -- mpirun -np 2 mpi_avg-hindsight >../asum 2>../aerr &&
        mpirun -np 2 mpi_avg-hindsight --kwargs every=0 steps=600 >out2 2>err2) &&
    vals() { (cd adaptive && flor query "SELECT r.rank, lp.iteration, l.value FROM logs l
        JOIN runs r USING (run_id) JOIN loops lp ON lp.run_id = l.run_id AND lp.ctx_id = l.ctx_id
        WHERE l.name = '\''grad_norm'\'' AND r.tstamp $1 (SELECT min(tstamp) FROM runs)
        ORDER BY 1, 2"); } &&
    vals = >replayed && vals ">" >recorded &&
    test "$(wc -l <replayed)" = 49 &&
    test_cmp recorded replayed &&
    grep -q "48 new values, 0 divergences" aerr
'

test_expect_success 'examples/steps.c data parallel: two ranks train one model on Fashion-MNIST' '
    mkdir mnist && (cd mnist && git init -q . &&
        mpirun -np 2 steps-mpi --kwargs steps=100 eval_every=50 ntrain=1000 ntest=200 every=50 \
            >out 2>err) &&
    test "$(grep -c "^step [0-9]* loss" mnist/out)" = 100 &&
    (cd mnist && flor dataframe val_acc) >acc &&
    test "$(wc -l <acc)" = 5 &&
    test "$(cut -d, -f4 acc | tail -n +2 | tr "\n" " ")" = "0 0 1 1 " &&
    test "$(sed -n 2p acc | cut -d, -f13-)" = "$(sed -n 4p acc | cut -d, -f13-)" &&
    test "$(sed -n 3p acc | cut -d, -f13-)" = "$(sed -n 5p acc | cut -d, -f13-)" &&
    (cd mnist && test_must_fail mpirun -np 2 steps-mpi --kwargs batch=33 steps=1 ntrain=100 \
        ntest=10 >out3 2>err3) &&
    grep -q "batch=33: expected a multiple of the 2 processes" mnist/err3
'

test_expect_success 'a replay with another number of ranks is refused, naming both' '
    (cd proj && test_must_fail mpirun -np 1 ./avg --replay_flor --replay_run 1 >../out5 2>../err5) &&
    grep -q "run 1 was recorded by 2 processes and this replay is 1" err5
'

test_expect_success 'FLOR_RANK without FLOR_WORLD_SIZE, or a rank past the world, is an error' '
    (cd proj && FLOR_RANK=1 test_must_fail ./avg 2>../err6) &&
    grep -q "FLOR_RANK is set but FLOR_WORLD_SIZE is not" err6 &&
    (cd proj && FLOR_RANK=2 FLOR_WORLD_SIZE=2 test_must_fail ./avg 2>../err7) &&
    grep -q "FLOR_RANK=2: expected a rank below FLOR_WORLD_SIZE=2" err7
'

test_expect_success 'a rank whose rank 0 never comes gives up after FLOR_RANK_WAIT' '
    (cd proj && FLOR_RANK=1 FLOR_WORLD_SIZE=2 FLOR_JOB=lonely FLOR_RANK_WAIT=0.3 \
        test_must_fail ./avg 2>../err8) &&
    grep -q "rank 1 of 2: rank 0 of the job (job:lonely) did not start its run" err8
'

values() { (cd "$1" && flor query "SELECT r.rank, l.name, lp.iteration, l.value FROM logs l
    JOIN runs r USING (run_id) LEFT JOIN loops lp ON lp.run_id = l.run_id AND lp.ctx_id = l.ctx_id
    ORDER BY 1, 2, 3"); }

test_expect_success 'kill -9 of a rank, then mpirun --resume_flor: both ranks go on, bit for bit' '
    mkdir truth crash && (cd truth && git init -q . && mpirun -np 2 mpi_avg >out 2>err) &&
    (cd crash && git init -q . &&
        { AVG_KILL_AT=137 mpirun -np 2 mpi_avg --kwargs sleep_us=2000 >out 2>err && false || true; } &&
        flor query "SELECT rank, status FROM runs ORDER BY rank" >../crashed &&
        mpirun -np 2 mpi_avg --resume_flor >out2 2>err2 || { cat err2; false; }) &&
    printf "rank,status\n0,killed\n1,killed\n" >expect && test_cmp expect crashed &&
    test ! -s crash/err2 &&
    values truth >expect && values crash >actual && test_cmp expect actual &&
    (cd crash && flor query "SELECT r.rank, x.iteration, x.status FROM resumes x JOIN runs r
        USING (run_id) ORDER BY 1") >resumed &&
    test "$(cut -d, -f2 resumed | sort -u | wc -l)" = 2 &&
    test "$(cut -d, -f3 resumed | tail -n +2 | sort -u)" = finished &&
    (cd crash && flor runs --format json) >runs.json &&
    grep -q "\"status\": \"finished\"" runs.json && grep -q "\"ranks\": 2}" runs.json &&
    (cd crash && flor query "SELECT count(*) FROM checkpoints GROUP BY run_id") >ck &&
    printf "count(*)\n8\n8\n" >expect && test_cmp expect ck &&
    (cd crash && flor query "SELECT count(*) FROM checkpoints c JOIN resumes x USING (run_id)
        WHERE c.iteration > x.iteration AND c.created < x.started") >stale &&
    printf "count(*)\n0\n" >expect && test_cmp expect stale &&
    (cd crash && flor fsck >/dev/null)
'

test_expect_success 'a resume with another number of ranks is refused, changing nothing' '
    mkdir crash2 && (cd crash2 && git init -q . &&
        { AVG_KILL_AT=137 mpirun -np 2 mpi_avg --kwargs sleep_us=2000 >out 2>err && false || true; } &&
        test_must_fail mpi_avg --resume_flor 2>err2 &&
        flor query "SELECT status FROM runs" >status) &&
    grep -q "run 1 was recorded by 2 processes and this resume is 1: resume it with as many" crash2/err2 &&
    printf "status\nkilled\nkilled\n" >expect && test_cmp expect crash2/status
'

test_done
