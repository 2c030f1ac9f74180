"""flor.replay(vars, replay_every=N): a statement at a period inside a flat
step loop (`if step % 5 == 0`) is replayed by running only the steps it
needs, each from the checkpoint before it, as `flor replay
--replay_every N` does; the values are those of a re-run, bit for bit."""
import os
import subprocess
import sys
import textwrap

import pytest

import flor
from conftest import PYPATH, script_env
from test_replay import values

TRAIN = """
    import flor

    state = {"w": [0.5, -1.0, 2.0], "seed": 7}
    with flor.checkpointing(state=state):
        for step in flor.loop("step", range(20)):
            s = state["seed"] = (state["seed"] * 1103515245 + 12345) % 2**31
            x = (s % 1000) / 1000.0
            err = sum(state["w"]) * x - 1.0
            state["w"] = [w - 0.1 * err * x for w in state["w"]]
            flor.log("loss", err * err)
            #STEP
"""
WSUM = 'if step % 5 == 0: flor.log("wsum", sum(w * w for w in state["w"]))'


def replayed():
    """(restores, compared) of the replays of run 1, summed."""
    r = flor.query("SELECT sum(restores) AS r, sum(compared) AS c FROM replays WHERE run_id = 1")
    return int(r["r"][0]), int(r["c"][0])


def test_replay_every_runs_only_the_needed_steps(project, tmp_path_factory, monkeypatch):
    truth = tmp_path_factory.mktemp("truth")
    subprocess.run(["git", "init", "-q", str(truth)], check=True)
    (truth / "train.py").write_text(textwrap.dedent(TRAIN.replace("#STEP", WSUM)))
    subprocess.run([sys.executable, "train.py"], cwd=truth, env=script_env(), check=True)
    want = values(str(truth / ".flor" / "flor.db"), "wsum")
    assert sorted(k[0][1] for k in want) == [0, 5, 10, 15]

    s = project.write("train.py", TRAIN)
    subprocess.run(["git", "add", "train.py"], cwd=project.path, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m",
                    "v1"], cwd=project.path, check=True)
    project.run(s, env={"FLOR_CHECKPOINT_EVERY": "5"})
    assert flor.query("SELECT count(*) AS n FROM checkpoints")["n"].tolist() == [4]
    project.write("train.py", TRAIN.replace("#STEP", WSUM))
    monkeypatch.setenv("PYTHONPATH", PYPATH)
    monkeypatch.delenv("FLOR_REPLAY_EVERY", raising=False)

    flor.replay(["wsum"], replay_every=5)
    assert values(str(project.path / ".flor" / "flor.db"), "wsum") == want
    # steps 0, 5, 10 and 15 only (their losses compared), from checkpoints
    restores, compared = with_period = replayed()
    assert compared == 4 and restores >= 3
    assert "FLOR_REPLAY_EVERY" not in os.environ  # put back as it was

    def again(whole=True, **kwargs):
        subprocess.run(["sqlite3", f"{project.path}/.flor/flor.db",
                        "DELETE FROM logs WHERE source = 'replay'; DELETE FROM replays"],
                       check=True)
        flor.replay(["wsum"], **kwargs)
        got = values(str(project.path / ".flor" / "flor.db"), "wsum")
        assert got == want if whole else len(got) < len(want)
        return replayed()

    assert again(replay_every="5:0") == with_period  # "N:R", a str
    monkeypatch.setenv("FLOR_REPLAY_EVERY", "5")
    assert again() == with_period                    # as the environment does
    assert again(False, replay_every=20) != with_period  # the argument wins
    assert os.environ["FLOR_REPLAY_EVERY"] == "5"
    monkeypatch.delenv("FLOR_REPLAY_EVERY")
    assert again()[1] == 20                          # without: every step runs


@pytest.mark.parametrize("bad, error", [(0, ValueError), ("5:5", ValueError), ("x", ValueError),
                                        (-3, ValueError), (2.5, TypeError), (True, TypeError)])
def test_a_bad_period_is_refused_before_anything_runs(project, bad, error):
    with pytest.raises(error, match="replay_every"):
        flor.replay(["wsum"], replay_every=bad)
