#!/bin/sh
# NaN and +-Inf are values, not "not logged": they survive the database,
# flor query, and flor dataframe in every format.

. "$(dirname "$0")/lib.sh"

test_expect_success 'setup: a run that logs NaN, inf, -inf and 1.5, and the arg x = NaN' '
    new_project proj &&
    (cd proj && trust nan)
'

test_expect_success 'SQL: NaN is the text NaN, the infinities are reals, nothing is NULL' '
    (cd proj && flor query "SELECT typeof(value) AS t, value FROM logs ORDER BY rowid") >actual &&
    printf "%s\n" t,value text,NaN real,inf real,-inf real,1.5 >expect &&
    test_cmp expect actual &&
    (cd proj && flor query "SELECT count(*) AS n FROM logs WHERE value IS NULL") >actual &&
    printf "n\n0\n" >expect &&
    test_cmp expect actual
'

test_expect_success 'SQL: the infinities compare as numbers' '
    (cd proj && flor query "SELECT count(*) AS n FROM logs WHERE typeof(value) = \"real\" AND value > 1e308") >actual &&
    printf "n\n1\n" >expect &&
    test_cmp expect actual
'

test_expect_success 'dataframe CSV: nan, inf, -inf' '
    (cd proj && flor dataframe loss --format csv) | cut -d, -f4- >actual &&
    printf "%s\n" x,epoch,loss nan,0,nan nan,1,inf nan,2,-inf nan,3,1.5 >expect &&
    test_cmp expect actual
'

test_expect_success 'dataframe JSON: strings "nan", "inf", "-inf", never null' '
    (cd proj && flor dataframe loss --format json) >out &&
    ! grep null out &&
    grep "\"epoch\": 0, \"loss\": \"nan\"}" out &&
    grep "\"epoch\": 1, \"loss\": \"inf\"}" out &&
    grep "\"epoch\": 2, \"loss\": \"-inf\"}" out &&
    grep "\"epoch\": 3, \"loss\": 1.5}" out &&
    grep "\"x\": \"nan\"" out
'

test_expect_success 'dataframe table: nan and inf in the column' '
    (cd proj && flor dataframe loss --format table) >out &&
    sed -n "3,\$p" out | awk "{print \$NF}" >actual &&
    printf "%s\n" nan inf -inf 1.5 >expect &&
    test_cmp expect actual
'

test_expect_success 'a replay compares NaN with NaN: no divergence' '
    (cd proj && FLOR_QUIET=0 trust nan --replay_flor 2>err) &&
    grep "0 divergences" proj/err &&
    test "$(cd proj && flor query "SELECT count(*) FROM divergences" --format csv | tail -n 1)" -eq 0
'

test_done
