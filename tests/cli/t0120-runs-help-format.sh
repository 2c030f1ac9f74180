#!/bin/sh
# flor runs, help and usage: the runs table, --version, -h on every
# command (and docs/cli.md showing exactly that), --format anywhere, and
# the exit codes of usage errors.

. "$(dirname "$0")/lib.sh"

COMMANDS="dataframe query runs checkpoints du gc replay resume help"

# The fenced block after the line "<!-- MARKER -->" in docs/cli.md.
doc_block() {
    awk -v m="<!-- $1 -->" '
        $0 == m { found = 1; next }
        found && /^```/ { if (inside) exit; inside = 1; next }
        inside { print }' "$REPO_ROOT/docs/cli.md"
}

test_expect_success 'setup: two runs of toy' '
    new_project proj &&
    (cd proj && toy && toy --kwargs epochs=1 steps=1)
'

test_expect_success 'runs: one finished row per run with its code version' '
    (cd proj && flor runs) >out &&
    head -n 1 out >header &&
    echo "run,projid,tstamp,filename,vid,status,host,pid,started,ended,seconds,logs,checkpoints,overhead,replays,divergences,argv,reason,ranks" >expect &&
    test_cmp expect header &&
    sed -n "2,\$p" out | cut -d, -f1,2,4,6,12,13,15,16 >actual &&
    printf "%s\n" "1,proj,toy,finished,9,0,0,0" "2,proj,toy,finished,3,0,0,0" >expect &&
    test_cmp expect actual &&
    head_commit=$(cd proj && git rev-parse HEAD) &&
    sed -n "2,\$p" out | cut -d, -f5 >vids &&
    ! grep -Ev "^[0-9a-f]{40}$" vids
'

test_expect_success 'runs: argv is recorded as given, quoted in CSV' '
    (cd proj && flor runs) >out &&
    tail -n 1 out | grep -F "\"\"--kwargs\"\",\"\"epochs=1\"\",\"\"steps=1\"\"]\""
'

test_expect_success '--version prints the version of flor.h' '
    version=$(sed -n "s/^#define FLOR_VERSION \"\(.*\)\"/\1/p" "$REPO_ROOT/include/flor.h") &&
    echo "flor $version" >expect &&
    flor --version >actual &&
    test_cmp expect actual
'

test_expect_success 'help, -h and --help print the same overview, exit 0' '
    flor help >help.out &&
    flor -h >h.out &&
    flor --help >help2.out &&
    test_cmp help.out h.out &&
    test_cmp help.out help2.out &&
    grep "^usage: flor " help.out &&
    for c in $COMMANDS; do grep "^  $c" help.out || exit 1; done
'

test_expect_success 'the overview documents the exit codes' '
    flor help >out &&
    grep "^  0  success$" out &&
    grep "^  1  error" out &&
    grep "^  2  usage error" out
'

test_expect_success 'every command: -h and --help print its usage on stdout, exit 0' '
    for c in $COMMANDS; do
        flor $c -h >h.out 2>h.err &&
        flor $c --help >help.out &&
        flor help $c >helpc.out &&
        test_cmp h.out help.out &&
        test_cmp h.out helpc.out &&
        test ! -s h.err &&
        grep "^usage: flor $c" h.out || exit 1
    done
'

test_expect_success '-h wins over the rest of the command line' '
    (cd proj && flor query -h "SELECT nonsense") >out &&
    grep "^usage: flor query" out &&
    mkdir -p nowhere && (cd nowhere && flor dataframe loss -h >out) &&
    grep "^usage: flor dataframe" nowhere/out
'

test_expect_success 'docs/cli.md shows exactly the --help of flor and of each command' '
    flor help >expect &&
    doc_block "flor help" >actual &&
    test_cmp expect actual &&
    for c in $COMMANDS; do
        flor help $c >expect &&
        doc_block "flor help $c" >actual &&
        test -s actual &&
        test_cmp expect actual || exit 1
    done
'

test_expect_success 'an unknown command: exit 2, a message and a hint' '
    test_exit_code 2 flor frobnicate >out 2>err &&
    printf "%s\n" "flor: '\''frobnicate'\'' is not a flor command" "see '\''flor help'\''" >expect &&
    test_cmp expect err &&
    test ! -s out &&
    test_exit_code 2 flor help frobnicate 2>err &&
    test_cmp expect err
'

test_expect_success 'an unknown option: exit 2, hint names the command' '
    test_exit_code 2 flor runs --bogus 2>err &&
    printf "%s\n" "flor: unknown option '\''--bogus'\''" "see '\''flor help runs'\''" >expect &&
    test_cmp expect err &&
    test_exit_code 2 flor dataframe -x 2>err &&
    grep "^see '\''flor help dataframe'\''$" err &&
    test_exit_code 2 flor --bogus runs 2>err &&
    grep "^see '\''flor help'\''$" err
'

test_expect_success 'extra arguments: exit 2' '
    (cd proj && test_exit_code 2 flor runs extra) 2>err &&
    grep "^flor: unexpected argument '\''extra'\''$" err &&
    test_exit_code 2 flor help runs query 2>err &&
    grep "^see '\''flor help help'\''$" err
'

test_expect_success 'no command: usage on stderr, exit 2' '
    test_exit_code 2 flor >out 2>err &&
    test ! -s out &&
    grep "^usage: flor " err
'

test_expect_success '--format: a bad or missing value is a usage error' '
    test_exit_code 2 flor --format xml runs 2>err &&
    grep "^flor: unknown format '\''xml'\'' (expected table, csv or json)$" err &&
    test_exit_code 2 flor runs --format 2>err &&
    grep "^flor: option '\''--format'\'' needs a value$" err
'

test_expect_success '--format works before or after the command, with = or not' '
    (cd proj &&
     flor --format json query "SELECT run_id FROM runs" >a &&
     flor query "SELECT run_id FROM runs" --format json >b &&
     flor query --format=json "SELECT run_id FROM runs" >c) &&
    printf "%s\n" "[" "  {\"run_id\": 1}," "  {\"run_id\": 2}" "]" >expect &&
    test_cmp expect proj/a &&
    test_cmp expect proj/b &&
    test_cmp expect proj/c
'

test_expect_success 'table format: header, dashes, blank NULL, numbers right' '
    cat >expect <<-\EOT &&
	run_id  note   value
	------  -----  -----
	     1  short    0.5
	     2             7
	     3  x\ty
	EOT
    (cd proj && flor query --format table "SELECT 1 AS run_id, '\''short'\'' AS note, 0.5 AS value
        UNION ALL SELECT 2, NULL, 7 UNION ALL SELECT 3, '\''x'\'' || char(9) || '\''y'\'', NULL") >actual &&
    test_cmp expect actual
'

test_expect_success 'runs in an empty project: exit 1' '
    new_project empty &&
    (cd empty && test_exit_code 1 flor runs) 2>err &&
    grep "^flor: no runs recorded in project '\''empty'\'' yet" err
'

test_done
