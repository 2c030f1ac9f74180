#!/bin/sh
# demo.sh -- the README's demo, run by `make demo`: record two training
# runs of the C example (examples/linear.c, an MLP on Fashion-MNIST) in a
# scratch git repository, look at them with `flor dataframe`, then add a
# logging statement after the fact and let `flor replay` fill it in for
# both runs from their own code versions.
#
#   FLOR_BUILD=build sh examples/demo.sh
#
# The scratch project is left in place (its path is printed at the end)
# so that you can go on querying it.
set -eu
: "${FLOR_BUILD:?set FLOR_BUILD to the build directory (make demo does)}"
FLOR_BUILD=$(cd "$FLOR_BUILD" && pwd)
examples=$(cd "$(dirname "$0")" && pwd)
linear=$FLOR_BUILD/examples/linear
flor=$FLOR_BUILD/flor
for f in "$linear" "$flor"; do
    if [ ! -x "$f" ]; then
        echo "demo: $f is missing; run make first" >&2
        exit 1
    fi
done

heading() { printf '\n=== %s\n' "$*"; }

scratch=$(mktemp -d "${TMPDIR:-/tmp}/flor-demo.XXXXXX")
work=$scratch/fashion # the project's name (its projid) is its directory's
mkdir "$work"
heading "A scratch project: a git repository holding linear.c, in $work"
cd "$work"
git -c init.defaultBranch=main init -q
if [ -z "$(git config user.email || true)" ]; then
    git config user.name "flor demo"
    git config user.email "demo@flor.invalid"
fi
cp "$examples/linear.c" .
git add linear.c
git commit -q -m "the example"
git log --oneline

heading "Run 1: linear --kwargs epochs=2 ntrain=10000"
"$linear" --kwargs epochs=2 ntrain=10000

heading "Run 2: linear --kwargs epochs=2 ntrain=10000 lr=0.01 hidden=75"
"$linear" --kwargs epochs=2 ntrain=10000 lr=0.01 hidden=75

heading "flor dataframe: one row per run, its args and its final acc"
"$flor" dataframe

heading "flor dataframe acc: the test accuracy after each epoch"
"$flor" dataframe acc

heading "Hindsight: add flor_log(\"weight_norm\", ...) after the step loop"
sed 's|^        double t1 = now();|        { double s2 = 0; for (size_t k = 0; k < st.nparams; k++) s2 += (double)st.params[k] * st.params[k]; flor_log("weight_norm", sqrt(s2)); }\
        double t1 = now();|' "$examples/linear.c" >linear.c
git --no-pager diff --stat

heading "flor replay weight_norm: carried into each run's code version, built, replayed"
build="cc -std=c11 -O3 -fno-math-errno -I$examples/../include linear.c -o linear $FLOR_BUILD/libflor.a $(pkg-config --libs sqlite3 libgit2 libzstd libxxhash libcurl libpq) -lpthread -lm -lz"
"$flor" replay weight_norm --build "$build" -- ./linear

heading "flor dataframe weight_norm: the new column, for the old runs"
"$flor" dataframe weight_norm

heading "Done"
echo "The project is still in $work: try"
echo "    cd $work && $flor dataframe loss acc"
echo "and remove it with: rm -rf $scratch"
