#!/bin/sh
# flor replay NAME on a program written the way real trainers are: the
# statement calls a helper function the user added above main (with an
# #include it needs), the program reads data files that git ignores, and
# older runs are back-filled once the statement has been recorded.
# Values equal those of each version edited by hand and trained from
# scratch, bit for bit; the user's unrelated edits are not carried.
. "$(dirname "$0")/lib.sh"

SAN=""
case "$FLOR_BUILD" in *build-san) SAN="-fsanitize=address,undefined" ;; esac
LIBS="$FLOR_BUILD/libflor.a $(pkg-config --libs sqlite3 libgit2 libzstd libxxhash libcurl libpq) -lpthread -lm -lz"
BUILD="cc $SAN -std=c11 -D_GNU_SOURCE -O2 -I$REPO_ROOT/include train.c -o train $LIBS"
export ASAN_OPTIONS=detect_leaks=0

# The trainer: reads its data from data.bin and shards/scale.bin (both
# ignored by git), then trains three weights for 4 epochs of 5 steps.
cat >v1.c <<'EOF'
#include <flor.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (flor_init(&argc, &argv) != 0 && flor_get_mode() == FLOR_MODE_REPLAY)
        return 1;
    double data[3], scale;
    FILE *f = fopen("data.bin", "r"), *g = fopen("shards/scale.bin", "r");
    if (!f || !g || fscanf(f, "%lf %lf %lf", &data[0], &data[1], &data[2]) != 3 ||
        fscanf(g, "%lf", &scale) != 1) {
        fprintf(stderr, "train: cannot read data.bin and shards/scale.bin\n");
        return 1;
    }
    fclose(f);
    fclose(g);
    double lr = 0.25;
    double w[3] = {1.0, -2.0, 0.5};
    flor_checkpoint_typed("w", w, sizeof w, FLOR_F64, 1);
    FLOR_LOOP(epoch, "epoch", 4) {
        FLOR_LOOP(step, "step", 5) {
            for (int k = 0; k < 3; k++)
                w[k] -= lr * (w[k] - scale * data[k]);
        }
        flor_log("loss", w[0] - data[0]);
    }
    return flor_finish();
}
EOF

# edit SED-SCRIPT FILE: applies a change that must change something.
edit() {
    cp "$2" "$2.before" && sed -i "$1" "$2" && ! cmp -s "$2" "$2.before" && rm "$2.before"
}
# Version 2 changes the learning rate; version 3 adds a comment above the
# data, which moves every line below it.
faster() { edit 's|double lr = 0.25;|double lr = 0.5;|' "$1"; }
comment() { edit 's|^    double data\[3\], scale;|    /* three targets and a scale */\n&|' "$1"; }

# What the user adds for the hindsight statement, and the statement.
add_include() { edit 's|^#include <flor.h>$|&\n#include <math.h>|' "$1"; }
add_helper() {
    edit 's|^int main(int argc, char \*\*argv)$|static double param_norm(const double *w, int n)\n{\n    double s = 0;\n    for (int k = 0; k < n; k++)\n        s += w[k] * w[k];\n    return sqrt(s);\n}\n\n&|' "$1"
}
add_statement() { edit 's|^        flor_log("loss", w\[0\] - data\[0\]);|        flor_log("param_norm", param_norm(w, 3));\n&|' "$1"; }
add_all() { add_include "$1" && add_helper "$1" && add_statement "$1"; }
# An edit of the user's that has nothing to do with the statement.
unrelated() { edit 's|^    double lr = .*;$|&\n    lr *= 2;|' "$1"; }

add_data() {
    echo "1.5 -0.5 2.0" >data.bin && mkdir -p shards && echo "0.75" >shards/scale.bin &&
    printf "train\ndata.bin\nshards/\n" >.gitignore
}

# NAME's values in run RUN (1 when omitted) as "epoch,value" lines.
values() {
    q "SELECT c.iteration, l.value FROM logs l JOIN loops c ON c.run_id = l.run_id
       AND c.ctx_id = l.ctx_id WHERE l.name = '$1' AND l.run_id = ${2:-1} ORDER BY c.iteration"
}

# truth VERSION [EDIT]: version VERSION with the helper, the include and
# the statement added by hand (and EDIT applied), trained in a project
# of its own.
truth() {
    dir=truth-$1${2:+-$2} && new_project "$dir" && cp "$1.c" "$dir/train.c" &&
    (cd "$dir" && add_data && add_all train.c && { [ -z "${2:-}" ] || $2 train.c; } &&
     $BUILD && ./train >/dev/null)
}

# record VERSION: commits train.c as VERSION and records a run of it.
record() { cp "../$1.c" train.c && git add train.c && git commit -q -m "$1" && $BUILD && ./train; }

