#!/bin/sh
# The second example, examples/steps.c: ONE flat loop over optimizer
# steps with a validation every eval_every steps inside it and AdamW
# moments allocated on the first step, on Fashion-MNIST.  flor records
# exactly what it prints, changes no value, checkpoints its steps (the
# moments included), and a statement added afterwards at a period (a
# weight norm every 50 steps, with a helper function) replays from the
# checkpoints -- also into two older versions of the program -- to the
# values of a re-run with the statement, bit for bit.
. "$(dirname "$0")/lib.sh"

SAN=""
case "$FLOR_BUILD" in *build-san) SAN="-fsanitize=address,undefined" ;; esac
LIBS="$FLOR_BUILD/libflor.a $(pkg-config --libs sqlite3 libgit2 libzstd libxxhash libcurl libpq) -lpthread -lm -lz"
BUILD="cc $SAN -std=c11 -D_GNU_SOURCE -O2 -fno-math-errno -I$REPO_ROOT/include steps.c -o steps $LIBS"
export ASAN_OPTIONS=detect_leaks=0

# Small enough for seconds: 300 steps of 16 on 1000 images, 200 to validate.
small="steps=300 batch=16 hidden=32 eval_every=100 ntrain=1000 ntest=200 every=40"

# edit SED-SCRIPT FILE: applies a change that must change something.
edit() {
    cp "$2" "$2.before" && sed -i "$1" "$2" && ! cmp -s "$2" "$2.before" && rm "$2.before"
}
# What a user adds afterwards: a helper above main and, in the step loop,
# the statement that calls it every 50 steps.
add_helper() {
    edit 's|^int main(int argc, char \*\*argv)$|static double param_norm(const float *p, size_t count)\n{\n    double s = 0.0;\n    for (size_t i = 0; i < count; i++)\n        s += (double)p[i] * p[i];\n    return sqrt(s);\n}\n\n&|' "$1"
}
add_statement() {
    edit 's|^        flor_log("loss", loss);$|&\n        if (step % 50 == 0) flor_log("param_norm", param_norm(params, n.nparams));|' "$1"
}
add_all() { add_helper "$1" && add_statement "$1"; }
# Two edits of the user's, for older versions: a stronger weight decay
# (other values), and a comment that moves the lines below it.
decay() { edit 's|^#define WEIGHT_DECAY 0.01f$|#define WEIGHT_DECAY 0.02f|' "$1"; }
comment() { edit 's|^    char num\[32\];$|    /* the training loop */\n&|' "$1"; }

# NAME's values in run RUN (1 when omitted) as "step,value" lines.
values() {
    q "SELECT c.iteration, printf('%.17g', l.value) FROM logs l JOIN loops c
       ON c.run_id = l.run_id AND c.ctx_id = l.ctx_id
       WHERE l.name = '$1' AND l.run_id = ${2:-1} ORDER BY c.iteration"
}
ckpts() { echo $(q "SELECT iteration FROM checkpoints WHERE run_id = 1 ORDER BY iteration"); }
forget_replays() { sqlite3 .flor/flor.db "DELETE FROM logs WHERE source = 'replay'"; }

# What steps printed, as "step,name,value" lines (final_acc at step "").
printed() {
    awk '$1 == "step" { for (i = 3; i < NF; i += 2) print $2 "," $i "," $(i + 1) }
         $1 == "final_acc" { print "," $1 "," $2 }' "$1" | sort
}
recorded() {
    q "SELECT c.iteration, l.name, l.value FROM logs l LEFT JOIN loops c
       ON c.run_id = l.run_id AND c.ctx_id = l.ctx_id WHERE l.run_id = 1" | sort
}

test_expect_success 'setup: the example, and the same with the statement and its helper' '
    cp "$REPO_ROOT/examples/steps.c" v1.c && cp v1.c v2.c && decay v2.c &&
    cp v2.c v3.c && comment v3.c &&
    mkdir hindsight && cp v1.c hindsight/steps.c && (cd hindsight && add_all steps.c && $BUILD) &&
    mkdir plain && cp v1.c plain/steps.c && (cd plain && $BUILD)
'

test_expect_success 'what flor records is what steps prints, and FLOR_MODE=off prints the same' '
    new_project rec && cd rec &&
    steps --kwargs $small >on.out && FLOR_MODE=off steps --kwargs $small >off.out &&
    test_cmp on.out off.out &&
    test "$(grep -c " loss " on.out)" -eq 300 && test "$(grep -c val_acc on.out)" -eq 3 &&
    printed on.out >expect && recorded >actual && test_cmp expect actual &&
    test "$(q "SELECT count(*) FROM runs")" -eq 1
'

test_expect_success 'every=40 checkpoints every 40th step and the last, moments included' '
    cd rec && test "$(ckpts)" = "39 79 119 159 199 239 279 299" &&
    q "SELECT o.name FROM checkpoint_objects o JOIN checkpoints c USING (ckpt_id)
       WHERE c.iteration = 39 ORDER BY o.name" >actual &&
    printf "%s\n" adam_m adam_v cursor order params rng >expect && test_cmp expect actual
