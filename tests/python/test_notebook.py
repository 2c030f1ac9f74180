"""Notebooks: executed headless by nbclient in a real ipykernel, each cell
that records something is one run named after the notebook, with the
notebook in its code snapshot; cells that record nothing make no run.
Also the run's name under `python -i`."""
import asyncio
import os
import shutil
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

import flor
from conftest import REPO, script_env

CELLS = [
    "import flor",
    "lr = flor.arg('lr', 0.5)\n"
    "for epoch in flor.loop('epoch', range(2)):\n"
    "    flor.log('loss', lr * (epoch + 1))",
    "x = 41 + 1  # records nothing",
    "flor.log('answer', x)",
    "lr = flor.arg('lr', 0.125)\n"
    "flor.log('loss', lr)",
]


def execute(path, cwd, **env):
    """Runs the notebook at PATH in a new python3 kernel started in CWD
    with the built flor on its path and ENV added to its environment."""
    nb = nbformat.read(str(path), as_version=4)
    client = NotebookClient(nb, kernel_name="python3", timeout=120, allow_errors=True,
                            resources={"metadata": {"path": str(cwd)}})
    # in a loop of its own, closed after (client.execute leaves one open)
    asyncio.run(client.async_execute(env=script_env(PYDEVD_DISABLE_FILE_VALIDATION=1, **env)))
    return nb


def write_notebook(path, cells):
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells]), str(path))


def rows(sql):
    return flor.query(sql).to_dict("records")


def runs():
    return rows("SELECT run_id, filename, status, vid, argv FROM runs ORDER BY run_id")


def snapshot_files(vid, cwd):
    out = subprocess.run(["git", "ls-tree", "-r", "--name-only", vid], cwd=cwd,
                         capture_output=True, text=True, check=True).stdout
    return out.split()


def test_each_logging_cell_is_a_run_named_after_the_notebook(project):
    path = project.path / "study.ipynb"
    write_notebook(path, CELLS)
    # what a Jupyter server tells the kernel it starts for a notebook
    execute(path, project.path, JPY_SESSION_NAME=str(path))
    rs = runs()
    assert len(rs) == 3, rs
    assert [r["filename"] for r in rs] == ["study.ipynb"] * 3
    assert [r["status"] for r in rs] == ["finished"] * 3
    assert len({r["vid"] for r in rs}) == 3
    for r in rs:
        assert "study.ipynb" in snapshot_files(r["vid"], project.path)
    ids = [r["run_id"] for r in rs]
    logs = rows("SELECT run_id, name, value FROM logs ORDER BY run_id, rowid")
    assert [(l["run_id"], l["name"], l["value"]) for l in logs] == [
        (ids[0], "loss", 0.5), (ids[0], "loss", 1.0),
        (ids[1], "answer", 42),
        (ids[2], "loss", 0.125)]
    args = rows("SELECT run_id, value FROM args WHERE name = 'lr' ORDER BY run_id")
    assert [(a["run_id"], a["value"]) for a in args] == [(ids[0], 0.5), (ids[2], 0.125)]
    # each run's loop contexts are its own
    loops = rows("SELECT run_id, count(*) AS n FROM loops GROUP BY run_id")
    assert [(l["run_id"], l["n"]) for l in loops] == [(ids[0], 2)]


def test_the_snapshot_holds_the_notebook_as_saved(project):
    path = project.path / "study.ipynb"
    write_notebook(path, ["import flor", "flor.log('v', 1)"])
    execute(path, project.path, FLOR_NOTEBOOK="study.ipynb")
    (r,) = runs()
    assert r["filename"] == "study.ipynb"
    saved = subprocess.run(["git", "show", f"{r['vid']}:study.ipynb"], cwd=project.path,
                           capture_output=True, text=True, check=True).stdout
    assert saved == path.read_text()


def test_a_cell_that_raises_is_a_failed_run_and_the_next_cell_records_again(project):
    path = project.path / "broken.ipynb"
    write_notebook(path, ["import flor",
                          "flor.log('before', 1)\nraise ValueError('bad batch')",
                          "flor.log('after', 2)"])
    # no name given: nbclient does not tell the kernel its notebook
    execute(path, project.path)
    rs = runs()
    assert [(r["filename"], r["status"]) for r in rs] == [("ipython", "failed"),
                                                         ("ipython", "finished")]
    exc = rows("SELECT value FROM logs WHERE name = 'flor.exception'")
    assert [e["value"] for e in exc] == ["ValueError: bad batch"]


def test_flor_notebook_names_the_runs_that_start_after_it(project):
    path = project.path / "named.ipynb"
    write_notebook(path, ["import flor", "flor.log('v', 1)",
                          "flor.notebook('named.ipynb')", "flor.log('v', 2)",
                          "flor.notebook('')"])
    nb = execute(path, project.path, FLOR_NOTEBOOK="from-env.ipynb")
    assert [r["filename"] for r in runs()] == ["from-env.ipynb", "named.ipynb"]
    (err,) = [o for o in nb.cells[4].outputs if o.output_type == "error"]
    assert err.ename == "ValueError" and "expected the notebook's path" in err.evalue


def test_the_example_tutorial_notebook(project):
    shutil.copy(os.path.join(REPO, "examples", "tutorial.ipynb"), project.path)
    nb = execute(project.path / "tutorial.ipynb", project.path, FLOR_NOTEBOOK="tutorial.ipynb")
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
    rs = runs()
    assert [(r["filename"], r["status"]) for r in rs] == [("tutorial.ipynb", "finished")] * 2
    df = flor.dataframe("w")
    assert df["lr"].tolist() == [0.5] * 4 + [0.25] * 4
    assert df["w"].tolist() == [0.5, 0.75, 0.875, 0.9375, 0.25, 0.4375, 0.578125, 0.68359375]


def test_python_dash_i_names_the_run_stdin(project):
    r = subprocess.run([sys.executable, "-i"], input="import flor\nflor.log('v', 1)\n",
                       cwd=project.path, env=script_env(), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert [(x["filename"], x["status"]) for x in runs()] == [("<stdin>", "finished")]


def test_an_ipython_terminal_records_each_logging_line_as_a_run_named_ipython(project):
    lines = "import flor\nflor.log('a', 1)\nx = 2\nflor.log('b', x)\n"
    r = subprocess.run([sys.executable, "-m", "IPython", "--no-banner", "--colors=NoColor"],
                       input=lines, cwd=project.path, env=script_env(), capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert [(x["filename"], x["status"]) for x in runs()] == [("ipython", "finished")] * 2
    assert [x["name"] for x in rows("SELECT name FROM logs ORDER BY run_id")] == ["a", "b"]
