#!/bin/sh
# What a resume's code check counts as code.  A resume runs the working
# tree's code, so it refuses (unless forced) when the code differs from
# the killed run's: a file git tracks that changed, appeared or is gone,
# or an untracked file named like source code (helper.c, config.py,
# Makefile, ...).  Untracked data is not code: what a training program
# writes into the project -- its own checkpoints, *.bin, logs, plots,
# and rewrites of data files that were there when the run started --
# never blocks a resume.
. "$(dirname "$0")/lib.sh"

SQ="'"
ARGS="--kwargs epochs=2 steps=12 every=3"

# killed DIR: a project DIR with a tracked train.c and an untracked
# data.csv, in which nested is recorded and kills itself at step 7 of
# epoch 1
killed() {
    new_project "$1" && (
        cd "$1" &&
        echo "int main(void) { return 0; }" >train.c && git add train.c &&
        git commit -q -m train && echo "1,2" >data.csv &&
        { NESTED_KILL=1.7 nested $ARGS >/dev/null 2>&1 && return 1 || true; } &&
        test "$(q "SELECT status FROM runs")" = killed
    )
}

# refused DIR FILE: resuming in DIR is refused because of FILE, and the run
# is left as it was
refused() {
    (
        cd "$1" &&
        test_must_fail nested --resume_flor 2>err &&
        grep -q "run 1 was recorded with code version [0-9a-f]* and the working tree differs in $2" err &&
        test "$(q "SELECT status FROM runs")" = killed &&
        test "$(q "SELECT count(*) FROM resumes")" -eq 0
    )
}

test_expect_success 'setup: the truth' '
    new_project truth && (cd truth && nested $ARGS >/dev/null &&
        flor dataframe lr loss eval final | cut -d, -f3-) >truth.frame
'

test_expect_success 'outputs written into the project do not block a resume' '
    killed out && cd out &&
    head -c 4096 /dev/urandom >model.bin && mkdir -p logs runs/1 &&
    echo "step 7" >logs/train.log && echo "png" >runs/1/loss.png &&
    echo "{\"acc\": 1}" >metrics.json && echo "3,4" >data.csv &&
    nested --resume_flor >/dev/null &&
    test "$(q "SELECT status FROM resumes")" = finished &&
    flor dataframe lr loss eval final | cut -d, -f3- >actual && test_cmp ../truth.frame actual
'

test_expect_success 'the resume ran the code it checked: its vid holds the outputs, as data' '
    cd out &&
    vid=$(q "SELECT vid FROM resumes") &&
    git cat-file -e "$vid:model.bin" && git cat-file -e "$vid:train.c"
'

test_expect_success 'a changed tracked file blocks it; --force resumes' '
    killed tracked &&
    echo "/* changed */" >>tracked/train.c &&
    refused tracked train.c &&
    (cd tracked && flor resume --force 1 >/dev/null &&
        test "$(q "SELECT status FROM resumes")" = finished)
'

test_expect_success 'a tracked file that is gone blocks it' '
    killed gone && rm gone/train.c && refused gone train.c
'

test_expect_success 'a new untracked source file blocks it' '
    killed newsrc && echo "int helper(void);" >newsrc/helper.h && refused newsrc helper.h
'

test_expect_success 'so does an untracked build file, and a changed untracked source file' '
    killed mk && echo "all:" >mk/Makefile && refused mk Makefile &&
    new_project pysrc && (cd pysrc && echo "lr = 1" >config.py &&
        { NESTED_KILL=1.7 nested $ARGS >/dev/null 2>&1 && false || true; } &&
        echo "lr = 2" >config.py) &&
    refused pysrc config.py
'

test_expect_success 'data of every kind a trainer writes leaves the resume free' '
    killed names && cd names &&
    for f in ckpt.pt data.npy weights.safetensors out.json notes.txt events.out.tfevents.1 \
             cache/tokens.bin; do
        mkdir -p "$(dirname "$f")" && echo x >"$f" || return 1
    done &&
    flor resume 1 >/dev/null &&
    test "$(q "SELECT status FROM resumes")" = finished
'

test_done
