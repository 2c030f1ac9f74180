#!/bin/sh
# flor replay NAME when the statement sits inside a block the user added
# around it, with locals that feed it: the block is carried whole into
# each older version, so that each version builds and replays, and its
# values equal those of the version edited by hand and trained from
# scratch, bit for bit.  A line added elsewhere in the same function is
# not carried, nor is a statement logging another name inside the block;
# a statement on a bare added line goes alone, as before; a version whose
# code around the block differs reports the hunk as a conflict.
. "$(dirname "$0")/lib.sh"

SAN=""
case "$FLOR_BUILD" in *build-san) SAN="-fsanitize=address,undefined" ;; esac
LIBS="$FLOR_BUILD/libflor.a $(pkg-config --libs sqlite3 libgit2 libzstd libxxhash libcurl libpq) -lpthread -lm -lz"
BUILD="cc $SAN -std=c11 -D_GNU_SOURCE -O2 -I$REPO_ROOT/include train.c -o train $LIBS"
export ASAN_OPTIONS=detect_leaks=0

# The trainer: four weights pulled toward their targets by a gradient,
# 3 epochs of 6 steps.
cat >v1.c <<'EOF'
#include <flor.h>

#define DIM 4

int main(int argc, char **argv)
{
    if (flor_init(&argc, &argv) != 0 && flor_get_mode() == FLOR_MODE_REPLAY)
        return 1;
    double lr = 0.25;
    double w[DIM] = {1.0, -2.0, 0.5, 3.0}, grad[DIM];
    const double target[DIM] = {0.5, 0.25, -1.0, 2.0};
    flor_checkpoint_typed("w", w, sizeof w, FLOR_F64, DIM);
    FLOR_LOOP(epoch, "epoch", 3) {
        FLOR_LOOP(step, "step", 6) {
            for (int k = 0; k < DIM; k++)
                grad[k] = w[k] - target[k] + 0.01 * (double)step;
            for (int k = 0; k < DIM; k++)
                w[k] -= lr * grad[k];
        }
        flor_log("loss", w[0] - target[0]);
    }
    return flor_finish();
}
EOF

# edit SED-SCRIPT FILE: applies a change that must change something.
edit() {
    cp "$2" "$2.before" && sed -i "$1" "$2" && ! cmp -s "$2" "$2.before" && rm "$2.before"
}
# Version 2 changes the learning rate; version 3 the update, on the line
# the block is added after.
faster() { edit 's|double lr = 0.25;|double lr = 0.5;|' "$1"; }
decay() { edit 's|w\[k\] -= lr \* grad\[k\];|w[k] -= lr * grad[k] / (1.0 + 0.1 * (double)epoch);|' "$1"; }

# What the user adds: the #include sqrt needs, and in the step loop a
# block around the statement with the local it computes.
add_include() { edit 's|^#include <flor.h>$|&\n#include <math.h>|' "$1"; }
add_block() {
    edit 's|^                w\[k\] -= lr \* grad\[k\].*;$|&\
            if (step % 2 == 0) {\
                double g2 = 0;\
                for (int k = 0; k < DIM; k++)\
                    g2 += grad[k] * grad[k];\
                flor_log("grad_norm", sqrt(g2));\
            }|' "$1"
}
add_all() { add_include "$1" && add_block "$1"; }
# An unrelated line added elsewhere in main.
unrelated() { edit 's|^    double lr = .*;$|&\n    lr *= 2;|' "$1"; }
# A second statement, of another name, inside the block.
other() {
    edit 's|^                flor_log("grad_norm", sqrt(g2));$|&\n                flor_log("g2", g2);|' "$1"
}

# NAME's values in run RUN (1 when omitted) as "epoch,step,value" lines.
values() {
    q "SELECT e.iteration, s.iteration, l.value FROM logs l
       JOIN loops s ON s.run_id = l.run_id AND s.ctx_id = l.ctx_id
       JOIN loops e ON e.run_id = l.run_id AND e.ctx_id = s.parent_ctx_id
       WHERE l.name = '$1' AND l.run_id = ${2:-1} ORDER BY e.iteration, s.iteration"
}

# A local, and an if line with a statement under it, after the step loop.
add_w2() {
    edit 's|^        flor_log("loss", w\[0\] - target\[0\]);$|        double w2 = w[2] * 2;\
        if (epoch % 2 == 1)\
            flor_log("w2", w2);\
&|' "$1"
}

# truth VERSION [EDIT]: VERSION with EDIT (default: add_all) applied by
# hand, trained in a project of its own.
truth() {
    dir=truth-$1${2:+-$2} && new_project "$dir" && cp "$1.c" "$dir/train.c" &&
    (cd "$dir" && printf "train\n" >.gitignore && ${2:-add_all} train.c && $BUILD &&
     ./train >/dev/null)
}

record() { cp "../$1.c" train.c && git add train.c && git commit -q -m "$1" && $BUILD && ./train; }

test_expect_success 'setup: two runs of two versions' '
    cp v1.c v2.c && faster v2.c &&
    new_project proj && cd proj && printf "train\n" >.gitignore && git add .gitignore &&
    git commit -q -m ignore && record v1 >/dev/null && record v2 >/dev/null &&
    test "$(q "SELECT count(DISTINCT vid) FROM runs")" -eq 2
