"""Recording from Python: args, logs and their types, loop contexts, the
pivoted dataframe, the command line, and FLOR_MODE=off."""
import os
import subprocess
import sys

import numpy as np

import flor
from conftest import BUILD, PYPATH, script_env

TOY = """
    import flor
    epochs = flor.arg("epochs", 2)
    lr = flor.arg("lr", 0.5)
    name = flor.arg("name", "toy")
    flag = flor.arg("flag", False)
    for epoch in flor.loop("epoch", range(epochs)):
        for step in flor.loop("step", range(3)):
            flor.log("loss", lr * (epochs - epoch) + 0.25 * step)
        flor.log("acc", 0.25 * (epoch + 1))
    flor.log("final", epochs * 3)
    flor.log("note", f"{name}:{flag}")
"""


def test_two_runs_dataframe(project):
    s = project.write("toy.py", TOY)
    project.run(s)
    project.run(s, "--kwargs", "epochs=3", "lr=0.25", "name=b", "flag=yes")
    df = flor.dataframe()
    assert list(df.columns) == ["projid", "tstamp", "filename", "epochs", "lr", "name", "flag",
                                "final", "note"]
    assert len(df) == 2
    assert df["projid"].tolist() == [project.path.name] * 2
    assert df["filename"].tolist() == ["toy.py", "toy.py"]
    assert df["epochs"].tolist() == [2, 3] and df["epochs"].dtype == np.int64
    assert df["lr"].tolist() == [0.5, 0.25] and df["lr"].dtype == np.float64
    assert df["name"].tolist() == ["toy", "b"] and df["name"].dtype == object
    assert df["flag"].tolist() == [0, 1] and df["flag"].dtype == np.int64
    assert df["final"].tolist() == [6, 9] and df["final"].dtype == np.int64
    assert df["note"].tolist() == ["toy:False", "b:True"]
    assert df["tstamp"].is_unique


def test_dataframe_by_name(project):
    s = project.write("toy.py", TOY)
    project.run(s, "--kwargs", "epochs=2")
    df = flor.dataframe("loss", "acc")
    assert list(df.columns) == ["projid", "tstamp", "filename", "epochs", "lr", "name", "flag",
                                "epoch", "step", "loss", "acc"]
    loss = df.dropna(subset=["loss"])
    assert len(loss) == 6
    assert loss["loss"].tolist() == [1.0, 1.25, 1.5, 0.5, 0.75, 1.0]
    acc = df.dropna(subset=["acc"]).drop_duplicates(["epoch"])
    assert acc["acc"].tolist() == [0.25, 0.5]
    assert df["epoch"].dtype == np.int64 and df["loss"].dtype == np.float64


def test_query_and_runs(project):
    s = project.write("toy.py", TOY)
    project.run(s)
    q = flor.query("SELECT name, typeof(value) AS t FROM logs WHERE ctx_id IS NULL ORDER BY name")
    assert q.to_dict("records") == [{"name": "final", "t": "integer"},
                                    {"name": "note", "t": "text"}]
    runs = flor.query("SELECT status, argv FROM runs")
    assert runs["status"].tolist() == ["finished"]
    try:
        flor.query("SELEC nonsense")
    except ValueError as e:
        assert "syntax error" in str(e)
    else:
        raise AssertionError("bad SQL accepted")


def test_own_argparse_with_kwargs(project):
    s = project.write("cli.py", """
        import argparse, sys
        import flor
        assert "--kwargs" not in sys.argv, sys.argv
        p = argparse.ArgumentParser()
        p.add_argument("--batch", type=int, default=8)
        p.add_argument("--verbose", action="store_true")
        p.add_argument("files", nargs="*")
        a = p.parse_args()
        hidden = flor.arg("hidden", 500)
        print(a.batch, a.verbose, a.files, hidden, sys.argv[1:])
        flor.log("batch", a.batch)  # a run that logs nothing leaves no run
    """)
    r = project.run(s, "--batch", "16", "--kwargs", "hidden=75", "lr=0.1", "--verbose", "x.txt")
    assert r.stdout.split("\n")[0] == "16 True ['x.txt'] 75 ['--batch', '16', '--verbose', 'x.txt']"
    runs = flor.query("SELECT argv FROM runs")
    assert '"--kwargs","hidden=75","lr=0.1"' in runs["argv"][0]
    args = flor.query("SELECT name, value, from_kwargs FROM args ORDER BY ord")
    assert args.to_dict("records") == [{"name": "hidden", "value": 75, "from_kwargs": 1},
                                       {"name": "lr", "value": "0.1", "from_kwargs": 1}]


