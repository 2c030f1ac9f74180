"""flor.replay(..., slurm=...) on a real one-node Slurm cluster
(tests/slurm/cluster.sh: munged, slurmctld and slurmd on this host): the
runs' segments go as one job array and log, bit for bit, what a local
replay logs; sbatch's refusal is an error that names what it said."""
import sqlite3
import subprocess

import pytest

import flor
from conftest import REPO
from test_replay_api import TOY, add, git

CLUSTER = f"{REPO}/tests/slurm/cluster.sh"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A started cluster, as the environment its client commands need."""
    d = tmp_path_factory.mktemp("slurm")
    r = subprocess.run(["sh", CLUSTER, "start", str(d)], capture_output=True, text=True,
                       timeout=300)
    if r.returncode == 2:  # Slurm or munge is not installed
        pytest.skip(r.stderr.strip())
    assert r.returncode == 0, f"the Slurm test cluster did not start:\n{r.stderr}"
    env = subprocess.run(["sh", CLUSTER, "env", str(d)], capture_output=True, text=True,
                         check=True).stdout
    conf = env.strip().split("=", 1)[1]  # export SLURM_CONF=...
    yield conf
    subprocess.run(["sh", CLUSTER, "stop", str(d)], capture_output=True, timeout=120)


@pytest.fixture
def toy(project, tmp_path_factory, monkeypatch, cluster):
    """Two runs of TOY (epochs=1, epochs=2), the statement added, Slurm's
    commands pointed at the test cluster."""
    s = project.write("toy.py", TOY)
    git(project, "add", "toy.py")
    git(project, "commit", "-q", "-m", "toy")
    project.run(s, "--kwargs", "epochs=1")
    project.run(s, "--kwargs", "epochs=2")
    add(s, 'flor.log("twice", 2.5 * epoch * state["w"])')
    from conftest import PYPATH
    monkeypatch.setenv("TMPDIR", str(tmp_path_factory.mktemp("tmp")))
    monkeypatch.setenv("PYTHONPATH", PYPATH)
    monkeypatch.delenv("FLOR_PYTHON", raising=False)
    monkeypatch.setenv("SLURM_CONF", cluster)
    return s


def replayed(project):
    """Every value the replays logged, with its loop position, exactly."""
    db = sqlite3.connect(project.path / ".flor" / "flor.db")
    rows = db.execute("SELECT l.run_id, c.iteration, l.name, typeof(l.value), "
                      "printf('%!.17g', l.value) FROM logs l JOIN loops c "
                      "ON c.run_id = l.run_id AND c.ctx_id = l.ctx_id "
                      "WHERE l.source = 'replay' ORDER BY 1, 2, 3").fetchall()
    db.close()
    return rows


def forget_replays(project):
    db = sqlite3.connect(project.path / ".flor" / "flor.db")
    db.execute("DELETE FROM logs WHERE source = 'replay'")
    db.commit()
    db.close()


def test_replay_on_slurm_logs_what_a_local_replay_logs(project, toy):
    local = flor.replay(["twice"])
    here = replayed(project)
    assert len(here) == 3 and local["outcome"].tolist() == ["replayed", "replayed"]
    forget_replays(project)
    assert replayed(project) == []
    df = flor.replay(["twice"], slurm=True)
    assert df["outcome"].tolist() == ["replayed", "replayed"]
    assert df["new_values"].tolist() == local["new_values"].tolist()
    assert replayed(project) == here
    assert not (project.path / ".flor" / "slurm").exists()


def test_sbatch_options_it_refuses_are_an_error_that_says_why(project, toy):
    with pytest.raises(RuntimeError, match="sbatch --no-such-option .* failed .*"
                                           "unrecognized option"):
        flor.replay(["twice"], slurm="--no-such-option")
    with pytest.raises(TypeError, match="slurm must be True, sbatch's options"):
        flor.replay(["twice"], slurm=3)
    assert replayed(project) == []
