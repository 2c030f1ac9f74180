#!/bin/sh
# flor replay never invents a value.  A replay takes the args the record
# used: its args rows, else the --kwargs of its recorded argv, and refuses
# when neither can be read.  A run that was killed is replayed only as far
# as it got: no value is stored, and no divergence counted, past the last
# iteration the record reached.  A malformed --replay_flor is an error
# before anything runs, and a stale lock on flor.shadow is named.
. "$(dirname "$0")/lib.sh"

LIBS="$FLOR_BUILD/libflor.a $(pkg-config --libs sqlite3 libgit2 libzstd libxxhash libcurl libpq) -lpthread -lm -lz"
SAN=""
case "$FLOR_BUILD" in *build-san) SAN="-fsanitize=address,undefined" ;; esac
export FLOR_OVERHEAD=1

# epoch loop with a step loop inside; DIE_AT=k: SIGKILL at the start of
# epoch k (with DIE_STEP=s: of its step s), once what came before is
# flushed; NEW=1: the hindsight statement 'norm'.
cat >prog.c <<-\EOF_C
	#include <flor.h>
	#include <signal.h>
	#include <stdio.h>
	#include <stdlib.h>
	int main(int argc, char **argv)
	{
	    int rc = flor_init(&argc, &argv);
	    if (rc == FLOR_EINVAL) { fprintf(stderr, "prog: %s\n", flor_errmsg()); return 2; }
	    if (rc) { fprintf(stderr, "prog: %s\n", flor_errmsg()); return 1; }
	    long epochs = flor_arg("epochs", 6L);
	    long seed = flor_arg("seed", 1L);
	    long die_at = getenv("DIE_AT") ? atol(getenv("DIE_AT")) : -1;
	    long die_step = getenv("DIE_STEP") ? atol(getenv("DIE_STEP")) : -1;
	    double w = (double)seed;
	    flor_checkpoint("w", &w, sizeof w);
	    FLOR_LOOP(e, "epoch", epochs) {
	        if (e == die_at && die_step < 0) { flor_flush(); raise(SIGKILL); }
	        FLOR_LOOP(s, "step", 3) {
	            if (e == die_at && s == die_step) { flor_flush(); raise(SIGKILL); }
	            w = w * 0.5 + (double)s;
	            flor_log("loss", w);
	        }
	        flor_log("acc", w + (double)e);
	        if (getenv("NEW")) flor_log("norm", w * 2);
	    }
	    flor_log("final", w);
	    return flor_finish();
	}
EOF_C


# norm per epoch of run $1, as "epoch,value" lines
norms() {
    q "SELECT lp.iteration, l.value FROM logs l JOIN loops lp
       ON lp.run_id = l.run_id AND lp.ctx_id = l.ctx_id
       WHERE l.name = 'norm' AND l.run_id = $1 ORDER BY lp.iteration"
}

recorded() {
    q "SELECT count(*), total(value) FROM logs WHERE source = 'record'"
    q "SELECT name, value FROM args ORDER BY run_id, name"
}

test_expect_success 'setup: build; the truth is a full run with the statement' '
    cc -std=c11 -D_GNU_SOURCE -O2 $SAN -I"$REPO_ROOT/include" prog.c -o prog $LIBS &&
    new_project truth && (cd truth && NEW=1 ../prog --kwargs epochs=8 seed=16 && norms 1) >truth.csv &&
    test "$(wc -l <truth.csv)" -eq 8
'

test_expect_success 'a run killed at epoch 3 of 8 is replayed to epoch 2 and no further' '
    new_project killed && cd killed &&
    test_exit_code 137 env DIE_AT=3 ../prog --kwargs epochs=8 seed=16 &&
    recorded >../before &&
    test "$(q "SELECT status FROM runs")" = killed &&
    NEW=1 FLOR_QUIET= ../prog --replay_flor 2>err &&
    grep "run 1 killed in iteration epoch=2: the replay stopped there too" err &&
    norms 1 >actual &&
    head -n 3 ../truth.csv >expect &&
    test_cmp expect actual &&
    test "$(q "SELECT count(*) FROM logs WHERE source = '"'replay'"'")" -eq 3 &&
    test "$(q "SELECT divergences || '"' '"' || status FROM replays")" = "0 finished" &&
    test "$(q "SELECT compared FROM replays")" -gt 0 &&
    recorded >after && test_cmp ../before after
'

