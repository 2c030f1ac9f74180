"""flor.replay with a statement inside a block the user added around it.

The user adds, after the step loop of a torch script, an `if` block that
computes a local and logs it.  Two runs were recorded from two versions of
the script; flor.replay(["pnorm"]) must carry the whole block (not only the
flor.log line, which alone would fail on the undefined local) into each
run's own version.  The oracle is a retraining of each version, edited by
hand, from scratch."""
import flor
from conftest import PYPATH
from test_replay import program
from test_replay_versions import record_two_versions, retrain_named

BLOCK = ("            if epoch % 2 == 0:\n"
         "                sq = 0.0\n"
         "                for p in net.parameters():\n"
         "                    sq += float((p.detach() * p.detach()).sum())\n"
         "\n"
         "                flor.log(\"pnorm\", sq ** 0.5)\n")


def with_block(code):
    """CODE with the block added just before the schedule steps."""
    at = "            sched.step()"
    assert code.count(at) == 1
    return code.replace(at, BLOCK + at)


def version(n):
    code = program()
    return code if n == 1 else code.replace("gamma=0.7", "gamma=0.5")


def test_the_block_around_the_statement_is_carried_whole(project, tmp_path_factory,
                                                         monkeypatch):
    record_two_versions(project, version)

    project.write("train.py", with_block(version(2)))
    monkeypatch.setenv("TMPDIR", str(tmp_path_factory.mktemp("tmp")))
    monkeypatch.setenv("PYTHONPATH", PYPATH)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    flor.replay(["pnorm"])

    r = flor.query("SELECT run_id, status, divergences FROM replays ORDER BY run_id")
    assert r["status"].tolist() == ["finished"] * len(r) and set(r["run_id"]) == {1, 2}
    by_run = flor.query("SELECT l.run_id AS run, c.iteration AS epoch, l.value AS v FROM logs l "
                        "JOIN loops c ON c.run_id = l.run_id AND c.ctx_id = l.ctx_id "
                        "WHERE l.name = 'pnorm' ORDER BY l.run_id, c.iteration")
    wants = []
    for run in (1, 2):
        want = retrain_named(tmp_path_factory.mktemp(f"b{run}"), with_block(version(run)),
                             "pnorm")
        rows = by_run[by_run["run"] == run]
        assert rows["epoch"].tolist() == [0, 2]
        assert {(("epoch", int(e)),): v for e, v in zip(rows["epoch"], rows["v"])} == want
        wants.append(want)
    assert wants[0] != wants[1]                    # the versions really differ