test_expect_success 'setup: three runs from three versions, reading ignored data' '
    cp v1.c v2.c && faster v2.c && cp v2.c v3.c && comment v3.c &&
    new_project proj && cd proj && add_data && git add .gitignore && git commit -q -m ignore &&
    record v1 && record v2 && record v3 &&
    test "$(q "SELECT count(DISTINCT vid) FROM runs")" -eq 3 &&
    test -z "$(git status --porcelain)"
'

test_expect_success 'the helper and the include are carried with the statement, the unrelated edit is not' '
    for v in v1 v2 v3; do truth $v || exit 1; done && truth v3 unrelated &&
    cd proj && add_all train.c && unrelated train.c &&
    git status --porcelain >../status.before && sha1sum train.c data.bin shards/scale.bin >../sums.before &&
    mkdir ../tmp && TMPDIR=$TRASH/tmp flor replay param_norm -j 2 --build "$BUILD" >../sum 2>../err &&
    cut -d, -f1,3,5,6 ../sum >../actual &&
    printf "%s\n" run,status,new_values,divergences 1,finished,4,0 2,finished,4,0 3,finished,4,0 >../expect &&
    test_cmp ../expect ../actual &&
    for i in 1 2 3; do
        (cd ../truth-v$i && values param_norm) >../expect &&
        values param_norm $i >../actual && test_cmp ../expect ../actual &&
        test "$(wc -l <../actual)" -eq 4 || exit 1
    done &&
    (cd ../truth-v3-unrelated && values param_norm) >../changed &&
    ! test_cmp ../changed ../actual >/dev/null &&
    test "$(grep -c "which the statements need, carried to line" ../err)" -eq 6 &&
    test "$(grep -c "param_norm. carried to line [0-9]*, in loop epoch$" ../err)" -eq 3 &&
    git status --porcelain >../status.after && test_cmp ../status.before ../status.after &&
    sha1sum train.c data.bin shards/scale.bin >../sums.after && test_cmp ../sums.before ../sums.after &&
    test -f data.bin && ! test -L data.bin && test -z "$(ls ../tmp)"
'

test_expect_success 'replaying NAME again skips the runs that have it; --force is only for NAME' '
    cd proj && flor replay param_norm --build "$BUILD" >../sum 2>../err &&
    cut -d, -f1,3 ../sum >actual &&
    printf "%s\n" run,status 1,skipped 2,skipped 3,skipped >expect && test_cmp expect actual &&
    grep -q "^flor: run 2 already has param_norm: skipped" ../err &&
    test "$(values param_norm 2 | wc -l)" -eq 4 &&
    test_exit_code 2 flor replay --force -- ./train 2>err &&
    grep -q "^flor: --force needs the NAMEs" err
'

test_expect_success 'the work area links the data files git ignores or does not track, not the build outputs' '
    cd proj && edit "s|^        flor_log(\"loss\", w\[0\] - data\[0\]);|&\n        flor_log(\"w1\", w[1]);|" train.c &&
    sha1sum data.bin shards/scale.bin >../sums.before &&
    rm -f actual expect err &&
    mkdir -p ../external/tokens && echo 1 >../external/tokens/t0.bin && ln -s ../external datasets &&
    mkdir -p __pycache__ && echo x >__pycache__/m.pyc && echo o >shards/kernel.o &&
    printf "#!/bin/sh\n" >shards/fetch.sh && chmod +x shards/fetch.sh &&
    flor replay w1 --where "run_id = 1" --build "$BUILD && find . -type l | sort >$TRASH/links" \
        >../sum 2>../err &&
    cut -d, -f1,3 ../sum >../actual && printf "%s\n" run,status 1,finished >../expect &&
    test_cmp ../expect ../actual && test "$(values w1 1 | wc -l)" -eq 4 &&
    printf "%s\n" ./data.bin ./datasets ./shards/scale.bin >../expect &&
    test_cmp ../expect "$TRASH/links" &&
    sha1sum data.bin shards/scale.bin >../sums.after && test_cmp ../sums.before ../sums.after
'

test_expect_success 'back-fill: once a run recorded the statement, the older runs get it' '
    new_project bf && cd bf && add_data && git add .gitignore && git commit -q -m ignore &&
    record v1 && record v2 && cp ../v3.c train.c && add_all train.c && git commit -q -am stmt &&
    $BUILD && ./train >/dev/null &&
    test "$(values param_norm 3 | wc -l)" -eq 4 &&
    flor replay param_norm --build "$BUILD" >../sum 2>../err &&
    cut -d, -f1,3,5 ../sum >actual &&
    printf "%s\n" run,status,new_values 1,finished,4 2,finished,4 3,skipped, >expect &&
    test_cmp expect actual &&
    grep -q "back-filling from version [0-9a-f]\{12\}" ../err &&
    grep -q "1 skipped, as the value was already logged there" ../err &&
    for i in 1 2; do
        (cd ../truth-v$i && values param_norm) >expect &&
        values param_norm $i >actual && test_cmp expect actual || exit 1
    done &&
    test "$(q "SELECT count(*) FROM logs WHERE run_id = 3 AND name = '\''param_norm'\''")" -eq 4
'

test_done
