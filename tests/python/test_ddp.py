"""Runs of several processes from Python: a DistributedDataParallel
trainer (ddp_train.py, gloo on the CPU) whose two ranks are started with
the environment torchrun gives its workers -- RANK, LOCAL_RANK,
WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT -- as Debian's
torchrun cannot start them (its elastic agent fails under Python 3.11).
The two ranks are one run with two rank rows, one code snapshot and each
rank's own checkpoints; flor.replay starts two ranks again with flor's own
local launcher, and the values of an added statement are those of a run
recorded with it, rank by rank."""
import json
import os
import socket
import subprocess
import sys
import time

import flor
from conftest import PYPATH, script_env

HERE = os.path.dirname(os.path.abspath(__file__))
WNORM = ('flor.log("wnorm", float(torch.cat([p.detach().flatten() '
         'for p in model.parameters()]).norm()))')


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_ranks(cwd, script, port, world=2, ranks=None, env=None, via_shell=False, args=()):
    """The RANKS (default: all) of WORLD processes of SCRIPT, started as
    torchrun starts its workers; VIA_SHELL: each from a shell of its own
    (no common parent)."""
    procs = []
    for rank in range(world) if ranks is None else ranks:
        e = script_env(**{"RANK": rank, "LOCAL_RANK": rank, "WORLD_SIZE": world,
                          "LOCAL_WORLD_SIZE": world, "MASTER_ADDR": "127.0.0.1",
                          "MASTER_PORT": port, "OPENBLAS_NUM_THREADS": 1, "FLOR_RANK_WAIT": 60,
                          **(env or {})})
        if "TORCHELASTIC_RUN_ID" not in (env or {}):
            e.pop("TORCHELASTIC_RUN_ID", None)
        cmd = [sys.executable, str(script), *args]
        if via_shell:
            cmd = ["sh", "-c", '"$@"; exit $?', "sh", *cmd]
        procs.append(subprocess.Popen(cmd, cwd=cwd, env=e, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    return procs


def wait_all(procs, timeout=300):
    outs = [p.communicate(timeout=timeout) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, f"rank exited {p.returncode}\n{out}\n{err}"
    return outs


def git(cwd, *args):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout


def commit_trainer(directory, code):
    (directory / "ddp_train.py").write_text(code)
    git(directory, "add", "ddp_train.py")
    git(directory, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "ddp")
    return directory / "ddp_train.py"


def trainer(stmt=None):
    code = open(os.path.join(HERE, "ddp_train.py")).read()
    assert "        # HINDSIGHT\n" in code
    return code if stmt is None else code.replace("        # HINDSIGHT\n", f"        {stmt}\n")


def wnorm_by_rank():
    q = flor.query("SELECT r.rank, c.iteration AS epoch, l.value FROM logs l "
                   "JOIN runs r USING (run_id) "
                   "JOIN loops c ON c.run_id = l.run_id AND c.ctx_id = l.ctx_id "
                   "WHERE l.name = 'wnorm' ORDER BY r.rank, c.iteration")
    return [(int(r), int(e), v) for r, e, v in zip(q["rank"], q["epoch"], q["value"])]


def test_two_ddp_ranks_are_one_run_with_two_ranks_and_their_own_checkpoints(project):
    s = commit_trainer(project.path, trainer())
    # every epoch checkpointed (the adaptive policy decides per rank)
    outs = wait_all(start_ranks(project.path, s, free_port(), env={"FLOR_OVERHEAD": 1}))
    assert [out.count("done") for out, _ in outs] == [3, 3]

    runs = flor.query("SELECT rank, world_size, launcher, status, tstamp, vid FROM runs "
                      "ORDER BY rank")
    assert runs["rank"].tolist() == [0, 1] and runs["world_size"].tolist() == [2, 2]
    assert runs["launcher"].tolist() == ["local", "local"]
    assert runs["status"].tolist() == ["finished", "finished"]
    assert runs["tstamp"].nunique() == 1 and runs["vid"].nunique() == 1
    # one snapshot of the code, shared by both ranks
    assert git(project.path, "log", "--format=%s", "flor.shadow").count("flor run") == 1
    listed = subprocess.run([sys.executable, "-m", "flor", "runs", "--format", "json"],
                            cwd=project.path, env=script_env(), capture_output=True, text=True,
                            check=True).stdout
    listed = json.loads(listed)
    assert len(listed) == 1 and listed[0]["ranks"] == 2 and listed[0]["status"] == "finished"

    ck = flor.query("SELECT r.rank, group_concat(c.iteration) AS its FROM checkpoints c "
                    "JOIN runs r USING (run_id) GROUP BY r.rank ORDER BY r.rank")
    assert ck["rank"].tolist() == [0, 1] and ck["its"].tolist() == ["0,1,2", "0,1,2"]
    own = flor.query("SELECT count(DISTINCT c.run_id) AS n FROM checkpoints c")["n"].tolist()
    assert own == [2]                                       # under each rank's own row

    df = flor.dataframe("loss")
    assert "rank" in df.columns and sorted(set(df["rank"])) == [0, 1]
    by_rank = [df[df["rank"] == r]["loss"].tolist() for r in (0, 1)]
    assert len(by_rank[0]) == len(by_rank[1]) == 3 * 8      # 128 rows a rank, batches of 16
    assert by_rank[0] != by_rank[1]                         # each rank its own shard


def test_replay_of_ddp_ranks_gives_each_rank_the_values_of_a_run_with_the_statement(
        project, tmp_path_factory, monkeypatch):
    s = commit_trainer(project.path, trainer())
    wait_all(start_ranks(project.path, s, free_port(), env={"FLOR_OVERHEAD": "1"}))

    s.write_text(trainer(WNORM))
    for k, v in dict(PYTHONPATH=PYPATH, OPENBLAS_NUM_THREADS="1", FLOR_PYTHON=sys.executable,
                     TMPDIR=str(tmp_path_factory.mktemp("tmp"))).items():
        monkeypatch.setenv(k, v)
    for k in ("RANK", "WORLD_SIZE", "MASTER_PORT", "TORCHELASTIC_RUN_ID", "FLOR_LAUNCHER"):
        monkeypatch.delenv(k, raising=False)
    flor.replay(["wnorm"])
    replayed = wnorm_by_rank()
    r = flor.query("SELECT status, divergences, restores FROM replays")
    assert r["status"].tolist() == ["finished"] * len(r) and r["divergences"].sum() == 0
    assert r["restores"].sum() > 0                          # ranks started from checkpoints

    oracle = tmp_path_factory.mktemp("oracle")
    git(oracle, "init", "-q")
    wait_all(start_ranks(oracle, commit_trainer(oracle, trainer(WNORM)), free_port()))
    monkeypatch.chdir(oracle)
    recorded = wnorm_by_rank()
    assert len(recorded) == 6 and {r for r, _, _ in recorded} == {0, 1}
    assert replayed == recorded


# ---- how the ranks find each other, and the local launcher -------------------------------
# A script without torch, for the mechanics alone: each rank logs its own
# values, from RANK.
RANKED = """\
import os
import flor
n = flor.arg("n", 3)
rank = int(os.environ["RANK"])
for i in flor.loop("i", range(n)):
    flor.log("x", rank * 10 + i)
    # HINDSIGHT
"""


def runs_by_tstamp():
    q = flor.query("SELECT r.tstamp, group_concat(r.rank) AS ranks, min(a.value) AS n, "
                   "max(a.value) AS n2, min(r.status) AS st FROM runs r JOIN args a "
                   "USING (run_id) WHERE a.name = 'n' GROUP BY r.tstamp ORDER BY r.tstamp")
    assert (q["n"] == q["n2"]).all()              # the ranks of a run had the same args
    assert set(q["st"]) == {"finished"}
    return [(sorted(int(x) for x in rs.split(",")), int(n)) for rs, n in zip(q["ranks"], q["n"])]


def test_ranks_started_from_different_shells_join_one_run_by_their_master_port(project):
    s = project.write("ranked.py", RANKED)
    wait_all(start_ranks(project.path, s, free_port(), via_shell=True,
                         env={"FLOR_RANK_WAIT": 20}), timeout=120)
    assert runs_by_tstamp() == [([0, 1], 3)]
    job = flor.query("SELECT DISTINCT job FROM runs")["job"].tolist()
    assert len(job) == 1 and job[0].startswith("local:127.0.0.1:")


def test_two_jobs_at_once_and_a_later_job_on_the_same_port_do_not_mix(project):
    s = project.write("ranked.py", RANKED)
    port_a, port_b = free_port(), free_port()
    # A's rank 0, then B's, then their ranks 1: B's rank 0 is the latest
    # when A's rank 1 looks for its own
    procs = []
    for rank, port, n in ((0, port_a, 2), (0, port_b, 4), (1, port_a, 2), (1, port_b, 4)):
        procs += start_ranks(project.path, s, port, ranks=[rank], args=("--kwargs", f"n={n}"))
        time.sleep(1)
    wait_all(procs, timeout=120)
    # a later job on port A whose rank 1 starts first: the earlier job's
    # rank 0, all of whose ranks are in, is not its leader
    late = start_ranks(project.path, s, port_a, ranks=[1], args=("--kwargs", "n=5"))
    time.sleep(1.5)
    late += start_ranks(project.path, s, port_a, ranks=[0], args=("--kwargs", "n=5"))
    wait_all(late, timeout=120)
    assert sorted(runs_by_tstamp(), key=lambda x: x[1]) == [([0, 1], 2), ([0, 1], 4),
                                                          ([0, 1], 5)]


def replay_env(monkeypatch, tmp_path_factory, **extra):
    for k, v in dict(PYTHONPATH=PYPATH, FLOR_PYTHON=sys.executable,
                     TMPDIR=str(tmp_path_factory.mktemp("tmp")), **extra).items():
        monkeypatch.setenv(k, v)
    for k in ("RANK", "WORLD_SIZE", "MASTER_PORT", "TORCHELASTIC_RUN_ID"):
        monkeypatch.delenv(k, raising=False)


def test_flor_launcher_local_replays_the_ranks_of_a_torchrun_run_without_torchrun(
        project, monkeypatch, tmp_path_factory):
    s = project.write("ranked.py", RANKED)
    # as torchrun starts them: with the id of its rendezvous
    wait_all(start_ranks(project.path, s, free_port(), env={"TORCHELASTIC_RUN_ID": "job-7"}))
    runs = flor.query("SELECT launcher, job FROM runs")
    assert runs["launcher"].tolist() == ["torchrun", "torchrun"]
    assert runs["job"][0].startswith("torchrun:job-7:")

    project.write("ranked.py", RANKED.replace("    # HINDSIGHT",
                                              '    flor.log("sq", (rank * 10 + i) ** 2)'))
    replay_env(monkeypatch, tmp_path_factory, FLOR_LAUNCHER="local")
    flor.replay(["sq"])
    q = flor.query("SELECT r.rank, c.iteration AS i, l.value FROM logs l JOIN runs r "
                   "USING (run_id) JOIN loops c ON c.run_id = l.run_id AND c.ctx_id = l.ctx_id "
                   "WHERE l.name = 'sq' ORDER BY 1, 2")
    assert list(zip(q["rank"], q["i"], q["value"])) == [
        (0, 0, 0), (0, 1, 1), (0, 2, 4), (1, 0, 100), (1, 1, 121), (1, 2, 144)]


def test_when_a_rank_fails_the_local_launcher_ends_the_others(project, monkeypatch,
                                                               tmp_path_factory):
    s = project.write("ranked.py", RANKED)
    wait_all(start_ranks(project.path, s, free_port()))
    # rank 0 would wait for ever for the rank that failed
    project.write("ranked.py", RANKED.replace(
        "    # HINDSIGHT",
        '    flor.log("sq", __import__("time").sleep(300) if rank == 0 else os._exit(3))'))
    replay_env(monkeypatch, tmp_path_factory)
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "flor", "replay", "sq"], cwd=project.path,
                       env=dict(os.environ), capture_output=True, text=True, timeout=200)
    assert time.monotonic() - t0 < 60
    assert r.returncode != 0 and "exit status 3" in r.stderr, r.stderr
