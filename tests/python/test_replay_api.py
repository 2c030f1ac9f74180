"""flor.replay as FlorDB's users call it: where_clause=, the interpreter that
is running, a DataFrame of what it did per run, partial success, and the
--probe hint when a value computed in a skipped loop is missing.

The script is plain Python: an `epoch` loop (checkpointed, the state a
dict) around a `step` loop that a replay skips unless it is probed."""
import os
import sqlite3
import subprocess
import sys

import pytest

import flor
from conftest import PYPATH, script_env

TOY = """
    import flor
    n = flor.arg("epochs", 2)
    state = {"w": 1.0}
    with flor.checkpointing(state=state):
        for epoch in flor.loop("epoch", range(n)):
            for step in flor.loop("step", range(3)):
                acc = state["w"] * (step + 1)
                state["w"] += 0.5
                flor.log("loss", acc)
            flor.log("e", epoch)
            #NEW
"""
HINT = ("NameError: name 'acc' is not defined: it is computed in loop 'step', which replay "
        "skips; replay with --probe step")


def git(project, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=project.path,
                   check=True, capture_output=True)


@pytest.fixture
def toy(project, tmp_path_factory, monkeypatch):
    """Two runs of TOY (epochs=1, epochs=2), then a statement added."""
    s = project.write("toy.py", TOY)
    git(project, "add", "toy.py")
    git(project, "commit", "-q", "-m", "toy")
    project.run(s, "--kwargs", "epochs=1")
    project.run(s, "--kwargs", "epochs=2")
    monkeypatch.setenv("TMPDIR", str(tmp_path_factory.mktemp("tmp")))
    monkeypatch.setenv("PYTHONPATH", PYPATH)
    monkeypatch.delenv("FLOR_PYTHON", raising=False)
    return s


def add(script, statement):
    script.write_text(script.read_text().replace("#NEW", statement))


def logged(project, name):
    db = sqlite3.connect(project.path / ".flor" / "flor.db")
    rows = db.execute("SELECT run_id, count(*) FROM logs WHERE name = ? AND source = 'replay' "
                      "GROUP BY run_id ORDER BY run_id", (name,)).fetchall()
    db.close()
    return dict(rows)


def test_where_clause_is_flordbs_name_for_where(project, toy):
    add(toy, 'flor.log("twice", 2 * epoch)')
    df = flor.replay(["twice"], where_clause="epochs = 1")
    assert df["run"].tolist() == [1] and df["outcome"].tolist() == ["replayed"]
    assert logged(project, "twice") == {1: 1}
    with pytest.raises(TypeError, match="where and where_clause are the same condition"):
        flor.replay(["twice"], where="epochs = 2", where_clause="epochs = 2")
    with pytest.raises(TypeError, match="where_clause must be an SQL condition"):
        flor.replay(["twice"], where_clause=2)
    assert logged(project, "twice") == {1: 1}       # the refused calls replayed nothing


