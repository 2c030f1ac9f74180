#!/bin/sh
# Code versions: every run's working tree is committed to flor.shadow and
# its commit is the run's vid; `flor checkout` writes a run's code back,
# `flor diff` compares two runs' args and code.  The user's HEAD, index
# and files are left alone.  Bad input gets exit 1 or 2 as docs/cli.md
# says, and docs/cli.md shows the commands' -h exactly.

. "$(dirname "$0")/lib.sh"

# The fenced block after the line "<!-- MARKER -->" in docs/cli.md.
doc_block() {
    awk -v m="<!-- $1 -->" '
        $0 == m { found = 1; next }
        found && /^```/ { if (inside) exit; inside = 1; next }
        inside { print }' "$REPO_ROOT/docs/cli.md"
}

# What of the user's a run must not touch.
user_state() {
    git rev-parse HEAD && git symbolic-ref HEAD && sha1sum .git/index &&
    git stash list && git --no-optional-locks status --porcelain --untracked-files=all &&
    sha1sum toy.c notes.txt
}

test_expect_success 'setup: toy.c committed, run 1; toy.c edited (not committed), run 2' '
    new_project proj &&
    (cd proj &&
     cp "$REPO_ROOT/tests/progs/toy.c" toy.c &&
     git add toy.c && git commit -q -m "add toy" &&
     echo "first notes" >notes.txt &&
     user_state >../state.before &&
     toy &&
     user_state >../state.after1 &&
     sed "s/0.25 \* (double)step/0.5 * (double)step/" toy.c >toy.new && mv toy.new toy.c &&
     echo "second notes" >notes.txt &&
     toy --kwargs lr=0.25 name=second) &&
    test_cmp state.before state.after1
'

test_expect_success 'each run has its own vid, the tip of flor.shadow is the last' '
    (cd proj && flor runs --format csv) >runs &&
    sed -n "2,\$p" runs | cut -d, -f5 >vids &&
    test $(sort -u vids | wc -l) -eq 2 &&
    ! grep -Ev "^[0-9a-f]{40}$" vids &&
    (cd proj && git rev-parse flor.shadow) >tip &&
    tail -n 1 vids >last &&
    test_cmp last tip
'

test_expect_success 'the snapshot commits name the run; HEAD is their second parent' '
    (cd proj &&
     git log --first-parent --format=%s -n 2 flor.shadow &&
     git log -1 --format=%P flor.shadow | cut -d" " -f2 &&
     git rev-parse HEAD) >actual &&
    sed -n 3p actual >p2 && sed -n 4p actual >head &&
    test_cmp head p2 &&
    sed -n 1,2p actual >subjects &&
    printf "%s\n" "flor run 2: toy --kwargs lr=0.25 name=second" "flor run 1: toy" >expect &&
    test_cmp expect subjects &&
    (cd proj && git log -1 --format=%b flor.shadow) >body &&
    grep "^run: 2$" body && grep "^program: toy$" body && grep "^tstamp: " body
'

test_expect_success 'checkout: run 1 has the committed toy.c and the first notes' '
    (cd proj && flor checkout 1 ../run1) >out 2>err &&
    test ! -s out && test ! -s err &&
    cmp run1/toy.c "$REPO_ROOT/tests/progs/toy.c" &&
    echo "first notes" >expect &&
    test_cmp expect run1/notes.txt &&
    ls -A run1 >files &&
    printf "%s\n" README.md notes.txt toy.c >expect &&
    test_cmp expect files
'

test_expect_success 'checkout: run 2 has the edit that was never committed' '
    (cd proj && flor checkout 2 ../deeper/run2) &&
    grep -F "0.5 * (double)step" deeper/run2/toy.c &&
    cmp deeper/run2/toy.c proj/toy.c
'

test_expect_success 'the user is untouched: HEAD, branch, index, files' '
    (cd proj && echo "second notes" >notes.txt.want && cmp notes.txt notes.txt.want &&
     rm notes.txt.want && git rev-parse HEAD && git symbolic-ref HEAD &&
     git --no-optional-locks status --porcelain) >actual &&
    sed -n 1p state.before >expect && sed -n 1p actual >got && test_cmp expect got &&
    echo refs/heads/main >expect && sed -n 2p actual >got && test_cmp expect got &&
    printf "%s\n" " M toy.c" "?? notes.txt" >expect && sed -n "3,\$p" actual >got &&
    test_cmp expect got
'

test_expect_success 'diff: the args that changed, then the code' '
    (cd proj && flor diff 1 2) >out &&
    head -n 4 out >head &&
    cat >expect <<-\EOT &&
	args of run 1 -> run 2:
	  lr: 0.5 -> 0.25
	  name: "toy" -> "second"
	EOT
    sed -n 1,3p head >got && test_cmp expect got &&
    sed -n 4p head | grep -E "^code of run 1 \([0-9a-f]{12}\) -> run 2 \([0-9a-f]{12}\):$" &&
    grep "^diff --git a/notes.txt b/notes.txt$" out &&
    grep "^-first notes$" out && grep "^+second notes$" out &&
    grep "^diff --git a/toy.c b/toy.c$" out &&
    grep "^-  *flor_log(\"loss\", lr .* + 0\.25 \* (double)step);$" out &&
    grep "^+  *flor_log(\"loss\", lr .* + 0\.5 \* (double)step);$" out
'

test_expect_success 'diff: a run against itself is the same' '
    (cd proj && flor diff 2 2) >out &&
    sed "s/([0-9a-f]*)/(V)/g" out >actual &&
    printf "%s\n" "args of run 2 -> run 2: same" "code of run 2 (V) -> run 2 (V): same" >expect &&
    test_cmp expect actual
'

test_expect_success 'checkout: an unknown run is an error, and DIR is not made' '
    (cd proj && test_exit_code 1 flor checkout 9 ../nine) 2>err &&
    echo "flor: no run 9 in project '\''proj'\''" >expect &&
    test_cmp expect err &&
    test ! -e nine
'

test_expect_success 'checkout: a DIR that is not empty, or not a directory, is an error' '
    mkdir full && echo x >full/x &&
    (cd proj && test_exit_code 1 flor checkout 1 ../full) 2>err &&
    echo "flor: ../full: exists and is not empty" >expect &&
    test_cmp expect err &&
    echo x >afile &&
    (cd proj && test_exit_code 1 flor checkout 1 ../afile) 2>err &&
    echo "flor: ../afile: exists and is not a directory" >expect &&
    test_cmp expect err &&
    mkdir empty && (cd proj && flor checkout 1 ../empty) && test -f empty/toy.c
'

test_expect_success 'a vid that is not in the repository: checkout and diff say so' '
    new_project other &&
    (cd other && FLOR_DIR=../proj/.flor test_exit_code 1 flor checkout 1 ../o1) 2>err &&
    vid=$(sed -n 2p vids) &&
    grep "^flor: run 1: code version [0-9a-f]\{40\} is not in the repository at .*/other$" err &&
    test ! -e o1 &&
    (cd other && FLOR_DIR=../proj/.flor test_exit_code 1 flor diff 1 2) >out 2>err &&
    test ! -s out &&
    grep "^flor: run 1: code version" err
'

test_expect_success 'diff: an unknown run is an error' '
    (cd proj && test_exit_code 1 flor diff 1 7) >out 2>err &&
    test ! -s out &&
    echo "flor: no run 7 in project '\''proj'\''" >expect &&
    test_cmp expect err
'

test_expect_success 'usage errors: exit 2 with a hint' '
    (cd proj &&
     test_exit_code 2 flor checkout 2>err1 &&
     test_exit_code 2 flor checkout 1 2>err2 &&
     test_exit_code 2 flor checkout one dir 2>err3 &&
     test_exit_code 2 flor checkout 1 a b 2>err4 &&
     test_exit_code 2 flor diff 1 2>err5 &&
     test_exit_code 2 flor diff 1 -2 2>err6 &&
     test_exit_code 2 flor diff 0 1 2>err7) &&
    grep "^flor: missing the run and the directory$" proj/err1 &&
    grep "^flor: missing the directory$" proj/err2 &&
    grep "^flor: '\''one'\'' is not a run id (expected a positive integer)$" proj/err3 &&
    grep "^flor: unexpected argument '\''b'\''$" proj/err4 &&
    grep "^flor: missing the second run$" proj/err5 &&
    grep "^flor: unknown option '\''-2'\''$" proj/err6 &&
    grep "^flor: '\''0'\'' is not a run id" proj/err7 &&
    for e in 1 2 3 4; do grep "^see '\''flor help checkout'\''$" proj/err$e || exit 1; done &&
    for e in 5 6 7; do grep "^see '\''flor help diff'\''$" proj/err$e || exit 1; done
'

test_expect_success 'outside git: runs have no code version' '
    mkdir plain && (cd plain && toy && test_exit_code 1 flor checkout 1 ../p1) 2>err &&
    echo "flor: project '\''plain'\'' is not in a git repository: its runs have no code versions" \
        >expect &&
    test_cmp expect err
'

test_expect_success 'checkout and diff: -h, and docs/cli.md shows exactly that' '
    for c in checkout diff; do
        flor $c -h >h.out 2>h.err &&
        test ! -s h.err &&
        flor help $c >expect &&
        test_cmp expect h.out &&
        grep "^usage: flor $c" h.out &&
        doc_block "flor help $c" >actual &&
        test_cmp expect actual || exit 1
    done &&
    flor help >expect && doc_block "flor help" >actual && test_cmp expect actual
'

test_done
