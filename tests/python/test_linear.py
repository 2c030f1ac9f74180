"""examples/linear.py, FlorDB's tutorial shape, on a small subset of
Fashion-MNIST: two runs with different --kwargs, then its dataframe."""
import os
import shutil

import numpy as np
import pytest

import flor
from conftest import REPO

DATA = "/usr/share/datasets/fashion-mnist"


@pytest.mark.skipif(not os.path.exists(os.path.join(DATA, "t10k-labels-idx1-ubyte.gz")),
                    reason="dataset-fashion-mnist is not installed")
def test_linear_two_runs(project):
    script = project.path / "linear.py"
    shutil.copy(os.path.join(REPO, "examples", "linear.py"), script)
    small = ["ntrain=1000", "ntest=200", "epochs=2", "batch_size=50", "print_every=10"]
    project.run(script, "--kwargs", *small, "hidden=16")
    project.run(script, "--kwargs", *small, "hidden=32", "lr=0.01")
    df = flor.dataframe()
    args = ["hidden", "epochs", "batch_size", "lr", "seed", "print_every", "ntrain", "ntest"]
    logs = ["correct", "accuracy"]  # flor's thread settings are not the user's columns
    assert list(df.columns) == ["projid", "tstamp", "filename"] + args + logs
    assert df["filename"].tolist() == ["linear.py"] * 2
    assert df["hidden"].tolist() == [16, 32] and df["lr"].tolist() == [0.001, 0.01]
    for c in args[:3] + args[4:] + ["correct"]:
        assert df[c].dtype == np.int64, c
    assert df["lr"].dtype == np.float64 and df["accuracy"].dtype == np.float64
    threads = flor.dataframe("flor.torch_threads", "flor.blas_threads")
    assert threads["flor.torch_threads"].tolist() == [2, 2]
    assert threads["flor.blas_threads"].dtype == np.int64
    assert (df["accuracy"] == df["correct"] / 200).all()
    assert df["accuracy"].between(0.3, 1).all()

    curves = flor.dataframe("loss", "accuracy")
    loss = curves.dropna(subset=["loss"])
    assert len(loss) == 2 * 2 * 2  # runs x epochs x (steps 0 and 10 of 20)
    assert sorted(set(loss["step"])) == [0.0, 10.0]
    per_epoch = curves.dropna(subset=["accuracy", "epoch"]).drop_duplicates(["tstamp", "epoch"])
    assert len(per_epoch) == 4

    ck = flor.query("SELECT run_id, iteration FROM checkpoints ORDER BY run_id, iteration")
    assert ck[ck["run_id"] == 1]["iteration"].max() == 1  # the last epoch, always checkpointed
    statuses = flor.query("SELECT status FROM runs")["status"].tolist()
    assert statuses == ["finished", "finished"]
