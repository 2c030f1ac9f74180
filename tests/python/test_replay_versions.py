"""flor.replay across code versions: FlorDB's notebook call.

Two runs of a torch script were recorded from two versions of it (the
second changes the learning-rate schedule); a statement is then added to
the newest code, and flor.replay(["wnorm"]) carries it into each run's own
version, replays it there, and stores the values under the original runs.
The oracle is a retraining of each version, edited by hand, from scratch.
The user's checkout is left as it was."""
import os
import subprocess
import sys
import textwrap

import flor
from conftest import PYPATH, script_env
from test_replay import WNORM, program, values


def retrain(directory, code):
    """A retraining with CODE from the start, in a project of its own."""
    subprocess.run(["git", "init", "-q", str(directory)], check=True)
    (directory / "train.py").write_text(textwrap.dedent(code))
    subprocess.run([sys.executable, "train.py"], cwd=directory,
                   env=script_env(OPENBLAS_NUM_THREADS="1"), check=True, capture_output=True)
    return values(str(directory / ".flor" / "flor.db"), "wnorm")


def git(project, *args):
    return subprocess.run(["git", *args], cwd=project.path, check=True, capture_output=True,
                          text=True).stdout


def test_flor_replay_fills_in_old_runs_from_their_own_code(project, tmp_path_factory,
                                                          monkeypatch):
    def version(n, stmt=""):
        code = program(epoch_stmt=stmt)
        return code if n == 1 else code.replace("gamma=0.7", "gamma=0.5")

    v1, v2 = version(1), version(2)
    assert v1 != v2 and WNORM not in v2
    env = {"FLOR_OVERHEAD": "1", "OPENBLAS_NUM_THREADS": "1"}
    s = project.write("train.py", v1)
    git(project, "add", "train.py")
    git(project, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "v1")
    project.run(s, env=env)
    project.write("train.py", v2)       # not committed: the snapshot keeps it
    project.run(s, env=env)
    assert flor.query("SELECT count(DISTINCT vid) AS n FROM runs")["n"].tolist() == [2]

    project.write("train.py", version(2, WNORM))
    before = (git(project, "rev-parse", "HEAD"), git(project, "status", "--porcelain"),
              s.read_text())
    work = tmp_path_factory.mktemp("tmp")
    monkeypatch.setenv("TMPDIR", str(work))
    monkeypatch.setenv("PYTHONPATH", PYPATH)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    flor.replay(["wnorm"])
    assert os.listdir(work) == []                   # the versions' code is gone
    after = (git(project, "rev-parse", "HEAD"), git(project, "status", "--porcelain"),
             s.read_text())
    assert after == before

    want = {1: retrain(tmp_path_factory.mktemp("v1"), version(1, WNORM)),
            2: retrain(tmp_path_factory.mktemp("v2"), version(2, WNORM))}
    assert want[1] != want[2]                      # the versions really differ
    for run in (1, 2):
        got = flor.query(f"SELECT count(*) AS n FROM logs WHERE name = 'wnorm' AND run_id = {run}"
                         " AND source = 'replay'")["n"].tolist()
        assert got == [4]
    df = flor.dataframe("wnorm").sort_values(["tstamp", "epoch"])
    assert len(df) == 8
    by_run = flor.query("SELECT l.run_id AS run, c.iteration AS epoch, l.value AS v FROM logs l "
                        "JOIN loops c ON c.run_id = l.run_id AND c.ctx_id = l.ctx_id "
                        "WHERE l.name = 'wnorm' ORDER BY l.run_id, c.iteration")
    for run in (1, 2):
        rows = by_run[by_run["run"] == run]
        assert {(("epoch", int(e)),): v for e, v in zip(rows["epoch"], rows["v"])} == want[run]
    r = flor.query("SELECT run_id, status, divergences FROM replays ORDER BY run_id")
    assert r["status"].tolist() == ["finished"] * len(r) and set(r["run_id"]) == {1, 2}
    assert r["divergences"].sum() == 0


HNORM = 'flor.log("hnorm", math.sqrt(sq_norm(net)))'


def with_helper(code):
    """CODE with what the user adds for HNORM: an import and a helper def."""
    code = code.replace("    import flor\n", "    import flor\n    import math\n", 1)
    return code.replace("    random.seed(0)\n", "    random.seed(0)\n\n\n    def sq_norm(m):\n"
                        "        return float(sum((p * p).sum() for p in m[0].parameters()))\n\n\n",
                        1)


def test_flor_replay_carries_the_helper_def_and_import_with_the_statement(
        project, tmp_path_factory, monkeypatch):
    def version(n, stmt=""):
        code = program(epoch_stmt=stmt)
        return code if n == 1 else code.replace("gamma=0.7", "gamma=0.5")

    record_two_versions(project, version)

    edited = with_helper(version(2, HNORM))
    assert "def sq_norm" in edited and "import math" in edited
    project.write("train.py", edited)
    monkeypatch.setenv("TMPDIR", str(tmp_path_factory.mktemp("tmp")))
    monkeypatch.setenv("PYTHONPATH", PYPATH)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    flor.replay(["hnorm"])

    by_run = flor.query("SELECT l.run_id AS run, c.iteration AS epoch, l.value AS v FROM logs l "
                        "JOIN loops c ON c.run_id = l.run_id AND c.ctx_id = l.ctx_id "
                        "WHERE l.name = 'hnorm' ORDER BY l.run_id, c.iteration")
    for run in (1, 2):
        want = retrain_named(tmp_path_factory.mktemp(f"h{run}"),
                             with_helper(version(run, HNORM)), "hnorm")
        rows = by_run[by_run["run"] == run]
        assert len(rows) == 4
        assert {(("epoch", int(e)),): v for e, v in zip(rows["epoch"], rows["v"])} == want


def record_two_versions(project, version):
    """Records a run of VERSION(1), committed, then one of VERSION(2), left
    uncommitted (the run's snapshot keeps it)."""
    env = {"FLOR_OVERHEAD": "1", "OPENBLAS_NUM_THREADS": "1"}
    s = project.write("train.py", version(1))
    git(project, "add", "train.py")
    git(project, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "v1")
    project.run(s, env=env)
    project.write("train.py", version(2))
    project.run(s, env=env)


def retrain_named(directory, code, name):
    """retrain(), for the values of NAME."""
    subprocess.run(["git", "init", "-q", str(directory)], check=True)
    (directory / "train.py").write_text(textwrap.dedent(code))
    subprocess.run([sys.executable, "train.py"], cwd=directory,
                   env=script_env(OPENBLAS_NUM_THREADS="1"), check=True, capture_output=True)
    return values(str(directory / ".flor" / "flor.db"), name)
