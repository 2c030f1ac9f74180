"""Replay from Python: hindsight logging with --replay_flor.

A small torch program is recorded; then a statement is added to it and
the recorded run is replayed.  The oracle is a retraining: the same
program with the statement from the start, recorded in another project.
Replayed values must equal it bit for bit -- which holds only if the
model, Adam's moments (which a fresh replay process does not have until
it restores them) and the RNG states of torch, numpy and random all come
back exactly.  The program draws random numbers and steps a learning-rate
schedule after its step loop, so that replaying an epoch whose step loop
is skipped must also leave the next epoch the state the record had."""
import sqlite3
import subprocess
import sys
import textwrap

import flor
from conftest import script_env

TRAIN = """
    import os, random
    import numpy as np
    import torch
    import flor

    torch.set_num_threads(int(os.environ.get("TORCH_T", "1")))
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    x = torch.from_numpy(np.random.RandomState(1).randn(512, 16).astype(np.float32))
    y = (x[:, :4].sum(1) > 0).long() + 2 * (x[:, 4] > 0).long()
    net = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Dropout(0.2),
                              torch.nn.Linear(32, 4))
    opt = torch.optim.Adam(net.parameters(), lr=flor.arg("lr", 0.01))
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
    epochs = flor.arg("epochs", 4)
    with flor.checkpointing(model=net, optimizer=opt, sched=sched):
        for epoch in flor.loop("epoch", range(epochs)):
            net.train()
            perm = torch.randperm(512)            # torch's RNG
            noise = 0.01 * np.random.rand()       # numpy's
            order = list(range(8))
            random.shuffle(order)                 # random's
            for step in flor.loop("step", range(8)):
                idx = perm[order[step] * 64:(order[step] + 1) * 64]
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(net(x[idx] + noise), y[idx])
                loss.backward()
                #STEP
                opt.step()
                flor.log("loss", loss.item())
            net.eval()
            sub = torch.randperm(512)[:256]       # drawn after the step loop
            with torch.no_grad():
                flor.log("acc", (net(x[sub]).argmax(1) == y[sub]).float().mean().item())
            #EPOCH
            sched.step()                          # changes the state after the step loop
"""

WNORM = 'flor.log("wnorm", net[0].weight.norm().item())'
GNORM = 'flor.log("gnorm", net[0].weight.grad.norm().item())'
THREADS = ('import ctypes; flor.log("torch_seen", torch.get_num_threads()); '
           'flor.log("blas_seen", ctypes.CDLL("libopenblas.so.0").openblas_get_num_threads())')


def program(epoch_stmt="", step_stmt=""):
    return TRAIN.replace("#EPOCH", epoch_stmt).replace("#STEP", step_stmt)


def values(db, name):
    """{((loop, iteration), ...): value} of NAME in the database at DB."""
    con = sqlite3.connect(db)
    try:
        loops = {(r, c): (p, n, i) for r, c, p, n, i in
                 con.execute("SELECT run_id, ctx_id, parent_ctx_id, name, iteration FROM loops")}
        out = {}
        for run, ctx, v in con.execute("SELECT run_id, ctx_id, value FROM logs WHERE name = ?",
                                       (name,)):
            coords = []
            while ctx is not None:
                ctx, loop, i = loops[(run, ctx)]
                coords.append((loop, i))
            out[tuple(reversed(coords))] = v
        return out
    finally:
        con.close()


def truth(tmp_path, code):
    """A retraining with CODE from the start, in a project of its own: its database."""
    d = tmp_path / "truth"
    d.mkdir()
    subprocess.run(["git", "init", "-q", str(d)], check=True)
    (d / "train.py").write_text(textwrap.dedent(code))
    subprocess.run([sys.executable, "train.py"], cwd=d, env=script_env(OPENBLAS_NUM_THREADS="1"),
                   check=True, capture_output=True)
    return str(d / ".flor" / "flor.db")


