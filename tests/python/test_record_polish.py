"""Record polish: a process that ends before its first log or loop (an
argparse --help, a usage error) leaves no run; an argparse.Namespace is
recorded as args in one call (flor.args); `python -m flor dataframe` and
`query` print pandas' table."""
import subprocess
import sys

import flor
from conftest import BUILD, PYPATH, script_env

TRAIN = """
    import argparse
    import flor

    parser = argparse.ArgumentParser(description="a training script")
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--tag", default=None)
    parser.add_argument("--layers", type=int, nargs="+", default=[4, 2])
    ns = parser.parse_args()
    args = flor.args(ns)
    assert args is ns
    print("args", repr(args.lr), repr(args.epochs), repr(args.dry_run), repr(args.tag),
          repr(args.layers))
    for epoch in flor.loop("epoch", range(args.epochs)):
        flor.log("loss", args.lr * (epoch + 1))
"""

# flor.arg first, argparse after: the run starts before --help ends it
ARG_FIRST = """
    import argparse
    import flor

    lr = flor.arg("lr", 0.1)
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=2)
    a = parser.parse_args()
    for epoch in flor.loop("epoch", range(a.epochs)):
        flor.log("loss", lr)
"""


def count(project, table):
    return int(project.query(f"SELECT count(*) AS n FROM {table}")["n"][0])


def test_help_leaves_no_run(project):
    s = project.write("train.py", TRAIN)
    r = project.run(s, "--help", "--kwargs", "lr=2")  # --kwargs: the run starts at import
    assert r.stdout.startswith("usage: train.py")
    assert count(project, "runs") == 0 and count(project, "args") == 0


def test_help_after_a_flor_arg_leaves_no_run(project):
    s = project.write("argfirst.py", ARG_FIRST)
    r = project.run(s, "--help")
    assert r.stdout.startswith("usage: argfirst.py")
    assert count(project, "runs") == 0 and count(project, "args") == 0


def test_usage_error_leaves_no_run(project):
    s = project.write("argfirst.py", ARG_FIRST)
    r = project.run(s, "--epochs", "many", "--kwargs", "lr=3", check=False)
    assert r.returncode == 2 and "invalid int value: 'many'" in r.stderr
    assert count(project, "runs") == 0 and count(project, "args") == 0


def test_a_script_that_logs_after_parsing_keeps_its_run(project):
    s = project.write("argfirst.py", ARG_FIRST)
    project.run(s, "--help")
    project.run(s, "--epochs", "3")
    runs = project.query("SELECT status, vid IS NOT NULL AS versioned FROM runs")
    assert runs["status"].tolist() == ["finished"] and runs["versioned"].tolist() == [1]
    assert count(project, "logs") == 3
    assert project.query("SELECT name, value FROM args").values.tolist() == [["lr", 0.1]]


def test_namespace_args_are_typed_and_recorded_in_order(project):
    s = project.write("train.py", TRAIN)
    r = project.run(s, "--epochs", "3")
    assert r.stdout == "args 0.5 3 False None [4, 2]\n"
    rows = project.query("SELECT name, value, typeof(value) AS t, from_kwargs FROM args "
                         "ORDER BY ord").values.tolist()
    assert rows == [["lr", 0.5, "real", 0], ["epochs", 3, "integer", 0],
                    ["dry_run", 0, "integer", 0], ["layers", "[4, 2]", "text", 0]]
    # a None with no override is not recorded, as flor.arg(name, None) does
    assert list(flor.dataframe().columns)[3:7] == ["lr", "epochs", "dry_run", "layers"]


