#!/bin/sh
# flor dataframe: the pivoted view of two recorded runs of toy, checked
# value by value in CSV, JSON and table form.

. "$(dirname "$0")/lib.sh"

# The CSV of `flor dataframe ARGS` without its tstamp column (the second).
df_no_tstamp() {
    flor dataframe --format csv "$@" >df.raw &&
    cut -d, -f1,3- df.raw
}

test_expect_success 'setup: two runs of toy, the second with --kwargs' '
    new_project proj &&
    (cd proj && toy && toy --kwargs lr=0.25 epochs=3 name=second)
'

test_expect_success 'no names: one row per run, args then final logs' '
    cat >expect <<-\EOT &&
	projid,filename,epochs,steps,lr,name,final
	proj,toy,2,3,0.5,toy,6
	proj,toy,3,3,0.25,second,9
	EOT
    (cd proj && df_no_tstamp) >actual &&
    test_cmp expect actual
'

test_expect_success 'tstamp is ISO 8601 to the microsecond, unique and increasing' '
    (cd proj && flor dataframe --format csv) >out &&
    sed -n "2,\$p" out | cut -d, -f2 >stamps &&
    test $(wc -l <stamps) -eq 2 &&
    ! grep -Ev "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}$" stamps &&
    sort -u stamps >sorted &&
    test_cmp stamps sorted &&
    test $(wc -l <sorted) -eq 2
'

test_expect_success 'loss and acc: one row per step, acc repeated on its epoch' '
    cat >expect <<-\EOT &&
	projid,filename,epochs,steps,lr,name,epoch,step,loss,acc
	proj,toy,2,3,0.5,toy,0,0,1.0,0.25
	proj,toy,2,3,0.5,toy,0,1,1.25,0.25
	proj,toy,2,3,0.5,toy,0,2,1.5,0.25
	proj,toy,2,3,0.5,toy,1,0,0.5,0.5
	proj,toy,2,3,0.5,toy,1,1,0.75,0.5
	proj,toy,2,3,0.5,toy,1,2,1.0,0.5
	proj,toy,3,3,0.25,second,0,0,0.75,0.25
	proj,toy,3,3,0.25,second,0,1,1.0,0.25
	proj,toy,3,3,0.25,second,0,2,1.25,0.25
	proj,toy,3,3,0.25,second,1,0,0.5,0.5
	proj,toy,3,3,0.25,second,1,1,0.75,0.5
	proj,toy,3,3,0.25,second,1,2,1.0,0.5
	proj,toy,3,3,0.25,second,2,0,0.25,0.75
	proj,toy,3,3,0.25,second,2,1,0.5,0.75
	proj,toy,3,3,0.25,second,2,2,0.75,0.75
	EOT
    (cd proj && df_no_tstamp loss acc) >actual &&
    test_cmp expect actual
'

test_expect_success 'acc alone: one row per epoch, and only the epoch column' '
    cat >expect <<-\EOT &&
	projid,filename,epochs,steps,lr,name,epoch,acc
	proj,toy,2,3,0.5,toy,0,0.25
	proj,toy,2,3,0.5,toy,1,0.5
	proj,toy,3,3,0.25,second,0,0.25
	proj,toy,3,3,0.25,second,1,0.5
	proj,toy,3,3,0.25,second,2,0.75
	EOT
    (cd proj && df_no_tstamp acc) >actual &&
    test_cmp expect actual
'

test_expect_success 'a name outside loops is repeated on every row of its run' '
    cat >expect <<-\EOT &&
	projid,filename,epochs,steps,lr,name,epoch,final,acc
	proj,toy,2,3,0.5,toy,0,6,0.25
	proj,toy,2,3,0.5,toy,1,6,0.5
	proj,toy,3,3,0.25,second,0,9,0.25
	proj,toy,3,3,0.25,second,1,9,0.5
	proj,toy,3,3,0.25,second,2,9,0.75
	EOT
    (cd proj && df_no_tstamp final acc acc) >actual &&
    test_cmp expect actual
'

test_expect_success 'a hyperparameter may be asked for by name' '
    cat >expect <<-\EOT &&
	projid,filename,epochs,steps,name,lr
	proj,toy,2,3,toy,0.5
	proj,toy,3,3,second,0.25
	EOT
    (cd proj && df_no_tstamp lr) >actual &&
    test_cmp expect actual
