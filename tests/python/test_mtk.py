"""flor.MTK, the seed README's older API, and its flags: each of the
README's code samples is a script of its own in seed_mtk/ (a small net on
fashion-mnist), recorded as `python3 script.py --flor NAME [flags]` and
replayed with `--replay_flor [PID/NGPUS]` after the README's hindsight
statements were added.  The oracle of a replay is a retraining: the script
with the statements from the start, recorded in a project of its own."""
import json
import os
import shutil
import subprocess
import sys

import flor
from conftest import script_env
from test_replay import values

SEEDS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seed_mtk")
ENV = {"OPENBLAS_NUM_THREADS": "1", "FLOR_OVERHEAD": "1"}  # a checkpoint every epoch


def install(directory, sample, home):
    """SAMPLE as directory/train.py, with the helpers it imports."""
    shutil.copy(os.path.join(SEEDS, "seed_data.py"), directory / "seed_data.py")
    shutil.copy(os.path.join(SEEDS, sample), directory / "train.py")
    return directory / "train.py"


def run(project, home, *args, check=True, **env):
    return project.run("train.py", *args, check=check, env={**ENV, "HOME": home, **env})


def truth(tmp_path, sample, home):
    """The database of SAMPLE recorded from the start, in a project of its own."""
    d = tmp_path / "truth"
    d.mkdir()
    subprocess.run(["git", "init", "-q", str(d)], check=True)
    install(d, sample, home)
    subprocess.run([sys.executable, "train.py", "--flor", "truth"], cwd=d, check=True,
                   capture_output=True, env=script_env(**ENV, HOME=home))
    return str(d / ".flor" / "flor.db")


def db(project):
    return str(project.path / ".flor" / "flor.db")


def replays():
    return flor.query("SELECT segment, nsegments, status, new_values, compared, divergences, "
                      "restores FROM replays ORDER BY replay_id").to_dict("records")


def record_then_replay(project, home, sample, *flags):
    """sample_train.py recorded as the experiment fmnist, then SAMPLE (its
    hindsight edit) replayed with --replay_flor FLAGS...; the replays' rows."""
    install(project.path, "sample_train.py", home)
    run(project, home, "--flor", "fmnist", *flags[1:])
    install(project.path, sample, home)
    run(project, home, "--replay_flor", *flags)
    return replays()


def test_main_loop_sample_records_an_epoch_loop(project, tmp_path):
    install(project.path, "sample_loop.py", tmp_path)
    run(project, tmp_path, "--flor", "linear")
    got = flor.dataframe("loss")
    assert got["epoch"].tolist() == [0, 1, 2] and got["projid"].tolist() == ["linear"] * 3
    losses = got["loss"].tolist()
    assert losses[2] < losses[0]  # it trained
    assert flor.query("SELECT status FROM runs")["status"].tolist() == ["finished"]


def test_flor_name_and_epsilon_leave_argv_to_argparse_and_name_the_experiment(project, tmp_path):
    install(project.path, "sample_train.py", tmp_path)
    # the script's argparse knows --epochs only: --flor NAME EPSILON must be gone
    r = run(project, tmp_path, "--flor", "fmnist", "0.05", "--epochs", "2")
    assert r.stdout.count("loss: ") == 2 * 8
    runs = flor.query("SELECT projid, argv, status FROM runs").to_dict("records")
    assert runs == [{"projid": "fmnist", "status": "finished",
                     "argv": json.dumps(["train.py", "--flor", "fmnist", "0.05", "--epochs", "2"],
                                        separators=(",", ":"))}]
    # the seed's `ls ~/.flor/fmnist` lists the project's store and database
    link = tmp_path / ".flor" / "fmnist"
    assert os.path.islink(link) and os.readlink(link) == str(project.path / ".flor")
    assert "flor.db" in os.listdir(link)
    # Flor.checkpoints named the state by class and position
    objs = flor.query("SELECT DISTINCT name FROM checkpoint_objects ORDER BY name")["name"]
    assert "Net_0.fc1.weight" in set(objs) and "SGD_1" in set(objs)
    assert set(flor.query("SELECT DISTINCT loop FROM checkpoints")["loop"]) == {"epoch"}
    # no NAME: the previous run's name again
    run(project, tmp_path, "--flor", "--epochs", "1")
    assert flor.query("SELECT projid FROM runs ORDER BY run_id")["projid"].tolist() == \
        ["fmnist", "fmnist"]


