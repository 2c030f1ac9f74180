"""serve_page.py MODE URL ARTIFACTS -- what a person sees on flor serve's
page, checked in headless Chromium (tests/cli/t0910-serve-page.sh records
the runs and starts the server).  Screenshots are kept in ARTIFACTS.

  page  three runs of tests/progs/curves, the second replayed with a
        hindsight statement and diverging: the table, the curves (DOM and
        pixels), the hindsight and divergence marks, filter, select, sort,
        and a run's page
  live  a run that is still recording appears, and its curve grows
  many  51 runs: the table lists 50 until "list all", the plot has all
"""
import json
import os
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pngread  # noqa: E402
from webdriver_client import Browser  # noqa: E402

# web/app.js's palette: run R's colour is PALETTE[(R - 1) % 9]
PALETTE = [(0x1f, 0x77, 0xb4), (0xff, 0x7f, 0x0e), (0x2c, 0xa0, 0x2c)]
RED = (255, 0, 0)


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok - " + what)


def table_runs(b):
    return b.js("return [...document.querySelectorAll('#runs tbody tr')].map(r => +r.dataset.run);")


def chart(b, key):
    return b.js("return document.getElementById('chart').dataset[arguments[0]];", key)


def pixels(b, path, css="#chart"):
    return pngread.read(b.screenshot(path, css))[2]


def choose_metric(b, name):
    b.js("const s = document.getElementById('metric'); s.value = arguments[0];"
         "document.getElementById('chart').dataset.drawn = '0';"
         "s.dispatchEvent(new Event('change'));", name)
    b.wait("document.getElementById('chart').dataset.drawn === '1' && "
           "document.querySelector('.u-title') && "
           "document.querySelector('.u-title').textContent === %r" % name, what="plot of " + name)