test_expect_success 'two segments of the killed run split what it reached' '
    cd killed && sqlite3 .flor/flor.db "DELETE FROM logs WHERE source = '"'replay'"'" &&
    NEW=1 ../prog --replay_flor 0/2 && NEW=1 ../prog --replay_flor 1/2 &&
    norms 1 >actual && head -n 3 ../truth.csv >expect && test_cmp expect actual &&
    test "$(q "SELECT sum(divergences) FROM replays WHERE nsegments = 2")" -eq 0
'

test_expect_success 'a run killed at step 2 of epoch 7 (the last): no step or epoch value past it' '
    new_project midway && cd midway &&
    test_exit_code 137 env DIE_AT=7 DIE_STEP=2 ../prog --kwargs epochs=8 seed=16 &&
    recorded >../before &&
    NEW=1 FLOR_QUIET= ../prog --replay_flor 2>err &&
    grep "run 1 killed in iteration epoch=7/step=1: the replay stopped there too" err &&
    norms 1 >actual && head -n 7 ../truth.csv >expect && test_cmp expect actual &&
    test "$(q "SELECT divergences || '"' '"' || status FROM replays")" = "0 finished" &&
    test "$(q "SELECT count(*) FROM logs WHERE source = '"'replay'"'")" -eq 7 &&
    recorded >after && test_cmp ../before after
'

test_expect_success 'a killed run whose args rows are lost replays with its argv kwargs' '
    new_project noargs && cd noargs &&
    test_exit_code 137 env DIE_AT=4 ../prog --kwargs epochs=8 seed=16 &&
    sqlite3 .flor/flor.db "DELETE FROM args" &&
    recorded >../before &&
    NEW=1 FLOR_QUIET= ../prog --replay_flor 2>err &&
    grep "recorded no args for epochs=8 seed=16" err &&
    norms 1 >actual && head -n 4 ../truth.csv >expect && test_cmp expect actual &&
    test "$(q "SELECT divergences FROM replays")" -eq 0 &&
    recorded >after && test_cmp ../before after
'

test_expect_success 'args lost and argv unreadable: the replay refuses and stores nothing' '
    cd noargs && sqlite3 .flor/flor.db "DELETE FROM logs WHERE source = '"'replay'"'" &&
    sqlite3 .flor/flor.db "UPDATE runs SET argv = '"'not json'"'" &&
    test_exit_code 1 env NEW=1 ../prog --replay_flor 2>err &&
    grep "run 1 recorded no args (it ended .killed.) and its argv cannot be read" err &&
    grep "cannot replay it faithfully" err &&
    test "$(q "SELECT count(*) FROM logs WHERE source = '"'replay'"'")" -eq 0
'

test_expect_success 'a run killed before its loop began replays no iteration' '
    new_project early && cd early &&
    test_exit_code 137 env DIE_AT=0 ../prog --kwargs epochs=8 seed=16 &&
    NEW=1 FLOR_QUIET= ../prog --replay_flor 2>err &&
    grep "before its loop .epoch. began" err &&
    test "$(q "SELECT count(*) FROM logs WHERE source = '"'replay'"'")" -eq 0 &&
    test "$(q "SELECT divergences FROM replays")" -eq 0
'

test_expect_success 'a finished run is replayed whole, its final value compared' '
    new_project whole && cd whole &&
    ../prog --kwargs epochs=8 seed=16 &&
    NEW=1 ../prog --replay_flor &&
    norms 1 >actual && test_cmp ../truth.csv actual &&
    test "$(q "SELECT divergences FROM replays")" -eq 0
'

test_expect_success '--replay_flor: a malformed or out-of-range segment is an error before anything runs' '
    cd whole &&
    before=$(q "SELECT count(*) FROM replays") &&
    for seg in -1/3 abc " 1/3" "1/3 " 1/99999999999999999999 1/ /3 1/3/4 +1/3 0x1/3; do
        test_exit_code 2 env NEW=1 ../prog --replay_flor "$seg" 2>err &&
        grep -q "replay_flor .*expected PID/N" err || { echo "accepted: [$seg]"; cat err; return 1; }
    done &&
    test "$(q "SELECT count(*) FROM replays")" -eq "$before"
'

test_expect_success 'a stale flor.shadow lock is named, with how to remove it' '
    new_project locked && cd locked &&
    ../prog --kwargs epochs=1 &&
    : >.git/refs/heads/flor.shadow.lock &&
    FLOR_QUIET= ../prog --kwargs epochs=1 2>err &&
    grep "flor.shadow.lock" err &&
    grep "rm .*flor.shadow.lock" err &&
    ! grep "for writing: )" err
'

test_done