'

test_expect_success 'without every, the adaptive policy picks the steps, the last among them' '
    new_project policy && cd policy && steps --kwargs $small every=0 >/dev/null &&
    set -- $(ckpts) && test $# -ge 1 && eval "test \${$#} -eq 299"
'

test_expect_success 'setup: the truth is a re-run with the statement; the record is without' '
    new_project truth && (cd truth && ../hindsight/steps --kwargs $small >out && values param_norm >../expect) &&
    test "$(wc -l <expect)" -eq 6 &&
    new_project proj && (cd proj && ../plain/steps --kwargs $small >/dev/null) &&
    (cd truth && values final_acc) >final.expect
'

test_expect_success '--replay_every 50 re-executes 76 of 300 steps from the checkpoints, bit for bit' '
    cd proj && cp ../hindsight/steps steps &&
    FLOR_QUIET=0 ./steps --replay_flor --replay_every 50 >out 2>err &&
    values param_norm >actual && test_cmp ../expect actual &&
    values final_acc >actual && test_cmp ../final.expect actual &&
    grep -q "6 new values, [0-9]* compared, 0 divergences, [0-9]* checkpoints restored" err &&
    test "$(grep -c " loss " out)" -eq 76 && grep -q "^step 250 loss" out && ! grep -q "^step 251 " out
'

test_expect_success 'flor replay runs it in two segments at once, to the same values' '
    cd proj && forget_replays &&
    FLOR_REPLAY_EVERY=50 flor replay -j 2 -- ./steps >out 2>err &&
    values param_norm >actual && test_cmp ../expect actual && grep -q "0 divergences" err
'

# truth VERSION: VERSION with the helper and the statement added by hand,
# trained in a project of its own; its param_norm values in truth-VERSION.out.
truth() {
    new_project truth-$1 && cp "$1.c" truth-$1/steps.c &&
    (cd truth-$1 && add_all steps.c && $BUILD && ./steps --kwargs $small >/dev/null &&
     values param_norm >../truth-$1.out)
}
# record VERSION: commits steps.c as VERSION and records a run of it.
record() { cp "../$1.c" steps.c && git add steps.c && git commit -q -m "$1" && $BUILD && ./steps --kwargs $small >/dev/null; }

test_expect_success 'the helper is carried with the statement into two older versions; the statement is seen in its loop' '
    truth v1 && truth v2 && ! test_cmp truth-v1.out truth-v2.out >/dev/null &&
    new_project versions && cd versions && echo steps >.gitignore && git add .gitignore &&
    record v1 && record v2 && cp ../v3.c steps.c && git commit -q -am v3 &&
    test "$(q "SELECT count(DISTINCT vid) FROM runs")" -eq 2 &&
    add_all steps.c &&
    FLOR_REPLAY_EVERY=50 flor replay param_norm -j 2 --build "$BUILD" >../sum 2>../err &&
    cut -d, -f1,3,5,6 ../sum >../actual &&
    printf "%s\n" run,status,new_values,divergences 1,finished,6,0 2,finished,6,0 >../expect &&
    test_cmp ../expect ../actual &&
    values param_norm 1 >../actual && test_cmp ../truth-v1.out ../actual &&
    values param_norm 2 >../actual && test_cmp ../truth-v2.out ../actual &&
    grep -q "which the statements need, carried to line" ../err &&
    grep -q "^flor: statement steps.c:[0-9]* logs .param_norm. in loop step: if (step" ../err
'

test_expect_success 'a guard added on the line before the statement goes with it, braces or not' '
    cd versions &&
    edit "s|^        flor_log(\"loss\", loss);\$|&\n        if (step % 50 == 0)\n            flor_log(\"norm_if\", param_norm(params, n.nparams));\n        if (step % 50 == 0) {\n            flor_log(\"norm_block\", param_norm(params, n.nparams));\n        }|" steps.c &&
    FLOR_REPLAY_EVERY=50 flor replay norm_if norm_block -j 2 --build "$BUILD" >../sum 2>../err &&
    cut -d, -f1,3,5,6 ../sum >../actual &&
    printf "%s\n" run,status,new_values,divergences 1,finished,12,0 2,finished,12,0 >../expect &&
    test_cmp ../expect ../actual &&
    for name in norm_if norm_block; do
        values $name 1 >../actual && test_cmp ../truth-v1.out ../actual &&
        values $name 2 >../actual && test_cmp ../truth-v2.out ../actual || exit 1
    done &&
    grep -q "logs .norm_if. in loop step: if (step % 50 == 0) flor_log(" ../err &&
    grep -q "logs .norm_block. in loop step: if (step % 50 == 0) { flor_log(.*); }$" ../err
'

test_done
