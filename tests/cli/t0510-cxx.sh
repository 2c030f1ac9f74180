#!/bin/sh
# flor.h from C++: a program compiled with g++ records its args, logs and
# a checkpointed std::vector through flor_arg/flor_log overloads and
# flor::loop ranges, and replays with a statement added after training.
. "$(dirname "$0")/lib.sh"

SAN=""
case "$FLOR_BUILD" in *build-san) SAN="-fsanitize=address,undefined" ;; esac

# the values toy_cxx logs, by formula: sum over k of w[k] after each step
expected_loss() {
    awk -v E="$1" -v S="$2" -v lr="$3" 'BEGIN {
        for (k = 0; k < 8; k++) w[k] = 0
        for (e = 0; e < E; e++) for (s = 0; s < S; s++) {
            t = 0
            for (k = 0; k < 8; k++) { w[k] += lr * (k + 1) * (s + 1) / S; t += w[k] }
            printf "%d,%d,%.17g\n", e, s, t
        }
    }'
}

test_expect_success 'a g++ program records args of every overload, loop contexts and typed logs' '
    new_project rec && cd rec &&
    FLOR_OVERHEAD=1 toy_cxx --kwargs epochs=2 steps=3 lr=0.25 tag=x verbose=false >out &&
    test ! -s out &&
    flor query "SELECT name, value FROM args ORDER BY name" --format csv >actual &&
    printf "name,value\nepochs,2\nlr,0.25\nsteps,3\ntag,x\nverbose,0\n" >expect &&
    test_cmp expect actual &&
    flor query "SELECT lp.iteration || \",\" || ls.iteration || \",\" || printf(\"%.17g\", l.value)
                FROM logs l JOIN loops ls ON ls.run_id = l.run_id AND ls.ctx_id = l.ctx_id
                JOIN loops lp ON lp.run_id = ls.run_id AND lp.ctx_id = ls.parent_ctx_id
                WHERE l.name = \"loss\" ORDER BY lp.iteration, ls.iteration" --format csv |
        tail -n +2 | tr -d "\"" >actual &&
    expected_loss 2 3 0.25 >expect &&
    test_cmp expect actual &&
    test "$(flor query "SELECT value FROM logs WHERE name = \"final\"" --format csv | tail -n 1)" = 6 &&
    test "$(flor query "SELECT value FROM logs WHERE name = \"tag\"" --format csv | tail -n 1)" = x &&
    test "$(flor query "SELECT count(*) FROM checkpoints" --format csv | tail -n 1)" -eq 2 &&
    test "$(flor query "SELECT status FROM runs" --format csv | tail -n 1)" = finished
'

test_expect_success 'a break out of a flor::loop closes it: later logs have no step context' '
    new_project brk && cd brk &&
    cat >brk.cc <<-\EOC &&
	#include <flor.h>
	int main(int argc, char **argv) {
	    flor_init(&argc, &argv);
	    for (long e : flor::loop("epoch", 5)) { if (e == 2) break; flor_log("e", e); }
	    flor_log("after", 1);
	    return flor_finish();
	}
	EOC
    g++ $SAN -std=c++17 -I"$REPO_ROOT/include" brk.cc -o brk "$FLOR_BUILD/libflor.a" \
        $(pkg-config --libs sqlite3 libgit2 libzstd libxxhash libcurl libpq) -lpthread -lm &&
    ./brk &&
    test "$(flor query "SELECT count(*) FROM logs WHERE name = \"e\"" --format csv | tail -n 1)" -eq 2 &&
    test "$(flor query "SELECT count(*) FROM logs WHERE name = \"after\" AND ctx_id IS NULL" --format csv | tail -n 1)" -eq 1
'

test_expect_success 'an exception out of a flor::loop aborts the iteration it left: no checkpoint of it' '
    new_project exc && cd exc &&
    cat >exc.cc <<-\EOC &&
	#include <flor.h>
	#include <stdexcept>
	int main(int argc, char **argv) {
	    flor_init(&argc, &argv);
	    double x = 0;
	    flor_checkpoint("x", &x, sizeof x);
	    try {
	        for (long e : flor::loop("epoch", 4)) { x += 1; if (e == 2) throw std::runtime_error("nan"); }
	    } catch (const std::exception &) { flor_log("caught", 1); }
	    return flor_finish();
	}
	EOC
    g++ $SAN -std=c++17 -I"$REPO_ROOT/include" exc.cc -o exc "$FLOR_BUILD/libflor.a" \
        $(pkg-config --libs sqlite3 libgit2 libzstd libxxhash libcurl libpq) -lpthread -lm &&
    FLOR_OVERHEAD=1 ./exc &&
    flor query "SELECT coords FROM checkpoints ORDER BY coords" --format csv >actual &&
    printf "coords\nepoch=0\nepoch=1\n" >expect &&
    test_cmp expect actual
'

test_expect_success 'hindsight: a statement added after training replays from checkpoints, bit for bit' '
    new_project truth && (cd truth && toy_cxx-hindsight --kwargs epochs=2 steps=3 lr=0.25 >/dev/null) &&
    (cd truth && flor query "SELECT printf(\"%.17g\", value) FROM logs WHERE name = \"wsum\" ORDER BY rowid" --format csv) >expect &&
    test "$(wc -l <expect)" -eq 3 &&
    cd rec && cp "$FLOR_BUILD/progs/toy_cxx-hindsight" ./toy_cxx &&
    ./toy_cxx --replay_flor >out &&
    ! grep -q "^step" out &&
    flor query "SELECT printf(\"%.17g\", value) FROM logs WHERE name = \"wsum\" ORDER BY rowid" --format csv >actual &&
    test_cmp ../expect actual &&
    test "$(flor query "SELECT count(*) FROM logs WHERE name = \"wsum\" AND source = \"replay\"" --format csv | tail -n 1)" -eq 2 &&
    test "$(flor query "SELECT count(*) FROM divergences" --format csv | tail -n 1)" -eq 0
'

test_done