def test_log_types_and_log_before_any_loop(project):
    s = project.write("log_types.py", """
        import numpy as np
        import flor
        assert flor.log("first", 1) == 1          # before any loop: starts the run
        flor.log("big", 2**70)
        flor.log("np_f32", np.float32(0.5))
        flor.log("np_i64", np.int64(7))
        flor.log("np_0d", np.array(2.5))
        flor.log("lst", [1, 2, {"a": None}])
        flor.log("none", None)
        flor.log("obj", object)
        flor.log("flag", True)
        for i in flor.loop("epoch", range(2)):
            flor.log("inside", i)
    """)
    project.run(s)
    q = flor.query("SELECT name, value, typeof(value) AS t, ctx_id FROM logs ORDER BY rowid")
    rows = {r["name"]: (r["value"], r["t"]) for r in q.to_dict("records")}
    assert rows["first"] == (1, "integer")
    assert rows["big"] == (str(2**70), "text")
    assert rows["np_f32"] == (0.5, "real")
    assert rows["np_i64"] == (7, "integer")
    assert rows["np_0d"] == (2.5, "real")
    assert rows["lst"] == ('[1, 2, {"a": null}]', "text")
    assert rows["none"][1] == "null"
    assert rows["obj"] == ("<class 'object'>", "text")
    assert rows["flag"] == (1, "integer")
    outside = q[q["name"] != "inside"]
    assert outside["ctx_id"].isna().all()
    assert q[q["name"] == "inside"]["ctx_id"].notna().all()


def test_break_closes_the_loop_and_iteration(project):
    s = project.write("brk.py", """
        import flor
        def gen():
            yield from range(100)
        for i in flor.loop("epoch", gen()):
            if i == 3:
                break
            flor.log("x", i)
        flor.log("after", 1)
        for j in flor.loop("outer", range(2)):
            with flor.iteration("inner", 5, None):
                flor.log("y", j)
        with flor.iteration("epoch", 7, "value"):
            flor.log("z", 1)
        flor.log("end", 1)
    """)
    project.run(s)
    df = flor.dataframe("x")
    assert df["epoch"].tolist() == [0, 1, 2] and df["x"].tolist() == [0, 1, 2]
    y = flor.dataframe("y")
    assert y[["outer", "inner", "y"]].values.tolist() == [[0, 5, 0], [1, 5, 1]]
    z = flor.dataframe("z")
    assert z[["epoch", "z"]].values.tolist() == [[7, 1]]
    final = flor.dataframe()
    assert final["after"].tolist() == [1] and final["end"].tolist() == [1]


def test_flor_mode_off(project):
    s = project.write("off.py", """
        import sys
        import flor
        print(flor.arg("epochs", 2), sys.argv[1:])
        for i in flor.loop("epoch", range(2)):
            flor.log("x", i)
    """)
    r = project.run(s, "--kwargs", "epochs=5", "--other", env={"FLOR_MODE": "off"})
    assert r.stdout.strip() == "5 ['--other']"
    assert not (project.path / ".flor" / "flor.db").exists()


def test_malformed_kwargs(project):
    s = project.write("bad.py", """
        import flor
        print(flor.arg("epochs", 2))
    """)
    r = project.run(s, "--kwargs", "epochs=abc", check=False)
    assert r.returncode == 2  # as argparse: see test_trust.py
    assert "flor: --kwargs epochs=abc: expected an integer" in r.stderr.splitlines()
    r = project.run(s, "--kwargs", check=False)  # a malformed flag: a usage error (test_mtk.py)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.splitlines() == ["flor: --kwargs: expected NAME=VALUE after it"]
    runs = flor.query("SELECT status FROM runs ORDER BY run_id")
    assert runs["status"].tolist() == ["failed"]  # the first started, then died


