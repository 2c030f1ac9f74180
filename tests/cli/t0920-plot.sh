#!/bin/sh
# flor plot draws the logged values: the SVG's paths and the PNG's pixels,
# read back through the scales each panel states, are the values flor
# query gives; replayed values are dashed, divergences ringed in red.
. "$(dirname "$0")/lib.sh"

. "$TEST_SRC/serve-lib.sh"
TOOLS="$REPO_ROOT/tests/tools"

test_expect_success 'setup: two runs of curves, the second replayed with a hindsight statement' '
    new_project proj && cp "$FLOR_BUILD/progs/curves" proj/ &&
    (cd proj && FLOR_OVERHEAD=1 ./curves && ./curves --kwargs lr=0.5 epochs=2 &&
     CURVES_HINDSIGHT=1 CURVES_SHIFT=0.5 ./curves --replay_flor >/dev/null 2>&1)
'

# values NAME: "run,position,value" of every value of NAME, as logged
values() {
    (cd proj && flor query "SELECT run_id, row_number() OVER (PARTITION BY run_id ORDER BY ctx_id) - 1,
                            value FROM logs WHERE name = '$1' ORDER BY run_id, ctx_id" --format csv) |
        tail -n +2
}

test_expect_success 'SVG: one panel per name; its paths read back as the logged values' '
    (cd proj && flor plot loss val_loss val_acc -o ../curves.svg) &&
    for n in loss val_loss val_acc; do values $n >expect.$n || return 1; done &&
    python3 - <<-\PY
	import xml.etree.ElementTree as ET
	svg = ET.parse("curves.svg").getroot()
	ns = "{http://www.w3.org/2000/svg}"
	panels = svg.findall(ns + "g")
	assert [p.get("data-name") for p in panels] == ["loss", "val_loss", "val_acc"], panels
	for p in panels:
	    f = {k: float(p.get("data-" + k)) for k in ("x0", "x1", "y0", "y1", "left", "top", "width", "height")}
	    got = {}
	    for path in p.findall(ns + "path"):
	        run = int(path.get("data-run"))
	        words = path.get("d").replace("M", " ").replace("L", " ").split()
	        for i in range(0, len(words), 2):
	            x = f["x0"] + (float(words[i]) - f["left"]) / f["width"] * (f["x1"] - f["x0"])
	            y = f["y0"] + (f["top"] + f["height"] - float(words[i + 1])) / f["height"] * (f["y1"] - f["y0"])
	            got[(run, round(x))] = y
	    want = [l.split(",") for l in open("expect." + p.get("data-name")).read().split()]
	    assert len(got) == len(want), (p.get("data-name"), len(got), len(want))
	    tol = (f["y1"] - f["y0"]) / f["height"] * 0.01
	    for run, pos, v in want:
	        assert abs(got[(int(run), int(pos))] - float(v)) <= tol, (run, pos, v, got[(int(run), int(pos))])
	    print("ok", p.get("data-name"), len(want), "values")
	PY
'

test_expect_success 'SVG: hindsight values dashed, a divergence ringed where it happened' '
    python3 - <<-\PY
	import xml.etree.ElementTree as ET
	ns = "{http://www.w3.org/2000/svg}"
	panels = {p.get("data-name"): p for p in ET.parse("curves.svg").getroot().findall(ns + "g")}
	acc = panels["val_acc"].findall(ns + "path")
	assert [(p.get("class"), p.get("data-run"), p.get("stroke-dasharray")) for p in acc] == \
	    [("series replay", "2", "6 3")], acc
	assert all(p.get("stroke-dasharray") is None for p in panels["loss"].findall(ns + "path"))
	rings = panels["val_loss"].findall(ns + "circle")
	assert [(c.get("class"), c.get("data-run"), c.get("stroke")) for c in rings] == \
	    [("divergence", "2", "red")], rings
	p = panels["val_loss"]
	x = float(p.get("data-left")) + 1 / float(p.get("data-x1")) * float(p.get("data-width"))
	assert abs(float(rings[0].get("cx")) - x) < 0.01, (rings[0].get("cx"), x)
	PY
'

test_expect_success 'PNG: every logged value is a pixel of its run'\''s colour, through the stated scales' '
    (cd proj && flor plot loss --runs 1 -o ../one.png && flor plot val_loss -o ../two.png) &&
    values loss | grep "^1," >expect &&
    python3 - <<-\PY
	import sys
	sys.path.insert(0, "'"$TOOLS"'")
	import pngread
	w, h, px, texts = pngread.read(open("one.png", "rb").read())
	x0, x1, y0, y1, left, top, width, height, name = texts["flor-plot"].split()
	x0, x1, y0, y1 = map(float, (x0, x1, y0, y1))
	left, top, width, height = map(int, (left, top, width, height))
	assert name == "loss", name
	blue = (31, 119, 180)
	n = 0
	for line in open("expect").read().split():
	    run, pos, v = line.split(",")
	    x = left + (int(pos) - x0) / (x1 - x0) * width
	    y = top + height - (float(v) - y0) / (y1 - y0) * height
	    assert px[round(y)][round(x)] == blue, (pos, v, px[round(y)][round(x)])
	    n += 1
	assert n == 40, n
	assert pngread.count_near(px, blue, 0) > width, "the line between the points is drawn"
	w, h, px, texts = pngread.read(open("two.png", "rb").read())
	assert pngread.count_near(px, (255, 0, 0), 0) > 20, "the divergence ring"
	assert pngread.count_near(px, (255, 127, 14), 0) > 50, "run 2 in orange"
	PY
'

test_expect_success 'values a replay stored out of order (its second segment first) are drawn in loop order' '
    new_project seg && cp "$FLOR_BUILD/progs/curves" seg/ &&
    (cd seg && FLOR_OVERHEAD=1 ./curves --kwargs epochs=6 &&
     CURVES_HINDSIGHT=1 ./curves --replay_flor 1/2 && CURVES_HINDSIGHT=1 ./curves --replay_flor 0/2 &&
     q "SELECT ctx_id FROM logs WHERE name = '\''val_acc'\'' ORDER BY rowid" >rowid-order &&
     ! sort -n -c rowid-order 2>/dev/null &&
     flor plot val_acc -o ../seg.svg) &&
    python3 - <<-\PY
	import xml.etree.ElementTree as ET
	ns = "{http://www.w3.org/2000/svg}"
	g = ET.parse("seg.svg").getroot().find(ns + "g")
	f = {k: float(g.get("data-" + k)) for k in ("y0", "y1", "top", "height")}
	words = g.find(ns + "path").get("d").replace("M", " ").replace("L", " ").split()
	ys = [f["y0"] + (f["top"] + f["height"] - float(w)) / f["height"] * (f["y1"] - f["y0"]) for w in words[1::2]]
	want = [1 - 1 / (e + 2) for e in range(6)]
	assert all(abs(a - b) < 1e-3 for a, b in zip(ys, want)) and len(ys) == 6, (ys, want)
	PY
'

test_expect_success '--where picks runs by the columns of runs' '
    (cd proj && flor plot loss --where "run_id = 2" -o ../where.svg) &&
    ! grep -q "data-run=\"1\"" where.svg && grep -q "data-run=\"2\"" where.svg
'

test_expect_success 'errors: no -o, another extension, a name never logged, a bad --where' '
    (cd proj && test_exit_code 2 flor plot loss) 2>err && grep -q "missing -o FILE" err &&
    (cd proj && test_exit_code 2 flor plot loss -o x.pdf) 2>err && grep -q "ending in .svg or .png" err &&
    (cd proj && test_exit_code 2 flor plot -o x.svg) 2>err && grep -q "missing the NAME" err &&
    (cd proj && test_exit_code 1 flor plot nothing -o ../x.svg) 2>err &&
    grep -q "no run logged '\''nothing'\'' inside a loop" err && test ! -e x.svg &&
    (cd proj && test_exit_code 2 flor plot loss --where "1) OR (1" -o ../x.svg) 2>err &&
    grep -q "\-\-where" err &&
    (cd proj && test_exit_code 2 flor plot loss --runs 1,x -o ../x.svg) 2>err &&
    grep -q "expected run ids" err &&
    (cd proj && test_exit_code 1 flor plot loss -o /nonexistent/dir/x.png) 2>err &&
    grep -q "cannot write '\''/nonexistent/dir/x.png'\''" err
'

test_expect_success 'flor plot -h is its usage, as docs/cli.md shows it' '
    flor plot -h >actual && flor help plot >help.out && test_cmp actual help.out &&
    doc_block "flor help plot" >expect && test_cmp expect actual &&
    flor help | grep -q "^  plot "
'

test_done
