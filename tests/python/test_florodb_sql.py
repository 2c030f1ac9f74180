"""FlorDB 3.x's SQL runs unmodified on flor's tables: `logs` with projid,
tstamp, filename, ctx_id, value_name, value, value_type and `loops` with
ctx_id, parent_ctx_id, loop_name, loop_iteration, loop_value.  Each FlorDB
query is checked against the same rows computed from flor's own tables
(main.logs, main.loops, runs), and against what the script itself logged,
so that a wrong mapping fails.  Loop values are recorded and shown by the
dataframe; flor's bookkeeping is out of the default dataframe."""
import subprocess
import sys

import pytest

import flor
from conftest import PYPATH, script_env

TRAIN = """
    import flor
    lr = flor.arg("lr", 0.5)
    for epoch in flor.loop("epoch", range(1, 4)):
        for step in flor.loop("step", range(2)):
            flor.log("loss", lr * 100 + epoch * 10 + step)
        flor.log("acc", epoch / 10 + lr)
    flor.log("name", "final")
"""


def expected_losses():
    """(lr, epoch value, step, loss) as the script logs them."""
    return sorted((lr, e, s, lr * 100 + e * 10 + s)
                  for lr in (0.5, 0.25) for e in range(1, 4) for s in range(2))


@pytest.fixture
def two_runs(project):
    s = project.write("train.py", TRAIN)
    project.run(s)
    project.run(s, "--kwargs", "lr=0.25")
    return project


def rows(df):
    """The rows of DF, sorted, with None for a missing value (NaN != NaN)."""
    df = df.astype(object).where(df.notna(), None)
    return sorted((tuple(r) for r in df.itertuples(index=False)), key=repr)


def test_the_logs_columns_of_flordb_are_flors_logs_with_their_run(two_runs):
    got = flor.query("SELECT projid, tstamp, filename, value_name, value FROM logs")
    want = flor.query("SELECT r.projid, r.tstamp, r.filename, l.name, l.value"
                      " FROM main.logs l JOIN runs r ON r.run_id = l.run_id")
    assert len(got) == 2 * (6 + 3 + 1) and rows(got) == rows(want)
    assert set(got["filename"]) == {"train.py"} and got["tstamp"].nunique() == 2


def test_value_type_names_the_type_of_the_value(two_runs):
    got = flor.query("SELECT DISTINCT value_name, value_type FROM logs ORDER BY value_name")
    assert dict(zip(got["value_name"], got["value_type"])) == {"acc": 2, "loss": 2, "name": 3}


def test_a_pivot_by_value_name_gives_the_rows_of_flors_tables(two_runs):
    flordb = flor.query("""
        SELECT projid, tstamp, filename, ctx_id,
               MAX(CASE WHEN value_name = 'loss' THEN value END) AS loss,
               MAX(CASE WHEN value_name = 'acc' THEN value END) AS acc
        FROM logs WHERE value_name IN ('loss', 'acc')
        GROUP BY projid, tstamp, filename, ctx_id""")
    own = flor.query("""
        SELECT r.projid, r.tstamp, r.filename, l.run_id, l.ctx_id,
               MAX(CASE WHEN l.name = 'loss' THEN l.value END) AS loss,
               MAX(CASE WHEN l.name = 'acc' THEN l.value END) AS acc
        FROM main.logs l JOIN runs r ON r.run_id = l.run_id WHERE l.name IN ('loss', 'acc')
        GROUP BY l.run_id, l.ctx_id""")
    assert len(flordb) == len(own) == 2 * (6 + 3)  # one group per context of each run
    drop_ids = lambda df: rows(df.drop(columns=[c for c in ("ctx_id", "run_id") if c in df]))
    assert drop_ids(flordb) == drop_ids(own)


