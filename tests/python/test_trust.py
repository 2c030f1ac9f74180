"""Trust from Python: a --kwargs value that does not parse stops the script
before it trains (exit 2, argparse's way), and a NaN or an infinity logged
from Python comes back as such in flor.dataframe, never as "not logged"."""
import math

import flor

TRAIN = """
    import flor
    rounds = flor.arg("rounds", 6)
    lr = flor.arg("lr", 0.5)
    amp = flor.arg("amp", False)
    print("trained", rounds, lr, amp)
    flor.log("trained", rounds)  # a run that logs nothing leaves no run
"""


def test_a_malformed_kwarg_exits_2_before_training(project):
    s = project.write("train.py", TRAIN)
    cases = {
        "rounds=abc": "flor: --kwargs rounds=abc: expected an integer",
        "rounds=99999999999999999999": "flor: --kwargs rounds=99999999999999999999: "
                                       "expected an integer in range",
        "lr=fast": "flor: --kwargs lr=fast: expected a number",
        "amp=maybe": "flor: --kwargs amp=maybe: expected true or false (or yes, no, 1, 0)",
    }
    for kw, message in cases.items():
        r = project.run(s, "--kwargs", kw, check=False)
        assert r.returncode == 2, (kw, r.stderr)
        assert "trained" not in r.stdout
        assert message in r.stderr.splitlines(), r.stderr
        assert "Traceback" not in r.stderr
    runs = flor.query("SELECT status, reason FROM runs ORDER BY run_id")
    assert runs["status"].tolist() == ["failed"] * len(cases)
    assert runs["reason"].tolist() == [m[len("flor: "):] for m in cases.values()]


def test_a_good_kwarg_still_trains(project):
    s = project.write("train.py", TRAIN)
    r = project.run(s, "--kwargs", "rounds=3", "amp=yes")
    assert r.stdout.split() == ["trained", "3", "0.5", "True"]
    assert flor.query("SELECT status FROM runs")["status"].tolist() == ["finished"]


def test_nan_and_inf_logged_from_python_show_in_the_dataframe(project):
    s = project.write("diverge.py", """
        import flor
        values = [float("nan"), float("inf"), float("-inf"), 1.5]
        for epoch in flor.loop("epoch", range(4)):
            flor.log("loss", values[epoch])
    """)
    project.run(s)
    df = flor.dataframe("loss")
    loss = df["loss"].tolist()
    assert math.isnan(loss[0])
    assert loss[1:] == [math.inf, -math.inf, 1.5]
    q = flor.query("SELECT typeof(value) AS t, value FROM logs ORDER BY rowid")
    assert q["t"].tolist() == ["text", "real", "real", "real"]
    assert q["value"].tolist()[0] == "NaN"


def test_a_negative_epoch_count_trains_nothing_and_ends(project):
    # Python's loops are over iterables: range(-5) is empty, so this holds
    # without any fix; it is here so that a change to flor.loop keeps it.
    s = project.write("neg.py", """
        import flor
        epochs = flor.arg("epochs", 2)
        n = sum(1 for _ in flor.loop("epoch", range(epochs)))
        print("iterations", n)
    """)
    r = project.run(s, "--kwargs", "epochs=-5", timeout=60)
    assert r.stdout.split() == ["iterations", "0"]


def test_a_full_disk_mid_run_is_loud_and_the_exit_status_says_so(project):
    import os
    from conftest import BUILD
    s = project.write("many.py", """
        import time
        import flor
        for i in flor.loop("i", range(3000)):
            flor.log("v", i)
            time.sleep(0.0001)
        print("done")
    """)
    project.run(s)  # the database exists, with one whole run
    fault = os.path.join(BUILD, "tests", "libfaultinject.so")
    r = project.run(s, check=False, env={
        "LD_PRELOAD": fault, "FAULT_PATH": "flor.db", "FAULT_OPS": "write",
        "FAULT_AT": "30", "FAULT_STICKY": "1"})
    assert r.returncode == 1, r.stderr
    assert "done" in r.stdout  # the script's own output is not lost either
    lines = r.stderr.splitlines()
    assert any(l.startswith("flor: error: cannot write logs to ") and "retrying" in l
               for l in lines), r.stderr
    assert any(l.startswith("flor: error: run 2 failed: ") and "records were lost" in l
               for l in lines), r.stderr
    # the first run is whole
    assert flor.query("SELECT count(*) AS n FROM logs WHERE run_id=1")["n"].tolist() == [3000]