'

test_expect_success 'the block around the statement is carried whole, values equal training by hand' '
    truth v1 && truth v2 &&
    cd proj && add_all train.c && unrelated train.c && other train.c &&
    flor replay grad_norm -j 2 --build "$BUILD && cp train.c \$(mktemp $TRASH/carried-XXXXXX)" \
        >../sum 2>../err &&
    cut -d, -f1,3,5,6 ../sum >../actual &&
    printf "%s\n" run,status,new_values,divergences 1,finished,9,0 2,finished,9,0 >../expect &&
    test_cmp ../expect ../actual &&
    for i in 1 2; do
        (cd ../truth-v$i && values grad_norm) >../expect &&
        values grad_norm $i >../actual && test_cmp ../expect ../actual &&
        test "$(wc -l <../actual)" -eq 9 || exit 1
    done &&
    test "$(q "SELECT count(*) FROM logs WHERE name = '\''g2'\''")" -eq 0
'

test_expect_success 'each version built is that version with the include and the block, nothing else' '
    ls carried-* >built && test "$(wc -l <built)" -eq 2 &&
    for f in carried-*; do
        { cmp -s "$f" truth-v1/train.c || cmp -s "$f" truth-v2/train.c; } || exit 1
    done &&
    ! cmp -s carried-* &&
    ! grep -h "lr \*= 2" carried-* && ! grep -h "flor_log(\"g2\"" carried-* &&
    test "$(grep -c "which the statements need, carried to line" err)" -eq 6 &&
    test "$(grep -c "grad_norm. carried to line 24, in loop epoch/step$" err)" -eq 2
'

test_expect_success 'a statement on a bare added line is carried alone, without the line before' '
    cd proj && git checkout -q train.c && add_include train.c &&
    edit "s|^        flor_log(\"loss\", w\[0\] - target\[0\]);\$|        double w1 = w[1] * 2;\n        flor_log(\"w1\", w1);\n&|" train.c &&
    mkdir -p ../tmp && TMPDIR=$TRASH/tmp test_must_fail flor replay w1 --where "run_id = 1" \
        --build "$BUILD" >../sum 2>../err &&
    grep -q "^1,[0-9a-f]*,build failed," ../sum && test "$(values w1 1 | wc -l)" -eq 0 &&
    test "$(grep -c "which the statements need, carried" ../err)" -eq 1 &&
    grep -q "the lines train.c:2, which the statements need, carried to line 2$" ../err
'

test_expect_success 'a local added before an if line with the statement under it goes with it' '
    for v in v1 v2; do truth $v add_w2 || exit 1; done &&
    cd proj && git checkout -q train.c && add_w2 train.c &&
    flor replay w2 --build "$BUILD" >../sum 2>../err &&
    cut -d, -f1,3,5 ../sum >actual &&
    printf "%s\n" run,status,new_values 1,finished,1 2,finished,1 >expect && test_cmp expect actual &&
    test "$(grep -c "the lines train.c:[0-9]*, which the statements need, carried" ../err)" -eq 2 &&
    for i in 1 2; do
        (cd ../truth-v$i-add_w2 && q "SELECT value FROM logs WHERE name = '\''w2'\''") >expect &&
        q "SELECT value FROM logs WHERE name = '\''w2'\'' AND run_id = $i" >actual &&
        test_cmp expect actual || exit 1
    done
'

test_expect_success 'an if alone before the statement and a line after it: the run goes whole' '
    cd proj && git checkout -q train.c &&
    edit "s|^        flor_log(\"loss\", w\[0\] - target\[0\]);\$|        if (epoch % 2 == 0)\n            flor_log(\"w3\", w[3]);\n        /* w3: on even epochs */\n&|" train.c &&
    flor replay w3 --where "run_id = 1" --build "$BUILD && cp train.c $TRASH/w3.c" >../sum 2>../err &&
    cut -d, -f1,3,5 ../sum >actual && printf "%s\n" run,status,new_values 1,finished,2 >expect &&
    test_cmp expect actual &&
    grep -q "^        /\* w3: on even epochs \*/\$" ../w3.c
'

test_expect_success 'a version whose code around the block differs: the hunk is a conflict there' '
    cp v1.c v3.c && decay v3.c &&
    new_project conf && cd conf && printf "train\n" >.gitignore && git add .gitignore &&
    git commit -q -m ignore && record v1 >/dev/null && record v3 >/dev/null &&
    add_all train.c && grep -q "double g2 = 0;" train.c &&
    test_must_fail flor replay grad_norm --build "$BUILD" >../sum 2>../err &&
    cut -d, -f1,3,5 ../sum >actual &&
    printf "%s\n" run,status,new_values 1,conflict, 2,finished,9 >expect && test_cmp expect actual &&
    grep -q "(run 1): train.c:[0-9]* .grad_norm. cannot be carried: the code around it differs" ../err &&
    grep -q "(run 1): the lines train.c:[0-9]*, which the statements need, cannot be carried" ../err &&
    test "$(values grad_norm 1 | wc -l)" -eq 0 && test "$(values grad_norm 2 | wc -l)" -eq 9
'

test_done
