#!/bin/sh
# flor replay owns its children.  Killed with SIGKILL or interrupted with
# SIGINT, while segments run or while versions build, it leaves no
# process and no work area behind; a new launch removes the work areas of
# launchers that are gone.  Killed at 30 points of a multi-segment
# replay, the database stays sound, the recorded rows untouched, and
# every value a replay stored is the right one, under the right run.
. "$(dirname "$0")/lib.sh"

LIBS="$FLOR_BUILD/libflor.a $(pkg-config --libs sqlite3 libgit2 libzstd libxxhash libcurl libpq) -lpthread -lm -lz"
SAN=""
case "$FLOR_BUILD" in *build-san) SAN="-fsanitize=address,undefined" ;; esac
export FLOR_OVERHEAD=1 ASAN_OPTIONS=detect_leaks=0
mkdir -p "$TRASH/tmp" && export TMPDIR="$TRASH/tmp"
# a name no other process has: its processes are found by it
MARK=orphanmark$$

cat >prog.c <<-\EOF_C
	#include <flor.h>
	#include <stdio.h>
	#include <stdlib.h>
	#include <time.h>
	int main(int argc, char **argv)
	{
	    int rc = flor_init(&argc, &argv);
	    if (rc) { fprintf(stderr, "prog: %s\n", flor_errmsg()); return rc == FLOR_EINVAL ? 2 : 1; }
	    long epochs = flor_arg("epochs", 6L);
	    long pause = flor_arg("sleep_ms", 0L);
	    double w = (double)flor_arg("seed", 1L);
	    flor_checkpoint("w", &w, sizeof w);
	    FLOR_LOOP(e, "epoch", epochs) {
	        FLOR_LOOP(s, "step", 3) { w = w * 0.5 + (double)s; flor_log("loss", w); }
	        struct timespec ts = {pause / 1000, (pause % 1000) * 1000000L};
	        nanosleep(&ts, NULL);
	        flor_log("acc", w + (double)e);
	        if (getenv("NEW")) flor_log("norm", w * 2);
	    }
	    flor_log("final", w);
	    return flor_finish();
	}
EOF_C


# waits (at most 10 s: the janitor is one more process on a machine that
# may be busy) until no process of ours has $1 in its command line and no
# work area is left in $TMPDIR
settled() {
    n=0
    while pgrep -f "$1" >/dev/null || ls "$TMPDIR" | grep -q '^flor-replay\.'; do
        n=$((n + 1))
        if [ $n -gt 200 ]; then
            ps -eo pid,pgid,args | grep "$1" | grep -v grep
            ls -la "$TMPDIR"
            return 1
        fi
        sleep 0.05
    done
}

# waits until N segments of run RUN are running
running() {
    n=0
    while [ "$(q "SELECT count(*) FROM replays WHERE status = 'running'")" -lt "$1" ]; do
        n=$((n + 1)) && [ $n -lt 200 ] || return 1
        sleep 0.05
    done
}

test_expect_success 'setup: record a slow run of a program named $MARK' '
    cc -std=c11 -D_GNU_SOURCE -O2 $SAN -I"$REPO_ROOT/include" prog.c -o $MARK $LIBS &&
    new_project proj && cp $MARK proj/ && cd proj &&
    ./$MARK --kwargs epochs=12 sleep_ms=300 &&
    test "$(q "SELECT status FROM runs")" = finished
'

test_expect_success 'kill -9 of flor replay -j 2 during segments: no segment survives, no work area is left' '
    cd proj
    flor replay -j 2 --segments 4 -- ./$MARK >/dev/null 2>&1 &
    pid=$! &&
    running 2 &&
    pgrep -f "$MARK --replay_flor" >/dev/null &&
    kill -9 $pid &&
    settled $MARK
'

test_expect_success 'SIGINT to flor replay: the segments end, the work area goes, exit by SIGINT' '
    cd proj
    sqlite3 .flor/flor.db "UPDATE replays SET status = '"'killed'"' WHERE status = '"'running'"'"
    env --default-signal=INT flor replay -j 2 --segments 4 -- ./$MARK >/dev/null 2>err &
    pid=$! &&
    running 2 &&
    kill -INT $pid &&
    rc=0 && wait $pid || rc=$? &&
    test "$rc" -eq 130 &&
    settled $MARK
'

