#!/bin/sh
# flor replay NAME: hindsight logging across code versions.  Three runs of
# the example were recorded from three versions of its code (a changed
# learning-rate schedule; a renamed helper and lines moved above the
# loop); a statement added to the newest is carried into each version,
# built and replayed, and its values equal those of retraining each
# version, edited by hand, from scratch.  The user's repository is left
# byte-identical; conflicts, failed builds, bad --where and missing
# versions are reported per run while the other runs go on.
. "$(dirname "$0")/lib.sh"

SAN=""
case "$FLOR_BUILD" in *build-san) SAN="-fsanitize=address,undefined" ;; esac
LIBS="$FLOR_BUILD/libflor.a $(pkg-config --libs sqlite3 libgit2 libzstd libxxhash libcurl libpq) -lpthread -lm -lz"
ARGS="epochs=3 ntrain=2000 ntest=500 hidden=32 print_every=20"
export ASAN_OPTIONS=detect_leaks=0

# The project's build, as a user would write it; flor replay --build runs it.
write_makefile() {
    printf 'linear: linear.c\n\tcc %s -std=c11 -D_GNU_SOURCE -O2 -fno-math-errno -I%s linear.c -o linear %s\n' \
        "$SAN" "$REPO_ROOT/include" "$LIBS" >Makefile
}

# edit SED-SCRIPT FILE: applies a change that must change something.
edit() {
    cp "$2" "$2.before" && sed -i "$1" "$2" && ! cmp -s "$2" "$2.before" && rm "$2.before"
}

# The three versions.
schedule() { edit 's|double loss = train_step(&st, &s, bsz, lr);|double loss = train_step(\&st, \&s, bsz, lr / (1.0 + 0.5 * (double)epoch));|' "$1"; }
rename_helper() { edit 's/\bevaluate(/test_accuracy(/g' "$1"; }
move_up() {
    edit '/^    char num\[32\];$/d; /^    double acc;$/d' "$1" &&
    edit 's|^    scratch s = scratch_new(H, B, st.nparams);|&\n    char num[32];\n    double acc;|' "$1"
}

# The statements the user adds afterwards.
add_norm() { edit 's|^        double t1 = now();|        { double s2 = 0; for (size_t k = 0; k < st.nparams; k++) s2 += (double)st.params[k] * st.params[k]; flor_log("weight_norm", sqrt(s2)); }\n&|' "$1"; }
add_adam_t() { edit 's|^                flor_log("loss", loss);|&\n                flor_log("adam_t", (long)st.t);|' "$1"; }
add_lr_now() { edit 's|^            double loss = train_step(.*$|&\n            flor_log("lr_now", lr / (1.0 + 0.5 * (double)epoch));|' "$1"; }
add_train_acc() { edit 's|^        flor_log("acc", acc);|&\n        flor_log("train_acc", test_accuracy(\&s, st.params, \&train));|' "$1"; }


# NAME's values in the run RUN (1 when omitted, in a truth project), as
# "epoch,step,value" lines.
values() {
    q "SELECT e.iteration, s.iteration, l.value FROM logs l
       JOIN loops c ON c.run_id = l.run_id AND c.ctx_id = l.ctx_id
       JOIN loops e ON e.run_id = l.run_id
                   AND e.ctx_id = (CASE WHEN c.name = 'epoch' THEN c.ctx_id ELSE c.parent_ctx_id END)
       LEFT JOIN loops s ON s.run_id = l.run_id AND s.ctx_id = l.ctx_id AND s.name = 'step'
       WHERE l.name = '$1' AND l.run_id = ${2:-1} ORDER BY e.iteration, s.iteration"
}

# truth VERSION STATEMENT: version VERSION (v1.c ...) with the statement
# added by hand, trained from scratch in a project of its own.
truth() {
    dir=truth-$1-$2 && new_project "$dir" && cp "$1.c" "$dir/linear.c" &&
    (cd "$dir" && add_$2 linear.c && write_makefile && make -s >/dev/null &&
     ./linear --kwargs $ARGS >/dev/null)
}

