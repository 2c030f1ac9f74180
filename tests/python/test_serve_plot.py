"""flor.serve() starts the web page of the project in the background and
stops it; flor.plot() gives the curves as an SVG a notebook shows inline."""
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

import pytest

import flor
from conftest import BUILD, script_env

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def curves(project):
    """Two runs of tests/progs/curves (4 and 2 epochs of 10 steps)."""
    prog = project.path / "curves"
    shutil.copy(os.path.join(BUILD, "progs", "curves"), prog)
    for kwargs in ([], ["--kwargs", "epochs=2"]):
        subprocess.run([str(prog), *kwargs], cwd=project.path, env=script_env(), check=True)
    return project


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def test_serve_answers_until_stopped(curves):
    server = flor.serve()
    try:
        assert server.url.startswith("http://127.0.0.1:")
        runs = get(server.url + "api/runs")
        assert [r[0] for r in runs["rows"]] == [1, 2]
        series = get(server.url + "api/series?name=loss&runs=2")
        assert [len(s["y"]) for s in series["series"]] == [20]
        with urllib.request.urlopen(server.url, timeout=10) as r:
            assert b"<title>flor</title>" in r.read()
        assert "running" in repr(server) and server.url in server._repr_html_()
    finally:
        server.stop()
    assert server.proc.returncode is not None
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(server.url + "api/runs", timeout=5)


def test_serve_refuses_a_network_address_without_a_token(curves):
    with pytest.raises(RuntimeError, match="not a loopback address"):
        flor.serve(bind="0.0.0.0")
    with flor.serve(bind="127.0.0.1", token="abc-1234") as server:
        assert server.url.endswith("?token=abc-1234")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(server.url.split("?")[0] + "api/runs", timeout=10)
        assert e.value.code == 401
        assert get(server.url.split("?")[0] + "api/runs?token=abc-1234")["rows"]


def test_plot_is_an_inline_svg_of_the_logged_values(curves):
    p = flor.plot("loss", "val_loss")
    root = ET.fromstring(p._repr_svg_())
    panels = root.findall(SVG + "g")
    assert [g.get("data-name") for g in panels] == ["loss", "val_loss"]
    loss = panels[0]
    points = {g.get("data-run"): g.get("d").count("L") + 1 for g in loss.findall(SVG + "path")}
    assert points == {"1": 40, "2": 20}
    only = ET.fromstring(flor.plot("loss", runs=[2])._repr_svg_())
    assert {g.get("data-run") for g in only.iter(SVG + "path")} == {"2"}
    where = ET.fromstring(flor.plot("loss", where="run_id = 1")._repr_svg_())
    assert {g.get("data-run") for g in where.iter(SVG + "path")} == {"1"}
    out = curves.path / "loss.svg"
    p.save(out)
    assert out.read_text() == p.data


def test_plot_errors_carry_the_message(curves):
    with pytest.raises(ValueError, match="no run logged 'nothing' inside a loop"):
        flor.plot("nothing")
    with pytest.raises(ValueError, match="expected the name"):
        flor.plot()