def test_namespace_args_are_overridden_by_kwargs(project):
    s = project.write("train.py", TRAIN)
    r = project.run(s, "--epochs", "3", "--kwargs", "lr=0.25", "dry_run=yes", "tag=b",
                    "epochs=1", "layers=8")
    assert r.stdout == "args 0.25 1 True 'b' '8'\n"
    rows = project.query("SELECT name, value, typeof(value) AS t, from_kwargs FROM args "
                         "ORDER BY ord").values.tolist()
    assert rows == [["lr", 0.25, "real", 1], ["epochs", 1, "integer", 1],
                    ["dry_run", 1, "integer", 1], ["tag", "b", "text", 1],
                    ["layers", "8", "text", 1]]
    assert project.query("SELECT value FROM logs WHERE name = 'loss'")["value"].tolist() == [0.25]


def test_namespace_args_replay_with_the_recorded_values(project):
    s = project.write("train.py", TRAIN)
    project.run(s, "--kwargs", "lr=0.125", "epochs=1")
    r = project.run(s, "--replay_flor")
    assert r.stdout == "args 0.125 1 False None [4, 2]\n"


def test_args_takes_a_dict_and_refuses_other_things(project):
    s = project.write("dictargs.py", """
        import flor
        try:
            flor.args(42)
        except TypeError as e:
            print(e)
        import numpy as np
        cfg = flor.args({"batch": 32, "opt": "sgd", "wd": np.float32(0.5), "k": np.int64(3)})
        print(cfg)
        flor.log("done", 1)
    """)
    r = project.run(s, "--kwargs", "batch=64", "k=4")
    assert r.stdout == ("flor.args: expected an argparse.Namespace or a dict, not int\n"
                        "{'batch': 64, 'opt': 'sgd', 'wd': 0.5, 'k': 4}\n")
    rows = project.query("SELECT name, value, typeof(value) AS t FROM args ORDER BY ord")
    assert rows.values.tolist() == [["batch", 64, "integer"], ["opt", "sgd", "text"],
                                    ["wd", 0.5, "real"], ["k", 4, "integer"]]


def test_an_unread_kwarg_of_a_run_that_logs_is_kept_as_text(project):
    s = project.write("argfirst.py", ARG_FIRST)
    project.run(s, "--kwargs", "hidden=75")
    rows = project.query("SELECT name, value, typeof(value) AS t FROM args ORDER BY ord")
    assert rows.values.tolist() == [["lr", 0.1, "real"], ["hidden", "75", "text"]]


def python_m_flor(project, *args):
    r = subprocess.run([sys.executable, "-m", "flor", *args], cwd=project.path,
                       env=script_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_python_m_flor_dataframe_prints_as_pandas_does(project):
    s = project.write("train.py", TRAIN)
    project.run(s)
    project.run(s, "--kwargs", "lr=0.25", "tag=wide")
    assert python_m_flor(project, "dataframe") == flor.dataframe().to_string() + "\n"
    assert python_m_flor(project, "dataframe", "loss") == \
        flor.dataframe("loss").to_string() + "\n"
    sql = "SELECT run_id, name, value FROM logs ORDER BY run_id, ctx_id"
    assert python_m_flor(project, "query", sql) == flor.query(sql).to_string() + "\n"


def test_python_m_flor_keeps_the_c_formats(project):
    s = project.write("train.py", TRAIN)
    project.run(s)
    for fmt in ("csv", "json", "table"):
        c = subprocess.run([f"{BUILD}/flor", "dataframe", "loss", "--format", fmt],
                           cwd=project.path, env=script_env(), capture_output=True, text=True,
                           check=True).stdout
        assert python_m_flor(project, "dataframe", "loss", "--format", fmt) == c
        assert python_m_flor(project, "--format", fmt, "dataframe", "loss") == c


def test_python_m_flor_errors_are_the_commands(project):
    s = project.write("train.py", TRAIN)
    project.run(s)
    r = subprocess.run([sys.executable, "-m", "flor", "dataframe", "nosuchname"],
                       cwd=project.path, env=script_env(), capture_output=True, text=True)
    c = subprocess.run([f"{BUILD}/flor", "dataframe", "nosuchname"], cwd=project.path,
                       env=script_env(), capture_output=True, text=True)
    assert r.returncode == c.returncode != 0
    assert r.stderr == c.stderr and r.stdout == ""
