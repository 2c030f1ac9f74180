#!/bin/sh
# A process that ends before its first log or loop (--help, a usage error,
# nothing to do) leaves no run: its row and args go, at its normal end.
# A run that logged, or whose loop began, is kept; so is a run killed
# before its first log, which the reaper marks killed (docs: flor.h,
# "Runs that record nothing").

. "$(dirname "$0")/lib.sh"

test_expect_success 'setup' '
    new_project proj
'

nruns() {
    (cd proj && q "SELECT count(*) FROM runs")
}

test_expect_success 'prog --help, returning from main without flor_finish: no run, no args' '
    (cd proj && usage --help --kwargs epochs=7 >out 2>err) &&
    grep "^usage: usage" proj/out &&
    echo 0 >expect && nruns >actual && test_cmp expect actual &&
    (cd proj && q "SELECT count(*) FROM args") >actual && test_cmp expect actual
'

test_expect_success 'a usage error (exit 2): no run' '
    (cd proj && test_exit_code 2 usage --bad >out 2>err) &&
    grep "^usage: usage" proj/err &&
    echo 0 >expect && nruns >actual && test_cmp expect actual
'

test_expect_success 'flor_finish() with nothing logged: no run' '
    (cd proj && usage --nothing) &&
    echo 0 >expect && nruns >actual && test_cmp expect actual
'

test_expect_success 'a program that logs keeps its run, args and code version' '
    (cd proj && usage --kwargs epochs=3) &&
    (cd proj && q "SELECT status, vid IS NOT NULL FROM runs") >actual &&
    echo "finished,1" >expect && test_cmp expect actual &&
    (cd proj && q "SELECT name, value FROM args") >actual &&
    echo "epochs,3" >expect && test_cmp expect actual &&
    (cd proj && q "SELECT count(*) FROM logs") >actual &&
    echo 3 >expect && test_cmp expect actual
'

test_expect_success 'a loop that began but had no iterations keeps the run' '
    (cd proj && usage --kwargs epochs=0) &&
    echo 2 >expect && nruns >actual && test_cmp expect actual
'

test_expect_success 'the code snapshot of a removed run stays on flor.shadow (history is only appended)' '
    git -C proj log --format=%s flor.shadow >subjects &&
    grep -c "^flor run [0-9]*: usage --help --kwargs epochs=7$" subjects >actual &&
    echo 1 >expect && test_cmp expect actual
'

test_expect_success 'killed before its first log: the reaper marks the run killed, it stays' '
    (cd proj && trust sleep >out 2>err &
     echo $! >pid) &&
    n=0 && until grep -q ready proj/out 2>/dev/null; do
        n=$((n + 1)) && [ $n -lt 200 ] && sleep 0.05 || { kill $(cat pid); exit 1; }
    done &&
    kill -9 $(cat pid) && sleep 0.2 &&
    (cd proj && usage --kwargs epochs=1) &&
    (cd proj && q "SELECT filename, status FROM runs WHERE filename = '\''trust'\''") >actual &&
    echo "trust,killed" >expect && test_cmp expect actual &&
    (cd proj && q "SELECT a.value FROM args a JOIN runs r USING (run_id) WHERE r.filename = '\''trust'\''") >actual &&
    echo 2 >expect && test_cmp expect actual
'

test_done