def record(project, **env):
    s = project.write("train.py", program())
    project.run(s, env={"FLOR_OVERHEAD": "1", "OPENBLAS_NUM_THREADS": "1", **env})
    return s


def replay(project, code, *flags, **env):
    s = project.write("train.py", code)
    return project.run(s, "--replay_flor", *flags, env={"OPENBLAS_NUM_THREADS": "1", **env})


def replays():
    return flor.query("SELECT segment, nsegments, status, new_values, compared, divergences, "
                      "restores, first_divergence FROM replays ORDER BY replay_id")


def test_statement_after_the_step_loop_equals_a_retraining(project, tmp_path):
    record(project)
    db = str(project.path / ".flor" / "flor.db")
    recorded = sqlite3.connect(db).execute("SELECT count(*) FROM logs").fetchone()[0]
    code = program(epoch_stmt=WNORM)
    replay(project, code)
    r = replays().to_dict("records")
    assert len(r) == 1 and r[0]["status"] == "finished"
    # the step loop ran in no epoch: its state came from the checkpoints;
    # compared: the accuracies and the two thread settings
    assert r[0]["restores"] == 4 and r[0]["compared"] == 4 + 2 and r[0]["divergences"] == 0
    assert r[0]["new_values"] == 4
    want = values(truth(tmp_path, code), "wnorm")
    assert len(want) == 4 and values(db, "wnorm") == want  # bit for bit
    src = flor.query("SELECT DISTINCT run_id, source FROM logs WHERE name = 'wnorm'")
    assert src.to_dict("records") == [{"run_id": 1, "source": "replay"}]
    assert flor.dataframe("wnorm")["wnorm"].tolist() == [want[(("epoch", e),)] for e in range(4)]
    # what the run recorded is untouched, and a second replay adds no rows
    replay(project, code)
    n = sqlite3.connect(db).execute("SELECT count(*) FROM logs").fetchone()[0]
    assert n == recorded + 4


def test_probed_step_loop_in_two_segments_equals_a_retraining(project, tmp_path):
    record(project)
    code = program(step_stmt=GNORM)
    replay(project, code, "1/2", "--probe", "step")
    replay(project, code, "0/2", "--probe", "step")
    r = replays().to_dict("records")
    # segment 1 starts from epoch 1's checkpoint: model, Adam and RNGs
    # restored in a fresh process, then epochs 2 and 3 train again
    assert [x["segment"] for x in r] == [1, 0] and all(x["nsegments"] == 2 for x in r)
    assert r[0]["restores"] == 1 and r[1]["restores"] == 0
    # every recorded loss and accuracy (and thread setting) is computed
    # again, and agrees
    assert [x["compared"] for x in r] == [2 * 8 + 2 + 2, 2 * 8 + 2 + 2]
    assert [x["divergences"] for x in r] == [0, 0], r
    db = str(project.path / ".flor" / "flor.db")
    want = values(truth(tmp_path, code), "gnorm")
    assert len(want) == 32 and values(db, "gnorm") == want


def test_segments_with_a_missing_checkpoint_equal_a_retraining(project, tmp_path):
    record(project)
    db = str(project.path / ".flor" / "flor.db")
    con = sqlite3.connect(db)
    con.executescript("DELETE FROM checkpoint_objects WHERE ckpt_id IN "
                      "(SELECT ckpt_id FROM checkpoints WHERE iteration = 1);"
                      "DELETE FROM checkpoints WHERE iteration = 1;")
    con.close()
    code = program(epoch_stmt=WNORM)
    replay(project, code, "0/2")  # epoch 0 skipped, epoch 1 (no checkpoint) trains again
    replay(project, code, "1/2")  # starts at epoch 0's checkpoint, catches up epoch 1
    r = replays().to_dict("records")
    assert [x["divergences"] for x in r] == [0, 0], r
    assert [x["new_values"] for x in r] == [2, 2]
    # epoch 1's eight losses and its accuracy are compared in both segments
    # (and the accuracies of the segment's epochs, and the thread settings)
    assert [x["compared"] for x in r] == [2 + 8 + 2, 1 + 8 + 2 + 2]
    want = values(truth(tmp_path, code), "wnorm")
    assert values(db, "wnorm") == want and len(want) == 4