def test_replays_run_this_interpreter_not_the_python3_first_on_path(project, toy,
                                                                   tmp_path_factory, monkeypatch):
    shims = tmp_path_factory.mktemp("shims")  # outside the project
    shim = shims / "python3"
    shim.write_text("#!/bin/sh\necho 'the python3 on PATH ran' >&2\nexit 97\n")
    shim.chmod(0o755)
    path = f"{shims}{os.pathsep}{os.environ['PATH']}"
    add(toy, 'flor.log("twice", 2 * epoch)')
    # told otherwise, by python= or $FLOR_PYTHON, the replays run that one
    with pytest.raises(RuntimeError, match="nothing could be replayed: run 1.*exit status 97"):
        flor.replay(["twice"], python=str(shim))
    r = subprocess.run([sys.executable, "-m", "flor", "replay", "twice"], cwd=project.path,
                       env=script_env(FLOR_PYTHON=shim), capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 1 and "the python3 on PATH ran" in r.stderr
    assert logged(project, "twice") == {}
    # python -m flor replay NAME: each run started as `sys.executable toy.py`
    r = subprocess.run([sys.executable, "-m", "flor", "replay", "twice", "--where", "epochs = 1"],
                       cwd=project.path, env=script_env(PATH=path), capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "the python3 on PATH ran" not in r.stderr
    assert logged(project, "twice") == {1: 1}
    # flor.replay likewise, whatever python3 comes first on the notebook's PATH
    monkeypatch.setenv("PATH", path)
    assert flor.replay(["twice"])["outcome"].tolist() == ["nothing to do", "replayed"]
    assert logged(project, "twice") == {1: 1, 2: 2}


def test_the_frame_says_what_was_done_with_each_run(project, toy):
    add(toy, 'flor.log("twice", 2 * epoch)')
    df = flor.replay(["twice"])
    assert list(df.columns) == ["program", "run", "tstamp", "vid", "outcome", "segments",
                                "seconds", "new_values", "divergences", "conflicts", "error"]
    runs = flor.query("SELECT run_id, tstamp, vid FROM runs ORDER BY run_id")
    assert df["run"].tolist() == runs["run_id"].tolist() == [1, 2]
    assert df["tstamp"].tolist() == runs["tstamp"].tolist()
    assert df["vid"].tolist() == [v[:12] for v in runs["vid"]]
    assert df["program"].tolist() == ["toy.py"] * 2
    assert df["outcome"].tolist() == ["replayed"] * 2
    assert df["new_values"].tolist() == [1, 2]     # one per epoch
    assert df["divergences"].tolist() == [0, 0]    # the losses compared equal
    assert (df["segments"] >= 1).all() and (df["seconds"] > 0).all()
    assert df["error"].isna().all() and df["conflicts"].isna().all()
    again = flor.replay(["twice"])                 # every run has it now
    assert again["outcome"].tolist() == ["nothing to do"] * 2
    assert again["segments"].tolist() == [0, 0]


def test_a_partial_success_returns_the_frame_with_a_warning(project, toy):
    # a third run, of a version whose line before the statement differs
    code = toy.read_text()
    project.write("toy.py", code.replace('flor.log("e", epoch)', 'flor.log("e", epoch + 100)'))
    project.run(toy, "--kwargs", "epochs=2")
    # added right after that line: runs 1 and 2 have another line there
    e_line = 'flor.log("e", epoch + 100)'
    code = toy.read_text().replace(e_line, e_line + '\n        flor.log("twice", 2 * epoch)')
    toy.write_text(code)
    with pytest.warns(RuntimeWarning, match=r"replayed 1 of 3 runs.*run 1, version \w+ conflict"):
        df = flor.replay(["twice"])
    assert df["outcome"].tolist() == ["conflict", "conflict", "replayed"]
    assert df["conflicts"][0].startswith("toy.py:") and df["conflicts"][0].endswith(" twice")
    assert df["error"][0] == df["conflicts"][0] and df["new_values"][0] != df["new_values"][0]
    assert df["segments"].tolist()[:2] == [0, 0]
    assert logged(project, "twice") == {3: 2}      # the other version's values landed
    values = flor.dataframe("twice").dropna(subset=["twice"])
    assert values["twice"].tolist() == [0, 2]


def test_nothing_replayed_raises_with_each_runs_reason(project, toy):
    add(toy, 'flor.log("bad", undefined_name)')
    with pytest.raises(RuntimeError) as e:
        flor.replay(["bad"])
    msg = str(e.value)
    assert msg.startswith("flor.replay: nothing could be replayed: run 1, version ")
    assert msg.count("failed: NameError: name 'undefined_name' is not defined") == 2
    assert "--probe" not in msg                     # it is computed nowhere: no hint
    errors = flor.query("SELECT error FROM replays ORDER BY run_id")["error"].tolist()
    assert errors == ["NameError: name 'undefined_name' is not defined"] * 2


def test_a_value_of_a_skipped_loop_names_the_loop_to_probe(project, toy, capfd):
    add(toy, 'flor.log("acc", acc)')
    with pytest.raises(RuntimeError, match="nothing could be replayed") as e:
        flor.replay(["acc"])
    assert str(e.value).count(HINT) == 2
    err = capfd.readouterr().err
    assert f"flor: run 1 failed: {HINT}" in err and f"flor: run 2 failed: {HINT}" in err
    errors = flor.query("SELECT error FROM replays ORDER BY run_id")["error"].tolist()
    assert errors == [HINT, HINT]
    # as the hint says: --probe step, from the command line or from Python
    r = subprocess.run([sys.executable, "-m", "flor", "replay", "acc", "--probe", "step",
                        "--where", "epochs = 1"], cwd=project.path, env=script_env(),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert len(flor.query("SELECT * FROM runs")) == 2  # its --probe is the command's
    df = flor.replay(["acc"], probe="step")
    assert df["outcome"].tolist() == ["nothing to do", "replayed"]
    got = flor.dataframe("acc").dropna(subset=["acc"]).sort_values(["tstamp", "epoch"])
    # w starts at 1 and grows by 0.5 a step; acc = w * 3 at each epoch's last step
    assert got["acc"].tolist() == [6.0, 6.0, 10.5]


def test_a_run_a_replay_left_half_done_is_replayed_again_not_skipped(project, toy):
    # the statement fails at epoch 1, after logging epoch 0's value
    add(toy, 'flor.log("half", 1 / (1 - epoch))')
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        flor.replay(["half"], where_clause="epochs = 2")
    assert logged(project, "half") == {2: 1}          # what it reached is kept
    # fixed: the run has a value of "half", yet is not done: it is replayed
    toy.write_text(toy.read_text().replace("1 / (1 - epoch)", "1 / (2 - epoch)"))
    df = flor.replay(["half"], where_clause="epochs = 2")
    assert df["outcome"].tolist() == ["replayed"]
    got = flor.dataframe("half").dropna(subset=["half"]).sort_values("epoch")
    assert got["half"].tolist() == [0.5, 1.0]        # epoch 0's value replaced, not doubled
    assert logged(project, "half") == {2: 2}
    df = flor.replay(["half"], where_clause="epochs = 2")
    assert df["outcome"].tolist() == ["nothing to do"]


TORCH = """
    import torch
    import flor
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    with flor.checkpointing(model=net, optimizer=opt):
        for epoch in flor.loop("epoch", range(2)):
            for step in flor.loop("step", range(2)):
                opt.zero_grad()
                loss = ((net(x) - y) ** 2).mean()
                loss.backward()
                opt.step()
                flor.log("loss", loss.item())
            #NEW
"""


def test_a_gradient_never_computed_names_the_loop_to_probe(project, tmp_path_factory,
                                                           monkeypatch):
    s = project.write("fit.py", TORCH)
    git(project, "add", "fit.py")
    git(project, "commit", "-q", "-m", "fit")
    project.run(s, env={"OPENBLAS_NUM_THREADS": "1"})
    monkeypatch.setenv("TMPDIR", str(tmp_path_factory.mktemp("tmp")))
    monkeypatch.setenv("PYTHONPATH", PYPATH)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    add(s, 'flor.log("gnorm", net.weight.grad.norm().item())')
    hint = ("AttributeError: 'NoneType' object has no attribute 'norm': net.weight.grad is None: "
            "it is computed in loop 'step', which replay skips; replay with --probe step")
    with pytest.raises(RuntimeError, match="nothing could be replayed"):
        flor.replay(["gnorm"])
    assert set(flor.query("SELECT error FROM replays")["error"]) == {hint}  # each segment
    df = flor.replay(["gnorm"], probe=["step"])
    assert df["outcome"].tolist() == ["replayed"] and df["new_values"].tolist() == [2]
