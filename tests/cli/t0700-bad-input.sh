#!/bin/sh
# Bad input never trains silently on a default, never loops forever, and
# never leaves a registration hole unannounced: each is refused before
# training (exit 2) or fails the run loudly, with its reason in flor runs.

. "$(dirname "$0")/lib.sh"

# runs_reason N: "status|reason" of run N
runs_reason() {
    flor query "SELECT status || '|' || ifnull(reason, '') AS x FROM runs WHERE run_id=$1" |
        tail -n +2 | sed 's/^"//; s/"$//; s/""/"/g'
}

test_expect_success 'setup' '
    new_project proj
'

for case in \
    "rounds=abc|--kwargs rounds=abc: expected an integer" \
    "rounds=99999999999999999999|--kwargs rounds=99999999999999999999: expected an integer in range" \
    "rounds=3000000000|--kwargs rounds=3000000000: expected an integer in range (an int)" \
    "flag=maybe|--kwargs flag=maybe: expected true or false (or yes, no, 1, 0)" \
    "lr=fast|--kwargs lr=fast: expected a number"
do
    kw=${case%%|*}
    msg=${case#*|}
    test_expect_success "--kwargs $kw: exit 2 before training, the run failed with its reason" '
        (cd proj && test_exit_code 2 trust args --kwargs "$kw" >out 2>err) &&
        echo "flor: $msg" >expect &&
        test_cmp expect proj/err &&
        ! grep trained proj/out &&
        last=$(cd proj && flor query "SELECT max(run_id) FROM runs" | tail -n 1) &&
        echo "failed|$msg" >expect &&
        (cd proj && runs_reason $last) >actual &&
        test_cmp expect actual
    '
done

test_expect_success 'the bad value stays in the run as given' '
    (cd proj && flor query "SELECT value FROM args WHERE run_id=1 AND name=\"rounds\"") >actual &&
    printf "value\nabc\n" >expect &&
    test_cmp expect actual
'

test_expect_success 'a name given twice warns and the last one wins' '
    (cd proj && FLOR_QUIET= trust args --kwargs epochs=2 epochs=3 >out 2>err) &&
    grep "^flor: warning: --kwargs epochs given twice (2, then 3): using 3$" proj/err &&
    grep "epochs=3 .*iterations=3" proj/out
'

test_expect_success 'epochs=-5: the loop does not run, the run fails loudly (even quiet)' '
    (cd proj && test_must_fail timeout 20 trust args --kwargs epochs=-5 >out 2>err) &&
    grep "iterations=0" proj/out &&
    msg="loop '\''epoch'\'': expected a number of iterations >= 0, got -5: the loop does not run" &&
    echo "flor: error: $msg" >expect &&
    test_cmp expect proj/err &&
    last=$(cd proj && flor query "SELECT max(run_id) FROM runs" | tail -n 1) &&
    echo "failed|$msg" >expect &&
    (cd proj && runs_reason $last) >actual &&
    test_cmp expect actual &&
    (cd proj && flor query "SELECT count(*) FROM checkpoints WHERE run_id=$last") >n &&
    test "$(tail -n 1 n)" = 0
'

test_expect_success 'epochs=-1 in FLOR_LOOP is no endless loop either' '
    (cd proj && test_must_fail timeout 20 trust args --kwargs epochs=-1 >out 2>err) &&
    grep "iterations=0" proj/out &&
    grep "got -1: the loop does not run" proj/err
'

test_expect_success 'a NULL or zero-byte registration is an error a user sees' '
    (cd proj && test_must_fail trust lazy >out 2>err) &&
    printf "null: -1\nzero: -1\n" >expect &&
    test_cmp expect proj/out &&
    grep "^flor: error: flor_checkpoint(.adam_m.): NULL data: this state would be missing from every checkpoint" proj/err &&
    grep "^flor: error: flor_checkpoint(.empty.): zero bytes" proj/err &&
    last=$(cd proj && flor query "SELECT max(run_id) FROM runs" | tail -n 1) &&
    (cd proj && runs_reason $last) >actual &&
    grep "^failed|flor_checkpoint(.adam_m.): NULL data.*; flor_checkpoint(.empty.): zero bytes" actual
'

test_expect_success 'kill -9 right after flor_init keeps the run row and the overrides' '
    (cd proj && (trust sleep --kwargs epochs=7 lr=0.1 >ready & echo $! >pid; wait) ) &
    for i in $(seq 100); do test -s proj/ready && break; sleep 0.1; done &&
    kill -9 $(cat proj/pid) && wait &&
    last=$(cd proj && flor query "SELECT max(run_id) FROM runs" | tail -n 1) &&
    (cd proj && flor query "SELECT name || \"=\" || value || \":\" || typeof(value) AS a FROM args WHERE run_id=$last ORDER BY name") >actual &&
    printf "%s\n" a "epochs=7:integer" "lr=0.1:text" >expect &&
    test_cmp expect actual &&
    (cd proj && flor runs --format csv | tail -n 1 | cut -d, -f6) >status &&
    echo killed >expect && test_cmp expect status
'

test_done
