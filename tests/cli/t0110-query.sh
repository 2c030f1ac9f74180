#!/bin/sh
# flor query: one read-only SQL statement; typed output in every format,
# CSV quoting, reals that read back exactly, and the errors.

. "$(dirname "$0")/lib.sh"

test_expect_success 'setup: two runs of toy' '
    new_project proj &&
    (cd proj && toy && toy --kwargs lr=0.25 epochs=3 name=second)
'

test_expect_success 'counts of logs by name' '
    cat >expect <<-\EOT &&
	name,n
	acc,5
	final,2
	loss,15
	EOT
    (cd proj && flor query "SELECT name, count(*) AS n FROM logs GROUP BY name ORDER BY name") >actual &&
    test_cmp expect actual
'

test_expect_success 'args keep their types and say which came from --kwargs' '
    cat >expect <<-\EOT &&
	run_id,name,value,type,from_kwargs
	1,epochs,2,integer,0
	1,steps,3,integer,0
	1,lr,0.5,real,0
	1,name,toy,text,0
	2,epochs,3,integer,1
	2,steps,3,integer,0
	2,lr,0.25,real,1
	2,name,second,text,1
	EOT
    (cd proj && flor query "SELECT run_id, name, value, typeof(value) AS type, from_kwargs
                            FROM args ORDER BY run_id, ord") >actual &&
    test_cmp expect actual
'

test_expect_success 'the loops of a log: epoch and step of the last loss' '
    cat >expect <<-\EOT &&
	loss,step,epoch
	0.75,2,2
	EOT
    (cd proj && flor query "SELECT l.value AS loss, s.iteration AS step, e.iteration AS epoch
                            FROM logs l JOIN loops s ON s.run_id = l.run_id AND s.ctx_id = l.ctx_id
                            JOIN loops e ON e.run_id = s.run_id AND e.ctx_id = s.parent_ctx_id
                            WHERE l.name = '\''loss'\'' ORDER BY l.rowid DESC LIMIT 1") >actual &&
    test_cmp expect actual
'

test_expect_success 'CSV quotes commas, quotes and newlines; NULL is empty, "" is not' '
    cat >expect <<-\EOT &&
	x,y,z,w,v,"a,b"
	"a,b","say ""hi""","",,"two
	lines",1
	EOT
    (cd proj && flor query "SELECT '\''a,b'\'' AS x, '\''say \"hi\"'\'' AS y, '\'''\'' AS z,
                            NULL AS w, '\''two'\'' || char(10) || '\''lines'\'' AS v, 1 AS \"a,b\"") >actual &&
    test_cmp expect actual
'

test_expect_success 'reals: shortest text that reads back, always with a point' '
    cat >expect <<-\EOT &&
	a,b,c,d,e,f,g
	0.1,0.3333333333333333,2.0,1e+300,-2.5,0.30000000000000004,9007199254740993
	EOT
    (cd proj && flor query "SELECT 0.1 AS a, 1.0/3 AS b, 2.0 AS c, 1e300 AS d, -2.5 AS e,
                            0.1 + 0.2 AS f, 9007199254740993 AS g") >actual &&
    test_cmp expect actual
'

test_expect_success 'JSON: typed values, escaped strings, null' '
    cat >expect <<-\EOT &&
	[
	  {"i": 1, "r": 2.0, "t": "a\"b\\c", "n": null, "nl": "x\ny"},
	  {"i": -7, "r": 0.5, "t": "", "n": null, "nl": "\u0001"}
	]
	EOT
    (cd proj && flor query --format json "SELECT 1 AS i, 2.0 AS r, '\''a\"b\\c'\'' AS t, NULL AS n,
                                          '\''x'\'' || char(10) || '\''y'\'' AS nl
                                          UNION ALL SELECT -7, 0.5, '\'''\'', NULL, char(1)") >actual &&
    test_cmp expect actual
'

test_expect_success 'JSON of no rows is an empty array' '
    echo "[]" >expect &&
    (cd proj && flor query --format json "SELECT * FROM runs WHERE run_id < 0") >actual &&
    test_cmp expect actual
'

test_expect_success 'CSV of no rows is the header alone' '
    echo "run_id,status" >expect &&
    (cd proj && flor query "SELECT run_id, status FROM runs WHERE run_id < 0") >actual &&
    test_cmp expect actual
'

test_expect_success 'invalid SQL: exit 1 with SQLite'\''s message' '
    (cd proj && test_exit_code 1 flor query "SELECT * FROM no_such_table") >out 2>err &&
    echo "flor: invalid SQL: no such table: no_such_table" >expect &&
    test_cmp expect err &&
    test ! -s out
'

test_expect_success 'a statement that writes is refused and changes nothing' '
    (cd proj && test_exit_code 1 flor query "DELETE FROM runs") 2>err &&
    grep "^flor: invalid SQL: .*read-only" err &&
    (cd proj && flor query "SELECT count(*) AS n FROM runs") >actual &&
    printf "n\n2\n" >expect &&
    test_cmp expect actual
'

test_expect_success 'two statements at once are refused' '
    (cd proj && test_exit_code 1 flor query "SELECT 1; SELECT 2") 2>err &&
    grep "^flor: invalid SQL: one statement at a time" err
'

test_expect_success 'missing or extra SQL is a usage error' '
    (cd proj && test_exit_code 2 flor query) 2>err &&
    printf "%s\n" "flor: missing the SQL statement" "see '\''flor help query'\''" >expect &&
    test_cmp expect err &&
    (cd proj && test_exit_code 2 flor query SELECT 1) 2>err &&
    grep "^flor: too many arguments" err &&
    grep "^see '\''flor help query'\''$" err
'

test_expect_success 'SQL that starts with a dash goes after --' '
    printf "x\n1\n" >expect &&
    (cd proj && flor query -- "-- a comment
SELECT 1 AS x") >actual &&
    test_cmp expect actual
'

test_expect_success 'outside any project: exit 1' '
    mkdir -p nowhere &&
    (cd nowhere && test_exit_code 1 flor query "SELECT 1") 2>err &&
    grep "^flor: no runs recorded" err
'

test_expect_success 'a trailing comment or semicolon is not a second statement' '
    printf "x\n1\n" >expect &&
    (cd proj && flor query "SELECT 1 AS x; -- the end") >actual &&
    test_cmp expect actual &&
    (cd proj && flor query "SELECT 1 AS x /* one */ ;;") >actual &&
    test_cmp expect actual
'

test_expect_success 'a second statement is refused even after a comment, and nothing runs' '
    (cd proj && test_exit_code 1 flor query "SELECT 1; /* c */ DELETE FROM runs") >out 2>err &&
    grep "^flor: invalid SQL: one statement at a time (extra text: '\''/\* c \*/ DELETE" err &&
    test ! -s out &&
    (cd proj && flor query "SELECT count(*) AS n FROM runs") >actual &&
    printf "n\n2\n" >expect &&
    test_cmp expect actual
'

test_done
