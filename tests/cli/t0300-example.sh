#!/bin/sh
# t0300-example.sh -- the C example end to end: record examples/linear
# (an MLP on Fashion-MNIST) on a small subset, then check that what flor
# serves is exactly what the program printed: the args and the final acc
# per run, every loss at its (epoch, step) and every acc at its epoch.
. "$(dirname "$0")/lib.sh"

small="epochs=2 ntrain=2000 ntest=1000 print_every=20"
run1="$small hidden=32"
run2="$small hidden=16 lr=0.01"

# What linear printed: "epoch E step S loss L" lines as E,S,L; "epoch E
# acc A (...)" lines as E,A; and the A of "final acc A".
printed_loss() { awk '$1 == "epoch" && $3 == "step" && $5 == "loss" { print $2 "," $4 "," $6 }' "$1"; }
printed_acc() { awk '$1 == "epoch" && $3 == "acc" { print $2 "," $4 }' "$1"; }
printed_final() { awk '$1 == "final" && $2 == "acc" { print $3 }' "$1"; }
# The printed values without the timings, to compare two runs.
printed_values() { sed 's/ (train .*//' "$1" | grep -E '^(epoch|final) '; }

# csv_select COL,COL,...: those columns, by name, of the CSV on stdin.
# (flor's CSV here has no quoted fields: no value holds a comma.)
csv_select() {
    awk -F, -v want="$1" '
        NR == 1 {
            for (i = 1; i <= NF; i++)
                col[$i] = i
            n = split(want, w, ",")
            for (j = 1; j <= n; j++)
                if (!(w[j] in col)) {
                    print "csv_select: no column " w[j] " in: " $0 >"/dev/stderr"
                    bad = 1
                    exit 1
                }
            next
        }
        {
            line = ""
            for (j = 1; j <= n; j++)
                line = line (j > 1 ? "," : "") $(col[w[j]])
            print line
        }
        END { if (bad) exit 1 }'
}

# prefix P: each line of stdin as P,line.
prefix() { sed "s/^/$1,/"; }

# flor query with CSV output, without the header.

test_expect_success 'setup: a project holding the example' '
    new_project proj &&
    cp "$REPO_ROOT/examples/linear.c" proj/ &&
    (cd proj && git add linear.c && git commit -q -m "the example")
'

test_expect_success 'record two runs with different hyperparameters' '
    (cd proj && linear --kwargs $run1 >../out1 && linear --kwargs $run2 >../out2) &&
    test "$(printed_loss out1 | wc -l)" -eq 8 &&
    test "$(printed_acc out1 | wc -l)" -eq 2 &&
    test -n "$(printed_final out1)" &&
    test "$(printed_loss out2 | wc -l)" -eq 8 &&
    test -n "$(printed_final out2)"
'

test_expect_success 'dataframe: one row per run, its args in order, then the final acc' '
    (cd proj && flor dataframe --format csv) >df.csv &&
    echo "projid,tstamp,filename,hidden,epochs,batch_size,lr,seed,print_every,ntrain,ntest,acc" >expect &&
    head -n 1 df.csv >actual &&
    test_cmp expect actual &&
    {
        echo "proj,linear,32,2,32,0.001,78,20,2000,1000,$(printed_final out1)" &&
        echo "proj,linear,16,2,32,0.01,78,20,2000,1000,$(printed_final out2)"
    } >expect &&
    csv_select projid,filename,hidden,epochs,batch_size,lr,seed,print_every,ntrain,ntest,acc \
        <df.csv >actual &&
    test_cmp expect actual &&
    csv_select tstamp <df.csv | grep -Ex "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}" >ts &&
    test "$(sort -u ts | wc -l)" -eq 2
'

test_expect_success 'dataframe loss acc: the columns' '
    (cd proj && flor dataframe loss acc --format csv) >la.csv &&
    echo "projid,tstamp,filename,hidden,epochs,batch_size,lr,seed,print_every,ntrain,ntest,epoch,step,loss,acc" >expect &&
    head -n 1 la.csv >actual &&
    test_cmp expect actual
'

test_expect_success 'dataframe loss acc: every printed loss at its (epoch, step)' '
    { printed_loss out1 | prefix 32 && printed_loss out2 | prefix 16; } | sort >expect &&
    csv_select hidden,epoch,step,loss <la.csv | awk -F, "\$4 != \"\"" | sort >actual &&
    test_cmp expect actual
'

test_expect_success 'dataframe loss acc: every printed acc at its epoch' '
    { printed_acc out1 | prefix 32 && printed_acc out2 | prefix 16; } | sort >expect &&
    csv_select hidden,epoch,acc <la.csv | awk -F, "\$2 != \"\" && \$3 != \"\"" | sort -u >actual &&
    test_cmp expect actual
'

test_expect_success 'the same args log the same values, bit for bit' '
    (cd proj && linear --kwargs $run1 >../out3) &&
    printed_values out1 >expect &&
    printed_values out3 >actual &&
    test_cmp expect actual &&
    cd proj &&
    first=$(q "SELECT min(run_id) FROM runs") &&
    last=$(q "SELECT max(run_id) FROM runs") &&
    test "$first" != "$last" &&
    for r in $first $last; do
        q "SELECT name, typeof(value), value FROM args WHERE run_id = $r ORDER BY ord" >args.$r &&
        q "SELECT ctx_id, parent_ctx_id, name, iteration FROM main.loops WHERE run_id = $r
           ORDER BY ctx_id" >loops.$r &&
        q "SELECT ctx_id, name, typeof(value), value FROM main.logs WHERE run_id = $r
           ORDER BY ctx_id, name" >logs.$r || exit 1
    done &&
    test_cmp args.$first args.$last &&
    test_cmp loops.$first loops.$last &&
    test_cmp logs.$first logs.$last &&
    test "$(grep -c ",loss,real," logs.$last)" -eq 8 &&
    test "$(grep -c ",acc,real," logs.$last)" -eq 3
'

test_expect_success 'FLOR_MODE=off trains the same and records nothing' '
    (cd proj && FLOR_MODE=off linear --kwargs $run1 >../off) &&
    printed_values out1 >expect &&
    printed_values off >actual &&
    test_cmp expect actual &&
    test "$(cd proj && q "SELECT count(*) FROM runs")" -eq 3
'

test_expect_success 'a malformed --kwargs value is refused' '
    new_project bad &&
    (cd bad && test_must_fail linear --kwargs epochs=abc) 2>err &&
    grep -F -- "--kwargs epochs=abc: expected an integer" err
'

test_expect_success 'an invalid hyperparameter is refused' '
    (cd bad && test_must_fail linear --kwargs hidden=0) 2>err &&
    grep -F -- "hidden=0" err &&
    (cd bad && test_must_fail linear --kwargs lr=-1) 2>err &&
    grep -F -- "lr=-1" err
'

test_expect_success 'a missing dataset names the file and the package' '
    (cd bad && FLOR_DATA="$TRASH/nodata" && export FLOR_DATA &&
        test_exit_code 1 linear --kwargs $small) 2>err &&
    grep -F "$TRASH/nodata/train-images-idx3-ubyte.gz" err &&
    grep -F "apt-get install dataset-fashion-mnist" err
'

test_done