def test_logs_join_loops_on_ctx_id_alone_as_flordb_does(two_runs):
    flordb = flor.query("""
        SELECT logs.tstamp, loops.loop_name, loops.loop_iteration, loops.loop_value, logs.value
        FROM logs JOIN loops ON logs.ctx_id = loops.ctx_id
        WHERE logs.value_name = 'loss'""")
    own = flor.query("""
        SELECT r.tstamp, lp.name, lp.iteration + 1, lp.value, l.value
        FROM main.logs l JOIN main.loops lp ON lp.run_id = l.run_id AND lp.ctx_id = l.ctx_id
        JOIN runs r ON r.run_id = l.run_id WHERE l.name = 'loss'""")
    # each log once: the context ids are unique in the project, not per run
    assert len(flordb) == 12 and rows(flordb) == rows(own)
    assert sorted(set(flordb["loop_iteration"])) == [1, 2]  # FlorDB counts from 1


def test_the_parent_join_gives_each_loss_its_epoch_value_and_step(two_runs):
    got = flor.query("""
        SELECT a.value AS lr, e.loop_value AS epoch, s.loop_iteration - 1 AS step,
               logs.value AS loss
        FROM logs
        JOIN loops s ON logs.ctx_id = s.ctx_id AND s.loop_name = 'step'
        JOIN loops e ON s.parent_ctx_id = e.ctx_id AND e.loop_name = 'epoch'
        JOIN args a ON a.run_id = logs.run_id AND a.name = 'lr'
        WHERE logs.value_name = 'loss'""")
    assert sorted(got.itertuples(index=False, name=None)) == expected_losses()


def test_flors_own_joins_on_run_and_context_still_hold(two_runs):
    """docs/schema.md's example: accuracy per epoch."""
    got = flor.query("""
        SELECT l.run_id, lp.iteration AS epoch, l.value AS acc
        FROM logs l JOIN loops lp ON lp.run_id = l.run_id AND lp.ctx_id = l.ctx_id
        WHERE l.name = 'acc' AND lp.name = 'epoch' ORDER BY l.run_id, epoch""")
    assert got["epoch"].tolist() == [0, 1, 2] * 2
    assert got["acc"].tolist() == pytest.approx([0.6, 0.7, 0.8, 0.35, 0.45, 0.55])


def test_the_command_runs_flordb_sql_too(two_runs):
    r = subprocess.run([sys.executable, "-m", "flor", "query", "--format", "csv",
                        "SELECT count(*) AS n FROM logs JOIN loops ON logs.ctx_id = loops.ctx_id"
                        " WHERE loop_name = 'epoch'"],
                       cwd=two_runs.path, env=script_env(PYTHONPATH=PYPATH),
                       capture_output=True, text=True, check=True)
    assert r.stdout.split() == ["n", "6"]  # acc: 3 epochs x 2 runs


def test_the_dataframe_shows_the_epochs_as_the_script_counts_them(two_runs):
    df = flor.dataframe("loss", "acc")
    got = sorted((r.lr, r.epoch, r.step, r.loss) for r in df.itertuples() if r.loss == r.loss)
    assert got == expected_losses()
    assert sorted(set(df["epoch"])) == [1, 2, 3]


def test_flor_iteration_records_its_value(project):
    s = project.write("phases.py", """
        import flor
        for i, phase in enumerate(["warmup", "main"]):
            with flor.iteration("phase", i, phase):
                flor.log("seen", i)
        for x in flor.loop("x", [1.5, 2.5]):
            flor.log("y", x)
    """)
    project.run(s)
    got = flor.query("SELECT loop_name, loop_iteration, loop_value, typeof(loop_value) AS t"
                     " FROM loops ORDER BY ctx_id")
    assert got.values.tolist() == [["phase", 1, "warmup", "text"], ["phase", 2, "main", "text"],
                                   ["x", 1, 1.5, "real"], ["x", 2, 2.5, "real"]]


def test_flors_thread_settings_stay_out_of_the_default_dataframe(project):
    s = project.write("threads.py", """
        import torch
        import flor
        for epoch in flor.loop("epoch", range(2)):
            flor.log("loss", 1.0)
        flor.log("acc", 0.5)
    """)
    project.run(s)
    df = flor.dataframe()
    assert list(df.columns) == ["projid", "tstamp", "filename", "acc"]
    logged = set(flor.query("SELECT name FROM logs WHERE ctx_id IS NULL")["name"])
    assert {"flor.torch_threads", "flor.blas_threads"} <= logged  # still recorded
    assert flor.dataframe("flor.torch_threads")["flor.torch_threads"].notna().all()