test_expect_success 'kill -9 of flor replay NAME during builds: no build survives, no work area is left' '
    cd proj && cp ../prog.c prog.c && git add prog.c && git commit -qm prog &&
    ./$MARK --kwargs epochs=2 &&
    sed -i "s|flor_log(\"acc\", w + (double)e);|&\n        flor_log(\"extra\", w + 1);|" prog.c &&
    grep -q extra prog.c
    flor replay extra --where "run_id = 2" --build "sleep 7.31; cc prog.c" -- ./$MARK >/dev/null 2>&1 &
    pid=$! &&
    n=0 && while ! pgrep -f "sleep 7.31" >/dev/null; do
        n=$((n + 1)) && [ $n -lt 200 ] && sleep 0.05 || { kill -9 $pid; exit 1; }
    done &&
    kill -9 $pid &&
    settled "sleep 7.31" &&
    git checkout -q prog.c && git status --porcelain >st && ! grep -v "^??" st
'

test_expect_success 'a new launch removes the work areas of launchers that are gone, and only those' '
    cd proj &&
    dead=$(sh -c "echo \$\$") &&
    mkdir "$TMPDIR/flor-replay.dead" && echo "$dead 12345" >"$TMPDIR/flor-replay.dead/owner" &&
    touch "$TMPDIR/flor-replay.dead/segment-0.err" &&
    mkdir "$TMPDIR/flor-replay.reused" && echo "$$ 1" >"$TMPDIR/flor-replay.reused/owner" &&
    mkdir "$TMPDIR/flor-replay.live" &&
    echo "$$ $(sed "s/.*) //" /proc/$$/stat | cut -d" " -f20)" >"$TMPDIR/flor-replay.live/owner" &&
    mkdir "$TMPDIR/flor-replay.unowned" &&
    flor replay -j 1 --run 2 -- ./$MARK >/dev/null 2>&1 &&
    ls "$TMPDIR" >actual &&
    printf "%s\n" flor-replay.live flor-replay.unowned >expect &&
    test_cmp expect actual &&
    rm -r "$TMPDIR"/flor-replay.*
'

test_expect_success 'kill -9 at 30 points of a 4-segment replay: fsck finds nothing, the database stays sound and right' '
    cd proj && (cd .. && new_project truth && cd truth && NEW=1 ../$MARK --kwargs epochs=12 sleep_ms=0 &&
        q "SELECT lp.iteration || '"' '"' || l.value FROM logs l JOIN loops lp ON lp.run_id = l.run_id
           AND lp.ctx_id = l.ctx_id WHERE l.name = '"'norm'"'" | sort >../truth.txt) &&
    test "$(wc -l <../truth.txt)" -eq 12 &&
    q "SELECT run_id, ctx_id, name, value, source FROM logs WHERE source = '"'record'"' ORDER BY 1, 2, 3, 4" >../logs.before &&
    q "SELECT * FROM args ORDER BY 1, 2" >../args.before &&
    q "SELECT * FROM loops ORDER BY 1, 2" >../loops.before &&
    flor checkpoints 1 >../ckpts.before &&
    i=0 && while [ $i -lt 30 ]; do
        delay=$(awk "BEGIN { print 0.05 + ($i * 37 % 30) * 0.05 }")
        NEW=1 flor replay -j 2 --segments 4 --run 1 -- ./$MARK >/dev/null 2>&1 &
        pid=$! &&
        sleep $delay &&
        kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
        settled $MARK || { echo "left behind after kill $i at $delay s"; exit 1; }
        test "$(sqlite3 .flor/flor.db "PRAGMA integrity_check")" = ok &&
        { flor fsck >fsck.out 2>&1 || { echo "fsck after kill $i at $delay s:"; cat fsck.out; exit 1; }; } &&
        test "$(q "SELECT count(*) FROM logs WHERE source = '"'replay'"' AND run_id <> 1")" -eq 0 &&
        q "SELECT lp.iteration || '"' '"' || l.value FROM logs l JOIN loops lp ON lp.run_id = l.run_id
           AND lp.ctx_id = l.ctx_id WHERE l.name = '"'norm'"' AND l.run_id = 1" | sort >stored &&
        comm -23 stored ../truth.txt >wrong && test ! -s wrong &&
        i=$((i + 1))
    done &&
    q "SELECT run_id, ctx_id, name, value, source FROM logs WHERE source = '"'record'"' ORDER BY 1, 2, 3, 4" >after && test_cmp ../logs.before after &&
    q "SELECT * FROM args ORDER BY 1, 2" >after && test_cmp ../args.before after &&
    flor checkpoints 1 >after && test_cmp ../ckpts.before after &&
    NEW=1 flor replay -j 2 --segments 4 --run 1 -- ./$MARK >/dev/null 2>&1 &&
    q "SELECT lp.iteration || '"' '"' || l.value FROM logs l JOIN loops lp ON lp.run_id = l.run_id
       AND lp.ctx_id = l.ctx_id WHERE l.name = '"'norm'"' AND l.run_id = 1" | sort >stored &&
    test_cmp ../truth.txt stored
'

test_done