def test_no_run_without_training_calls(project):
    s = project.write("reader.py", """
        import flor
        print(len(flor.dataframe()))
    """)
    toy = project.write("toy.py", TOY)
    project.run(toy)
    r = project.run(s)
    assert r.stdout.strip() == "1"
    assert len(flor.query("SELECT * FROM runs")) == 1


def test_forked_child_records_nothing(project):
    s = project.write("fork.py", """
        import os, sys
        import flor
        flor.log("parent", 1)
        pid = os.fork()
        if pid == 0:
            for i in flor.loop("child_loop", range(3)):   # counts, touches no libflor
                flor.log("child", i)
            sys.exit(0)         # the child's exit hooks must leave the run alone
        os.waitpid(pid, 0)
        flor.log("parent_after", 1)
    """)
    project.run(s)
    q = flor.query("SELECT name FROM logs ORDER BY rowid")
    assert q["name"].tolist() == ["parent", "parent_after"]
    assert flor.query("SELECT status FROM runs")["status"].tolist() == ["finished"]


def test_without_pandas(project):
    toy = project.write("toy.py", TOY)
    project.run(toy)
    s = project.write("nopd.py", """
        import sys
        sys.modules["pandas"] = None      # import pandas fails
        import flor
        rows = flor.dataframe()
        print(type(rows).__name__, rows[0]["epochs"], rows[0]["note"])
    """)
    r = project.run(s)
    assert r.stdout.strip() == "list 2 toy:False"


def test_python_m_flor_is_the_flor_command(project):
    toy = project.write("toy.py", TOY)
    project.run(toy)
    env = script_env()
    for args in (["dataframe", "--format", "csv"], ["dataframe", "loss", "--format", "json"],
                 ["--version"], ["runs", "--format", "csv"],
                 ["query", "--format", "csv", "SELECT count(*) AS n FROM runs"]):
        ours = subprocess.run([sys.executable, "-m", "flor", *args], env=env, capture_output=True,
                              text=True)
        theirs = subprocess.run([os.path.join(BUILD, "flor"), *args], env=env,
                                capture_output=True, text=True)
        assert ours.returncode == theirs.returncode == 0, ours.stderr
        if args[0] == "runs":  # the durations differ by when each ran
            assert ours.stdout.split("\n")[0] == theirs.stdout.split("\n")[0]
        else:
            assert ours.stdout == theirs.stdout
    bad = subprocess.run([sys.executable, "-m", "flor", "nosuch"], env=env, capture_output=True,
                         text=True)
    assert bad.returncode == 2 and "'nosuch' is not a flor command" in bad.stderr
    assert len(flor.query("SELECT * FROM runs")) == 1  # python -m flor recorded nothing


def test_errors_map_to_exceptions(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        flor.dataframe()
    except flor.NotFoundError as e:
        assert isinstance(e, FileNotFoundError) and isinstance(e, LookupError)
    else:
        raise AssertionError("no error outside a project")
    try:
        flor.replay("x")
    except flor.NotFoundError as e:
        assert "no runs recorded" in str(e)
    else:
        raise AssertionError("flor.replay outside a project")
    try:
        flor.log(3, 4)
    except TypeError as e:
        assert "name must be a str" in str(e)
    else:
        raise AssertionError("a non-str name accepted")
    assert flor.__file__.startswith(PYPATH)


def test_progress_line_on_a_terminal(project):
    s = project.write("bar.py", """
        import time
        import flor
        for epoch in flor.loop("epoch", range(2)):
            for step in flor.loop("step", range(6)):
                time.sleep(0.03)
    """)
    master, slave = os.openpty()
    env = script_env()
    env.pop("FLOR_PROGRESS")
    p = subprocess.Popen([sys.executable, str(s)], cwd=project.path, env=env, stderr=slave)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert p.wait() == 0
    text = out.decode()
    assert "epoch 1/2  step " in text and "/6 [" in text and "it/s" in text
    assert text.endswith("\r\033[K")  # erased at the end