def page(b, url, art):
    b.get(url)
    b.wait("document.getElementById('chart').dataset.drawn === '1'", what="the first plot")
    check(table_runs(b) == [1, 2, 3], "the table has one row per run, oldest first")
    heads = b.js("return [...document.querySelectorAll('#runs th')].map(t => t.textContent);")
    check(all(c in heads for c in ["run", "tstamp", "epochs", "steps", "lr", "status"]),
          "the table has the dataframe's columns and the run's status: %s" % heads)
    check(b.js("return document.querySelector('.u-title').textContent;") == "loss",
          "the page opens on the loss")
    check(chart(b, "runs") == "3" and chart(b, "points") == str(40 + 40 + 20),
          "the loss curves of the three runs hold every logged value")
    # the curves came as float64 arrays (format=f64), asked for before the
    # names, and the plot holds every value exactly as /api/series has it
    asked = b.js("return performance.getEntriesByType('resource').map(e => e.name)"
                 ".filter(n => n.includes('api/series'));")
    check(len(asked) == 1 and "format=f64" in asked[0] and "first=1" in asked[0],
          "the first curves are one request for float64 arrays: %s" % asked)
    with urllib.request.urlopen(url + "api/series?name=loss") as r:
        want = {s["run"]: s["y"] for s in json.loads(r.read())["series"]}
    got = b.js("const u = window.florPlot(); return u.series.slice(1).map((s, i) =>"
               " [s.label, Array.from(u.data[i + 1])]);")
    # a shorter run is padded with nulls to the longest (its values have no gap)
    got = [[label, y[:y.index(None)] if None in y else y] for label, y in got]
    check(sorted(got) == sorted(["run %d" % k, y] for k, y in want.items()),
          "the plot holds the logged values bit for bit")
    px = pixels(b, os.path.join(art, "loss.png"))
    for run in (1, 2, 3):
        n = pngread.count_near(px, PALETTE[run - 1], 30)
        check(n > 100, "run %d's curve is drawn in its colour (%d pixels)" % (run, n))

    # hovering near run 1's 6th value highlights its line and shows that value
    b.js("const u = window.florPlot(), k = u.series.findIndex(s => s.label === 'run 1');"
         "u.setCursor({left: u.valToPos(5, 'x'), top: u.valToPos(u.data[k][5], 'y')});")
    hover = b.wait("document.getElementById('hover').textContent", what="the hover value")
    check(hover == "run 1 at 5: %s" % round(0.25 * 4 / 6, 8) or hover.startswith("run 1 at 5: 0.16666"),
          "hovering shows the nearest run's value: %r" % hover)

    choose_metric(b, "val_loss")
    check(chart(b, "divergences") == "3", "the replay's three divergences are marked")
    px = pixels(b, os.path.join(art, "val_loss.png"))
    check(pngread.count_near(px, RED, 40) > 30, "divergence marks are drawn in red")

    choose_metric(b, "val_acc")
    check(chart(b, "hindsight") == "4" and chart(b, "runs") == "1",
          "the hindsight values of the replayed run are plotted as such")
    dashed = b.js("return window.florPlot().series.filter(s => s.dash).length;")
    check(dashed == 1, "the hindsight curve is dashed")
    pixels(b, os.path.join(art, "val_acc.png"))

    choose_metric(b, "loss")
    b.type("#filter", "lr=0.5")
    b.wait("document.getElementById('chart').dataset.runs === '1'", what="the filtered plot")
    check(table_runs(b) == [2], "filtering by lr=0.5 leaves run 2 in the table")
    px = pixels(b, os.path.join(art, "filtered.png"))
    check(pngread.count_near(px, PALETTE[1], 30) > 100 and
          pngread.count_near(px, PALETTE[0], 30) < 20,
          "only run 2's curve is drawn once filtered")
    b.clear("#filter")
    b.js("document.getElementById('filter').dispatchEvent(new Event('input'));")
    b.wait("document.querySelectorAll('#runs tbody tr').length === 3", what="the unfiltered table")

    b.click("#select-none")
    b.wait("document.getElementById('chart').dataset.runs === '0'", what="no run selected")
    b.click("#runs tr[data-run='3'] input.select")
    b.wait("document.getElementById('chart').dataset.runs === '1'", what="run 3 selected")
    check(chart(b, "points") == "20", "selecting run 3 alone plots its 20 values")
    pixels(b, os.path.join(art, "selected.png"))

    b.click("#runs th[data-col='lr']")
    b.click("#runs th[data-col='lr']")
    check(table_runs(b) == [2, 1, 3] or table_runs(b) == [2, 3, 1],
          "sorting by lr, descending, puts run 2 (lr 0.5) first")

    b.click("#runs tr[data-run='2'] td a")
    b.wait("document.getElementById('run-view').dataset.loaded === '2'", what="run 2's page")
    text = b.js("return document.getElementById('run-view').innerText;")
    check("lr" in text and "0.5" in text, "run 2's page shows its args")
    check(b.js("return document.querySelectorAll('#run-replays tbody tr').length;") == 1,
          "run 2's page lists its replay")
    check(b.js("return document.querySelectorAll('#run-checkpoints tbody tr').length;") > 0,
          "run 2's page lists its checkpoints")
    check(b.js("return document.querySelectorAll('#run-divergences tbody tr').length;") == 3,
          "run 2's page lists the divergences")
    b.wait("document.getElementById('run-diff').textContent.includes('lr: 0.25 -> 0.5')",
           what="the diff against run 1")
    check(True, "run 2's page shows flor diff against run 1")
    b.screenshot(os.path.join(art, "run2.png"))


def live(b, url, art):
    b.get(url)
    b.wait("[...document.querySelectorAll('#runs tbody tr')].some(r => r.textContent.includes('running'))",
           timeout=30, what="the recording run in the table")
    check(True, "a run that is recording appears in the table, as running")
    b.wait("+document.getElementById('chart').dataset.points > 0", timeout=30, what="a first point")
    first = int(chart(b, "points"))
    b.screenshot(os.path.join(art, "live-1.png"))
    grown = b.wait("+document.getElementById('chart').dataset.points > %d && "
                   "document.getElementById('chart').dataset.points" % first, timeout=30,
                   what="the curve to grow")
    check(int(grown) > first, "its curve grows while it trains (%d -> %s points)" % (first, grown))
    b.screenshot(os.path.join(art, "live-2.png"))


def many(b, url, art):
    b.get(url)
    b.wait("document.getElementById('chart').dataset.drawn === '1'", what="the first plot")
    check(len(table_runs(b)) == 50, "of 51 runs the table lists the first 50")
    check(chart(b, "runs") == "51", "the plot has the curves of all 51 runs")
    check("the table lists the first 50" in b.js("return document.getElementById('table-info').textContent;"),
          "the table says it lists the first 50")
    b.click("#show-all")
    check(table_runs(b) == list(range(1, 52)), "'list all' lists the 51 runs")
    check(b.js("return document.getElementById('show-all').hidden;"), "'list all' is gone then")


def main():
    mode, url, art = sys.argv[1:4]
    os.makedirs(art, exist_ok=True)
    b = Browser()
    try:
        {"page": page, "live": live, "many": many}[mode](b, url, art)
    finally:
        b.close()


if __name__ == "__main__":
    main()