def test_thread_settings_are_recorded_and_applied(project):
    record(project, TORCH_T="2", OPENBLAS_NUM_THREADS="2")
    got = flor.dataframe("flor.torch_threads", "flor.blas_threads")  # not in dataframe()
    assert got["flor.torch_threads"].tolist() == [2] and got["flor.blas_threads"].tolist() == [2]
    # replayed where the defaults differ: flor sets the recorded ones
    replay(project, program(epoch_stmt=THREADS), TORCH_T="1", OPENBLAS_NUM_THREADS="1")
    seen = flor.dataframe("torch_seen", "blas_seen")
    assert set(seen["torch_seen"]) == {2} and set(seen["blas_seen"]) == {2}
    assert replays()["divergences"].tolist() == [0]


def test_thread_settings_that_cannot_be_applied_are_flagged(project):
    record(project)
    con = sqlite3.connect(str(project.path / ".flor" / "flor.db"))
    con.execute("UPDATE logs SET value = 1000 WHERE name = 'flor.blas_threads'")  # > OpenBLAS's max
    con.commit()
    con.close()
    r = replay(project, program(), FLOR_QUIET="0")
    assert "cannot apply the thread settings of run 1" in r.stderr
    div = flor.query("SELECT name, recorded, replayed FROM divergences").to_dict("records")
    assert len(div) == 1 and div[0]["name"] == "flor.blas_threads"
    assert div[0]["recorded"] == "1000" and div[0]["replayed"] != "1000"
    assert replays()["divergences"].tolist() == [1]


def test_replay_flags_leave_the_scripts_own_flags(project):
    s = project.write("cli.py", """
        import argparse, sys
        import flor
        p = argparse.ArgumentParser()
        p.add_argument("--data", default="full")
        a = p.parse_args()
        n = flor.arg("n", 3)
        for i in flor.loop("epoch", range(n)):
            flor.log("x", i)
            #NEW
        print("data", a.data, sys.argv[1:])
    """)
    project.run(s, "--data", "small", "--kwargs", "n=4")
    code = s.read_text().replace("#NEW", 'flor.log("y", 10 * i)')
    s.write_text(code)
    r = project.run(s, "--data", "small", "--replay_flor", "1/2", "--replay_run", "1")
    assert "data small ['--data', 'small']" in r.stdout
    assert flor.dataframe("y")["y"].dropna().tolist() == [20, 30]  # n=4 as recorded


def test_flor_replay_checks_its_arguments_then_calls_the_driver(project):
    s = project.write("toy.py", """
        import flor
        for i in flor.loop("epoch", range(2)):
            flor.log("x", i)
    """)
    for bad, err in ((123, TypeError), ([], ValueError), ([""], ValueError), ([1], TypeError)):
        try:
            flor.replay(bad)
        except err:
            pass
        else:
            raise AssertionError(f"flor.replay({bad!r}) accepted")
    try:
        flor.replay(["y"], where=3)
    except TypeError as e:
        assert "where must be an SQL condition" in str(e)
    else:
        raise AssertionError("a non-str where accepted")
    try:
        flor.replay(["y"])
    except flor.NotFoundError as e:
        assert "no runs" in str(e)
    else:
        raise AssertionError("flor.replay without runs")
    project.run(s)
    # the driver, `flor replay y --where ... -- python toy.py`, refuses the
    # malformed condition; its exit status becomes the exception
    try:
        flor.replay(["y"], where="((( not sql")
    except RuntimeError as e:
        assert "flor replay ... -- " in str(e) and "toy.py" in str(e) and "exited with" in str(e)
    else:
        raise AssertionError("a failed flor replay did not raise")
