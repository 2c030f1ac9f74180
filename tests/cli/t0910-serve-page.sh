#!/bin/sh
# flor serve's page in a real browser (Debian's headless Chromium, driven
# through chromedriver by tests/tools/serve_page.py): the runs table, the
# curves drawn (DOM and screenshot pixels), hindsight values and
# divergences, filtering, selecting and sorting runs, a run's page; and a
# run that is recording, appearing and growing; and a table of 51 runs.  The screenshots are kept
# in $FLOR_BUILD/artifacts/t0910/.
. "$(dirname "$0")/lib.sh"
. "$TEST_SRC/serve-lib.sh"

ART="$FLOR_BUILD/artifacts/t0910"
PAGE="$REPO_ROOT/tests/tools/serve_page.py"
rm -rf "$ART"

test_expect_success 'setup: three runs of curves, the second replayed with a hindsight statement' '
    new_project proj && cp "$FLOR_BUILD/progs/curves" proj/ &&
    (cd proj && FLOR_OVERHEAD=1 ./curves && ./curves --kwargs lr=0.5 &&
     CURVES_HINDSIGHT=1 CURVES_SHIFT=0.5 ./curves --replay_flor >/dev/null 2>&1 &&
     ./curves --kwargs epochs=2) &&
    serve_start proj
'

test_expect_success 'the page: table, curves, hindsight, divergences, filter, select, sort, run page' '
    python3 "$PAGE" page "$(cat "$TRASH/serve.url")" "$ART" &&
    test -s "$ART/loss.png" && test -s "$ART/run2.png" &&
    serve_stop
'

test_expect_success 'live: a run that is recording appears, and its curve grows' '
    new_project live && cp "$FLOR_BUILD/progs/curves" live/ &&
    (cd live && ./curves --kwargs epochs=1 steps=2) &&
    serve_start live &&
    { (cd live && exec ./curves --kwargs epochs=2 steps=60 sleep_ms=100) & } &&
    echo $! >train.pid &&
    python3 "$PAGE" live "$(cat "$TRASH/serve.url")" "$ART" &&
    wait "$(cat train.pid)" &&
    serve_stop
'

test_expect_success 'many runs: the table lists 50 until asked for all, the plot shows all' '
    new_project many && cp "$FLOR_BUILD/progs/curves" many/ &&
    (cd many && for i in $(seq 51); do ./curves --kwargs epochs=1 steps=2 || exit 1; done) &&
    serve_start many &&
    python3 "$PAGE" many "$(cat "$TRASH/serve.url")" "$ART" &&
    serve_stop
'

test_done