# What flor must never touch in the user's repository.
user_state() {
    git rev-parse HEAD && git symbolic-ref HEAD && sha1sum .git/index &&
    git stash list && git --no-optional-locks status --porcelain --untracked-files=all &&
    sha1sum linear.c Makefile
}

test_expect_success 'setup: three runs from three versions of the example' '
    cp "$REPO_ROOT/examples/linear.c" v1.c &&
    cp v1.c v2.c && schedule v2.c &&
    cp v2.c v3.c && rename_helper v3.c && move_up v3.c &&
    new_project proj && cd proj &&
    cp ../v1.c linear.c && write_makefile && echo linear >.gitignore &&
    git add linear.c Makefile .gitignore && git commit -q -m "the example" &&
    make -s && ./linear --kwargs $ARGS >/dev/null &&
    cp ../v2.c linear.c && git commit -q -am "a learning-rate schedule" &&
    make -s && ./linear --kwargs $ARGS >/dev/null &&
    cp ../v3.c linear.c && make -s && ./linear --kwargs $ARGS >/dev/null &&
    git stash -q && git stash apply -q &&
    test "$(q "SELECT count(DISTINCT vid) FROM runs")" -eq 3
'

test_expect_success 'the statement, carried into each version, gives the values of retraining it' '
    for v in v1 v2 v3; do truth $v norm || exit 1; done &&
    cd proj && add_norm linear.c &&
    user_state >../before &&
    mkdir ../tmp && TMPDIR=$TRASH/tmp flor replay weight_norm -j 2 --build make >../sum 2>../err &&
    user_state >../after && test_cmp ../before ../after &&
    test -z "$(ls ../tmp)" &&
    cut -d, -f1,3,5,6,7 ../sum >actual &&
    printf "%s\n" run,status,new_values,divergences,conflicts \
        1,finished,3,0, 2,finished,3,0, 3,finished,3,0, >expect &&
    test_cmp expect actual &&
    for i in 1 2 3; do
        (cd ../truth-v$i-norm && values weight_norm) >expect &&
        values weight_norm $i >actual && test_cmp expect actual &&
        test "$(wc -l <actual)" -eq 3 || exit 1
    done &&
    grep -q "^flor: statement linear.c:[0-9]* logs .weight_norm. in loop epoch:" ../err &&
    test "$(grep -c "carried to line [0-9]*, in loop epoch$" ../err)" -eq 3 &&
    ! cmp -s ../truth-v1-norm/.flor/flor.db .flor/flor.db &&
    test "$(flor dataframe weight_norm --format csv | tail -n +2 | wc -l)" -eq 9
'

test_expect_success 'the versions really differ: the schedule changes the values from epoch 1' '
    cd proj &&
    test "$(values weight_norm 1 | head -n 1)" = "$(values weight_norm 2 | head -n 1)" &&
    test "$(values weight_norm 1 | tail -n 1)" != "$(values weight_norm 2 | tail -n 1)" &&
    test "$(values weight_norm 2)" = "$(values weight_norm 3)"
'

test_expect_success 'a statement inside the step loop probes it; --where picks the runs' '
    truth v3 adam_t &&
    cd proj && add_adam_t linear.c &&
    flor replay adam_t --where "hidden = 32 AND run_id >= 3" --build make >../sum 2>../err &&
    grep -q "logs .adam_t. in loop epoch/step" ../err &&
    cut -d, -f1,3 ../sum >actual && printf "%s\n" run,status 3,finished >expect &&
    test_cmp expect actual &&
    (cd ../truth-v3-adam_t && values adam_t) >expect &&
    values adam_t 3 >actual && test_cmp expect actual &&
    test "$(wc -l <actual)" -eq 12 &&
    test -z "$(values adam_t 1)"
'

test_expect_success 'a statement that conflicts in one version is reported there; the others replay' '
    cd proj && add_lr_now linear.c && line=$(grep -n "\"lr_now\"" linear.c | cut -d: -f1) &&
    test_exit_code 1 flor replay lr_now --build make >../sum 2>../err &&
    cut -d, -f1,3,7 ../sum >actual &&
    printf "%s\n" run,status,conflicts "1,conflict,linear.c:$line lr_now" 2,finished, 3,finished, >expect &&
    test_cmp expect actual &&
    grep -q "(run 1): linear.c:$line .lr_now. cannot be carried: the code around it differs" ../err &&
    test -z "$(values lr_now 1)" && test -n "$(values lr_now 2)"
