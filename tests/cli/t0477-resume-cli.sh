#!/bin/sh
# `flor resume` as a command like the others (its -h and docs/cli.md: in
# t0120 with every command's): without RUN it lists the
# continuations in each --format (json: an array of objects); bad
# options and formats are usage errors (exit 2), an unknown run exit 1.
. "$(dirname "$0")/lib.sh"

test_expect_success 'setup: a nested run killed and resumed' '
    new_project p && cd p &&
    { NESTED_KILL=1.12 nested >/dev/null 2>&1 && false || true; } &&
    flor resume 1 >/dev/null
'

test_expect_success 'the list in json: one object per continuation, the columns as keys' '
    cd p && flor resume --format json >out.json &&
    /usr/bin/python3 -c "
import json, sys
rows = json.load(open(\"out.json\"))
assert len(rows) == 1, rows
r = rows[0]
assert list(r)[:4] == [\"resume\", \"run\", \"loop\", \"from_iteration\"], list(r)
assert (r[\"run\"], r[\"loop\"], r[\"prev_status\"], r[\"status\"]) == (1, \"step\", \"killed\", \"finished\"), r
"
'

test_expect_success 'the list in csv and as a table' '
    cd p && flor resume --format csv >csv &&
    head -n 1 csv | cut -d, -f1-4 >actual && echo "resume,run,loop,from_iteration" >expect &&
    test_cmp expect actual && test "$(wc -l <csv)" -eq 2 &&
    flor resume --format table >table && head -n 1 table | grep -q "^ *resume  *run  *loop"
'

test_expect_success 'usage errors exit 2, an unknown run 1' '
    cd p &&
    test_exit_code 2 flor resume --bogus 2>err && grep -q "unknown option" err &&
    test_exit_code 2 flor resume --format xml 2>err && grep -q "unknown format" err &&
    test_exit_code 1 flor resume 99 2>err && grep -q "no run .99." err
'

test_done