def test_hindsight_sample_replays_bit_identically_skipping_the_nested_loop(project, tmp_path):
    r = record_then_replay(project, tmp_path, "sample_hindsight.py")
    # every epoch's nested loop was skipped: its state came from the checkpoint
    assert len(r) == 1 and r[0]["status"] == "finished" and r[0]["restores"] == 3
    assert r[0]["divergences"] == 0 and r[0]["new_values"] == 2 * 3
    want = truth(tmp_path, "sample_hindsight.py", tmp_path)
    for name in ("confusion", "test_loss"):
        assert len(values(want, name)) == 3 and values(db(project), name) == values(want, name)


def test_probed_sample_steps_into_the_nested_loop(project, tmp_path):
    r = record_then_replay(project, tmp_path, "sample_probed.py")
    assert len(r) == 1 and r[0]["status"] == "finished" and r[0]["divergences"] == 0
    want = truth(tmp_path, "sample_probed.py", tmp_path)
    got = values(db(project), "grad_norm")
    assert len(got) == 3 * 8 and got == values(want, "grad_norm")  # every step ran again
    # the loops were named from their depth
    assert sorted(got)[-1] == (("epoch", 2), ("step", 7))
    assert values(db(project), "grad_hist") == values(want, "grad_hist")


def test_replay_flor_pid_ngpus_replays_one_segment(project, tmp_path):
    r = record_then_replay(project, tmp_path, "sample_hindsight.py", "1/2", "--epochs", "4")
    assert [(x["segment"], x["nsegments"], x["divergences"]) for x in r] == [(1, 2, 0)]
    got = values(db(project), "test_loss")
    assert sorted(k[0][1] for k in got) == [2, 3]  # the second half of the epochs
    want = values(truth(tmp_path, "sample_hindsight.py", tmp_path), "test_loss")
    # (the truth ran 3 epochs: compare the epoch they share)
    assert got[(("epoch", 2),)] == want[(("epoch", 2),)]


def usage_error(project, home, *args):
    r = run(project, home, *args, check=False)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def test_usage_errors_exit_2_with_one_line_and_record_nothing(project, tmp_path):
    install(project.path, "sample_train.py", tmp_path)
    assert usage_error(project, tmp_path, "--kwargs", "lr=2", "--replay_flor") == \
        ("flor: --kwargs cannot be combined with --replay_flor: a replay uses the args the "
         "run recorded")
    line = usage_error(project, tmp_path, "--flor", "fmnist", "5")
    assert line.startswith("flor: --flor fmnist 5: expected EPSILON, a number between 0 and 1")
    line = usage_error(project, tmp_path, "--flor", "fmnist", "0.0.5")
    assert line.startswith("flor: --flor fmnist 0.0.5: expected EPSILON")
    line = usage_error(project, tmp_path, "--replay_flor", "3/x")
    assert line.startswith("flor: --replay_flor '3/x': expected PID/N")
    assert not (project.path / ".flor" / "flor.db").exists()


def test_the_home_link_never_replaces_a_directory(project, tmp_path):
    mine = tmp_path / ".flor" / "fmnist"
    mine.mkdir(parents=True)
    (mine / "notes").write_text("mine")
    install(project.path, "sample_loop.py", tmp_path)
    r = run(project, tmp_path, "--flor", "fmnist", FLOR_QUIET="0")
    assert "is not a link flor made: left as it is" in r.stderr
    assert not os.path.islink(mine) and (mine / "notes").read_text() == "mine"
    assert flor.query("SELECT projid FROM runs")["projid"].tolist() == ["fmnist"]