'

test_expect_success 'JSON keeps the types: numbers are numbers, text is strings' '
    cat >expect <<-\EOT &&
	[
	  {"projid": "proj", "tstamp": T, "filename": "toy", "epochs": 2, "steps": 3, "lr": 0.5, "name": "toy", "epoch": 0, "acc": 0.25},
	  {"projid": "proj", "tstamp": T, "filename": "toy", "epochs": 2, "steps": 3, "lr": 0.5, "name": "toy", "epoch": 1, "acc": 0.5},
	  {"projid": "proj", "tstamp": T, "filename": "toy", "epochs": 3, "steps": 3, "lr": 0.25, "name": "second", "epoch": 0, "acc": 0.25},
	  {"projid": "proj", "tstamp": T, "filename": "toy", "epochs": 3, "steps": 3, "lr": 0.25, "name": "second", "epoch": 1, "acc": 0.5},
	  {"projid": "proj", "tstamp": T, "filename": "toy", "epochs": 3, "steps": 3, "lr": 0.25, "name": "second", "epoch": 2, "acc": 0.75}
	]
	EOT
    (cd proj && flor dataframe acc --format json) >raw &&
    sed "s/\"tstamp\": \"[^\"]*\"/\"tstamp\": T/" raw >actual &&
    test_cmp expect actual
'

test_expect_success 'the table format aligns columns, numbers to the right' '
    cat >expect <<-\EOT &&
	projid  tstamp                      filename  epochs  steps    lr  name    final
	------  --------------------------  --------  ------  -----  ----  ------  -----
	proj    YYYY-MM-DDTHH:MM:SS.ffffff  toy            2      3   0.5  toy         6
	proj    YYYY-MM-DDTHH:MM:SS.ffffff  toy            3      3  0.25  second      9
	EOT
    (cd proj && flor dataframe --format table) >raw &&
    sed "s/[0-9]\{4\}-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]\.[0-9]\{6\}/YYYY-MM-DDTHH:MM:SS.ffffff/" raw >actual &&
    test_cmp expect actual
'

test_expect_success 'stdout that is not a terminal gets CSV' '
    (cd proj && flor dataframe loss >default && flor dataframe loss --format csv >csv) &&
    test_cmp proj/csv proj/default &&
    test $(wc -l <proj/default) -eq 16
'

# script(1) from util-linux gives flor a terminal for stdout.
if command -v script >/dev/null 2>&1; then
test_expect_success 'stdout on a terminal gets the aligned table' '
    (cd proj && script -qc "flor dataframe" /dev/null) | tr -d "\r" >raw &&
    sed "s/[0-9]\{4\}-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]/T/" raw >actual &&
    head -n 2 actual >top &&
    printf "%s\n" \
        "projid  tstamp                      filename  epochs  steps    lr  name    final" \
        "------  --------------------------  --------  ------  -----  ----  ------  -----" >expect &&
    test_cmp expect top &&
    test $(wc -l <actual) -eq 4
'
else
    echo "skip t0100-dataframe: no script(1) to give flor a terminal"
fi

test_expect_success 'a name never logged is an error naming it' '
    (cd proj && test_exit_code 1 flor dataframe acc lose) >out 2>err &&
    echo "flor: no logs named '\''lose'\'' in project '\''proj'\''" >expect &&
    test_cmp expect err &&
    test ! -s out
'

test_expect_success 'a project with no runs: exit 1 and a clear message' '
    new_project empty &&
    (cd empty && test_exit_code 1 flor dataframe) >out 2>err &&
    grep "^flor: no runs recorded in project '\''empty'\'' yet" err &&
    test $(wc -l <err) -eq 1 &&
    test ! -s out
'

test_expect_success 'a third run adds a row and keeps the others' '
    (cd proj && toy --kwargs steps=1 epochs=1 && df_no_tstamp) >actual &&
    cat >expect <<-\EOT &&
	projid,filename,epochs,steps,lr,name,final
	proj,toy,2,3,0.5,toy,6
	proj,toy,3,3,0.25,second,9
	proj,toy,1,1,0.5,toy,1
	EOT
    test_cmp expect actual
'

test_done