'

test_expect_success 'a build that fails in some versions is reported there; the others replay' '
    cd proj && add_train_acc linear.c &&
    test_exit_code 1 flor replay train_acc --build make >../sum 2>../err &&
    cut -d, -f1,3 ../sum >actual &&
    printf "%s\n" run,status "1,build failed" "2,build failed" 3,finished >expect &&
    test_cmp expect actual &&
    grep -q "^flor: the build of version [0-9a-f]* (run 1) failed: exit status 2" ../err &&
    grep -q "test_accuracy" ../err &&
    test "$(values train_acc 3 | wc -l)" -eq 3 && test -z "$(values train_acc 1)"
'

test_expect_success 'bad input: invalid --where, unknown names, nothing added; nothing recorded changes' '
    cd proj && flor query "SELECT * FROM logs" --format csv >../logs.before &&
    test_exit_code 1 flor replay weight_norm --where "lr >>> 1" 2>err &&
    grep -q "^flor: --where .lr >>> 1.: .*syntax error" err &&
    test_exit_code 1 flor replay weight_norm --where "no_such_arg = 1" 2>err &&
    grep -q "no such column: no_such_arg" err &&
    test_exit_code 1 flor replay weight_norm --where "lr > 1" 2>err &&
    grep -q "^flor: no finished run of .linear. matches --where .lr > 1.$" err &&
    test_exit_code 1 flor replay gradient_norm 2>err &&
    grep "no statement logging .gradient_norm. was added since the latest recorded version; the added ones log: " err >msg &&
    for n in weight_norm adam_t lr_now train_acc; do grep -q "[:,] $n\(,\|$\)" msg || exit 1; done &&
    test_exit_code 2 flor replay weight_norm --run 1 2>err &&
    grep -q "choose runs with --where" err &&
    test_exit_code 2 flor replay --where "lr > 0" -- ./linear 2>err &&
    git stash -q && test_exit_code 1 flor replay weight_norm 2>err && git stash pop -q &&
    grep -q "no logging statement was added to the working tree since the latest recorded version" err &&
    flor query "SELECT * FROM logs" --format csv >../logs.after &&
    test_cmp ../logs.before ../logs.after
'

test_expect_success 'a run whose code version is not in the repository is reported; the others replay' '
    cd proj && vid=$(q "SELECT vid FROM runs WHERE run_id = 2") &&
    sqlite3 .flor/flor.db "$(printf "UPDATE runs SET vid = \047%s\047 WHERE run_id = 2" 0123456789012345678901234567890123456789)" &&
    rc=0 && flor replay weight_norm --force --build make >../sum 2>../err || rc=$? &&
    sqlite3 .flor/flor.db "$(printf "UPDATE runs SET vid = \047%s\047 WHERE run_id = 2" "$vid")" &&
    test "$rc" -eq 1 &&
    cut -d, -f1,3 ../sum >actual &&
    printf "%s\n" run,status 1,finished "2,missing version" 3,finished >expect &&
    test_cmp expect actual &&
    grep -q "^flor: run 2 is not replayed (missing version): .*0123456789012345678901234567890123456789 is not in the repository" ../err
'

test_expect_success 'Ctrl-C during the builds: nothing is left in the work area, the checkout is untouched' '
    cd proj && user_state >../before && mkdir ../tmp2
    # a background job starts with SIGINT ignored, unlike one at a terminal
    TMPDIR=$TRASH/tmp2 env --default-signal=INT flor replay weight_norm --force --build "sleep 30" >/dev/null 2>../err &
    pid=$!
    n=0 &&
    until grep -q "^flor: building" ../err 2>/dev/null; do
        n=$((n + 1)) && [ $n -lt 200 ] && sleep 0.05 || { cat ../err; kill $pid; exit 1; }
    done &&
    sleep 0.3 && kill -INT $pid &&
    rc=0 && wait $pid || rc=$? &&
    test "$rc" -eq 130 &&
    test -z "$(ls ../tmp2)" &&
    user_state >../after && test_cmp ../before ../after
'

test_done
