"""How a Python run ends: finished, failed by an exception (the logs made
so far kept, the exception logged as flor.exception), killed by SIGINT
(an uncaught KeyboardInterrupt) or SIGTERM."""
import signal

import flor

FAILING = """
    import numpy as np
    import flor
    state = np.zeros(4)
    def batches():
        for i in range(10):
            if i == 5:
                raise RuntimeError("the data ran dry")
            yield i
    with flor.checkpointing(state=state):
        for epoch in flor.loop("epoch", range(3)):
            for b in flor.loop("step", batches()):
                state += 1
                flor.log("b", b)
            flor.log("acc", epoch)
"""


def test_exception_mid_loop_fails_the_run(project):
    s = project.write("fail.py", FAILING)
    r = project.run(s, check=False, env={"FLOR_OVERHEAD": "1", "FLOR_QUIET": "0"})
    assert r.returncode == 1 and "RuntimeError: the data ran dry" in r.stderr
    runs = flor.query("SELECT status, end_time FROM runs")
    assert runs["status"].tolist() == ["failed"] and runs["end_time"].notna().all()
    b = flor.dataframe("b")
    assert b["b"].tolist() == [0, 1, 2, 3, 4] and b["step"].tolist() == [0, 1, 2, 3, 4]
    final = flor.dataframe()
    assert final["flor.exception"].tolist() == ["RuntimeError: the data ran dry"]
    # the interrupted epoch 0 was not checkpointed as if it had completed
    # (flor_loop_abort: no checkpoint attempted, so no warning either)
    assert len(flor.query("SELECT * FROM checkpoints")) == 0
    assert "checkpoint" not in r.stderr, r.stderr


def test_exception_caught_inside_script_keeps_recording(project):
    s = project.write("caught.py", """
        import flor
        try:
            for epoch in flor.loop("epoch", range(3)):
                flor.log("x", epoch)
                if epoch == 1:
                    raise ValueError("stop early")
        except ValueError:
            pass
        flor.log("after", 1)      # outside any loop again
    """)
    project.run(s)
    assert flor.query("SELECT status FROM runs")["status"].tolist() == ["finished"]
    q = flor.query("SELECT name, ctx_id FROM logs WHERE name = 'after'")
    assert q["ctx_id"].isna().all()
    assert "flor.exception" not in flor.dataframe().columns


def test_sys_exit_zero_finishes(project):
    s = project.write("ex.py", """
        import sys
        import flor
        flor.log("x", 1)
        sys.exit(0)
    """)
    project.run(s)
    assert flor.query("SELECT status FROM runs")["status"].tolist() == ["finished"]


def test_keyboard_interrupt_is_killed(project):
    s = project.write("intr.py", """
        import os, signal
        # as in a terminal: a suite started in the background hands its
        # children SIGINT ignored, and Python then installs no handler
        signal.signal(signal.SIGINT, signal.default_int_handler)
        import flor
        for epoch in flor.loop("epoch", range(10)):
            flor.log("x", epoch)
            if epoch == 2:
                os.kill(os.getpid(), signal.SIGINT)   # as Ctrl-C would
    """)
    r = project.run(s, check=False)
    assert r.returncode == -signal.SIGINT, (r.returncode, r.stderr)
    assert "KeyboardInterrupt" in r.stderr
    # reading the project finds the run's process gone: killed
    assert flor.query("SELECT status FROM runs")["status"].tolist() == ["killed"]
    assert flor.dataframe("x")["x"].tolist() == [0, 1, 2]
    assert flor.dataframe()["flor.exception"].tolist() == ["KeyboardInterrupt"]


def test_sigterm_is_killed(project):
    s = project.write("term.py", """
        import os, signal
        # as in a terminal: a suite started in the background hands its
        # children SIGINT ignored, and Python then installs no handler
        signal.signal(signal.SIGINT, signal.default_int_handler)
        import flor
        for epoch in flor.loop("epoch", range(10)):
            flor.log("x", epoch)
            if epoch == 1:
                os.kill(os.getpid(), signal.SIGTERM)
    """)
    r = project.run(s, check=False)
    assert r.returncode == -signal.SIGTERM
    assert flor.query("SELECT status FROM runs")["status"].tolist() == ["killed"]
    assert flor.dataframe("x")["x"].tolist() == [0, 1]
