#!/bin/sh
# A full or failing disk during a record (ENOSPC, EIO on the Nth write or
# fsync of flor.db, transient or for good): every run either lands whole
# and finished, or says so on stderr at once and ends failed with its
# reason (or, when even that cannot be written, says it will show as
# killed), exits non-zero, and nothing recorded before is lost.

. "$(dirname "$0")/lib.sh"

FAULT=$FAULT_LIB
N_LOGS=2000

# one_run ERRNO STICKY OPS AT: a faulty run of `trust logs`, then checks
# it.  Appends a line to sweep.log for the failure messages.
one_run() {
    before=$(flor query "SELECT count(*) FROM runs" | tail -n 1)
    rc=0
    FAULT_ERRNO=$1 FAULT_STICKY=$2 FAULT_OPS=$3 FAULT_AT=$4 FAULT_PATH=flor.db \
        LD_PRELOAD="$FAULT" trust logs $N_LOGS >/dev/null 2>err || rc=$?
    # what was durable before is all still there
    flor query "SELECT count(*) FROM logs WHERE run_id=1" | tail -n 1 >n1 &&
    test "$(cat n1)" = $N_LOGS || { echo "run 1 lost logs ($1 $2 $3 $4)"; return 1; }
    flor query "SELECT status FROM runs WHERE run_id=1" | tail -n 1 >s1 &&
    test "$(cat s1)" = finished || { echo "run 1 changed ($1 $2 $3 $4)"; return 1; }
    after=$(flor query "SELECT count(*) FROM runs" | tail -n 1)
    if [ "$after" = "$before" ]; then
        # never recorded: flor_init said so and the exit status says so
        test $rc -ne 0 && grep -q "^flor: error: this run is not recorded: " err ||
            { echo "run vanished silently ($1 $2 $3 $4, exit $rc)"; cat err; return 1; }
        echo "$1 $2 $3 $4 unrecorded" >>sweep.log
        return 0
    fi
    row=$(flor query "SELECT status || '|' || (SELECT count(*) FROM logs l WHERE l.run_id=r.run_id) || '|' || ifnull(reason, '') AS x FROM runs r ORDER BY run_id DESC LIMIT 1" | tail -n 1 | tr -d '"')
    case "$row" in
    "finished|$N_LOGS|")
        test $rc -eq 0 || { echo "finished whole but exit $rc ($1 $2 $3 $4)"; return 1; } ;;
    failed\|*\|?*)
        test $rc -ne 0 && grep -q "^flor: error: .*cannot write logs to .*flor.db: " err ||
            { echo "failed without a word ($1 $2 $3 $4, exit $rc)"; cat err; return 1; } ;;
    running\|*|killed\|*)
        test $rc -ne 0 && grep -q "^flor: error: cannot mark run .* (it will show as killed)$" err ||
            { echo "left $row silently ($1 $2 $3 $4, exit $rc)"; cat err; return 1; } ;;
    *)
        echo "unexpected end: $row ($1 $2 $3 $4, exit $rc)"; cat err; return 1 ;;
    esac
    echo "$1 $2 $3 $4 ${row%%|*}" >>sweep.log
}

# A write that comes once logs are being committed: 5 writes after all
# that a run without logs writes (its start and its end).
mid_run() {
    echo $(($(cut -d" " -f1 "$TRASH/init-writes") + 5))
}

test_expect_success 'setup: a project with one whole run, and the calls of a run counted' '
    new_project proj &&
    (cd proj && trust logs $N_LOGS &&
     FAULT_PATH=flor.db FAULT_OPS=write FAULT_REPORT=$TRASH/writes LD_PRELOAD="$FAULT" \
         trust logs $N_LOGS &&
     FAULT_PATH=flor.db FAULT_OPS=sync FAULT_REPORT=$TRASH/syncs LD_PRELOAD="$FAULT" \
         trust logs $N_LOGS &&
     FAULT_PATH=flor.db FAULT_OPS=write FAULT_REPORT=$TRASH/init-writes LD_PRELOAD="$FAULT" \
         trust logs 0) &&
    test "$(cut -d" " -f1 writes)" -gt 20 &&
    test "$(cut -d" " -f1 syncs)" -gt 0
'

test_expect_success 'ENOSPC for good from the Nth write on, N swept' '
    total=$(cut -d" " -f1 writes) &&
    (cd proj && for n in $(seq 1 $((total / 9 + 1)) $((total + 1))); do
        one_run ENOSPC 1 write $n || exit 1
    done) &&
    grep -q "failed\|killed" proj/sweep.log
'

test_expect_success 'EIO on the Nth write only: a retry keeps every log' '
    total=$(cut -d" " -f1 writes) &&
    (cd proj && rm -f sweep.log && for n in $(seq 1 $((total / 9 + 1)) $((total + 1))); do
        one_run EIO 0 write $n || exit 1
    done) &&
    ! grep -v " finished$" proj/sweep.log
'

test_expect_success 'ENOSPC and EIO on the Nth fsync, transient and for good' '
    total=$(cut -d" " -f1 syncs) &&
    (cd proj && for n in $(seq 1 $((total + 1))); do
        one_run ENOSPC 1 sync $n && one_run EIO 0 sync $n || exit 1
    done)
'

test_expect_success 'a disk full mid-run: one line at once, the run failed with its reason' '
    (cd proj && rm -f sweep.log &&
     FAULT_STICKY=1 FAULT_AT=$(mid_run) FAULT_PATH=flor.db LD_PRELOAD="$FAULT" \
         FAULT_OPS=write trust logs 5000 >out 2>err; echo $? >rc) &&
    test "$(cat proj/rc)" -ne 0 &&
    grep "^flor: error: cannot write logs to .*/flor.db: database or disk is full; [0-9]* records held in memory ([0-9]* blocks, at most 1024), retrying$" proj/err &&
    grep "^flor: error: run [0-9]* failed: .*: [0-9]* records were lost (0 of them dropped past the memory bound)$" proj/err
'

test_expect_success 'past the bound on memory, logs are dropped, counted and reported' '
    (cd proj && FLOR_BACKLOG_BLOCKS=2 FAULT_STICKY=1 FAULT_AT=$(mid_run) \
         FAULT_OPS=write FAULT_PATH=flor.db LD_PRELOAD="$FAULT" trust logs 12000 >out 2>err;
     echo $? >rc) &&
    test "$(cat proj/rc)" -eq 1 &&
    grep "^flor: error: cannot write logs to .*; the 2 blocks held in memory are full: logs are being dropped from now on (the run will end as failed)$" proj/err &&
    grep "^flor: error: run [0-9]* failed: .*: [0-9]* records were lost ([1-9][0-9]* of them dropped past the memory bound)$" proj/err
'

test_expect_success 'a program that returns 0 without flor_finish still exits 1 on a loss' '
    (cd proj && FAULT_STICKY=1 FAULT_AT=$(mid_run) FAULT_OPS=write \
         FAULT_PATH=flor.db LD_PRELOAD="$FAULT" trust return0 1000 >out 2>err; echo $? >rc) &&
    test "$(cat proj/rc)" -eq 1 &&
    grep "^flor: error: run [0-9]* failed: .* records were lost" proj/err &&
    (cd proj && trust return0 10 && echo clean-exit-0)
'

test_expect_success 'FLOR_QUIET does not silence the loss' '
    (cd proj && FLOR_QUIET=1 FAULT_STICKY=1 FAULT_AT=1 FAULT_PATH=flor.db \
         LD_PRELOAD="$FAULT" trust logs 10 2>err; true) &&
    test -s proj/err
'

test_done
