"""Checkpoints from Python: torch state_dicts tensor by tensor (optimizer
state that appears after the first step included), numpy arrays by
buffer, other objects pickled, the RNG states; and their restore in
place (through the private flor._flor._restore, until replay comes to the
Python module)."""
import flor

TRAIN = """
    import pickle, random
    import numpy as np
    import torch
    import flor
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    arr = np.arange(6, dtype=np.float32)
    notes = {"seen": []}
    x, y = torch.randn(64, 8), torch.randint(0, 2, (64,))
    saved, draws = {}, {}
    with flor.checkpointing(model=net, optimizer=opt, sched=sched, arr=arr, notes=notes):
        for epoch in flor.loop("epoch", range(3)):
            draws[epoch] = (torch.rand(1).item(), random.random(), np.random.rand())
            for step in flor.loop("step", range(4)):
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(net(x), y)
                loss.backward()
                opt.step()
            sched.step()
            arr += 1
            notes["seen"].append(epoch)
            flor.log("loss", loss.item())
            saved[epoch] = ({k: v.clone() for k, v in net.state_dict().items()},
                            {i: {k: v.clone() for k, v in s.items()}
                             for i, s in opt.state_dict()["state"].items()},
                            opt.param_groups[0]["lr"], arr.copy(), list(notes["seen"]))
        flor.commit()
        run = int(flor.query("SELECT max(run_id) AS r FROM runs")["r"][0])
        # scramble everything, then restore the end of epoch 1 in place
        with torch.no_grad():
            for p in net.parameters():
                p.mul_(0).add_(7)
        for s in opt.state.values():
            s["exp_avg"].zero_()
        opt.param_groups[0]["lr"] = 123.0
        arr[:] = -1
        notes["seen"] = ["junk"]
        flor._flor._restore(run, 1)
        sd, ostate, lr, a, seen = saved[1]
        assert all(torch.equal(net.state_dict()[k], v) for k, v in sd.items())
        now = opt.state_dict()["state"]
        assert all(torch.equal(now[i][k], v) for i, s in ostate.items() for k, v in s.items())
        assert opt.param_groups[0]["lr"] == lr, (opt.param_groups[0]["lr"], lr)
        assert (arr == a).all() and notes["seen"] == seen
        # the RNG states are those at the end of epoch 1: epoch 2's draws follow
        assert (torch.rand(1).item(), random.random(), np.random.rand()) == draws[2]
    print("restored ok")
"""


def test_torch_checkpoints_and_restore(project):
    s = project.write("train.py", TRAIN)
    r = project.run(s, env={"FLOR_OVERHEAD": "1"})
    assert "restored ok" in r.stdout
    ck = flor.query("SELECT loop, iteration, logical_bytes, stored_bytes FROM checkpoints "
                    "ORDER BY iteration")
    assert ck["iteration"].tolist() == [0, 1, 2] and (ck["loop"] == "epoch").all()
    assert (ck["stored_bytes"] > 0).all()
    objs = flor.query("SELECT o.name, o.dtype, o.nbytes, o.callback FROM checkpoint_objects o "
                      "JOIN checkpoints c ON c.ckpt_id = o.ckpt_id WHERE c.iteration = 0")
    by = {r["name"]: r for r in objs.to_dict("records")}
    assert by["model.0.weight"]["dtype"] == "f32" and by["model.0.weight"]["nbytes"] == 16 * 8 * 4
    assert by["model.2.bias"]["nbytes"] == 2 * 4
    # Adam's moments exist only after the first step: registered at the first boundary
    assert by["optimizer.state.0.exp_avg"]["nbytes"] == 16 * 8 * 4
    assert by["optimizer.state.3.exp_avg_sq"]["dtype"] == "f32"
    assert by["optimizer.state.0.step"]["nbytes"] == 4
    assert by["arr"]["dtype"] == "f32" and by["arr"]["nbytes"] == 24 and not by["arr"]["callback"]
    for name in ("optimizer", "model", "sched", "notes", "flor.rng"):
        assert by[name]["callback"] == 1, name
    assert len(by) == 4 + 12 + 6  # tensors, Adam state, then the callback objects and arr


def test_checkpoints_follow_the_policy_and_mode_off(project):
    s = project.write("np.py", """
        import numpy as np
        import flor
        w = np.zeros((256, 256))
        with flor.checkpointing(w=w):
            for epoch in flor.loop("epoch", range(4)):
                w += 1
    """)
    project.run(s, env={"FLOR_OVERHEAD": "0"})
    ck = flor.query("SELECT iteration FROM checkpoints")
    assert ck["iteration"].tolist() == []  # budget 0: checkpoints off, the last one too
    project.run(s, env={"FLOR_MODE": "off"})
    assert len(flor.query("SELECT * FROM runs")) == 1


def test_unpicklable_object_skips_checkpoints_not_training(project):
    s = project.write("lock.py", """
        import threading
        import flor
        lock = threading.Lock()
        with flor.checkpointing(lock=lock):
            for epoch in flor.loop("epoch", range(2)):
                flor.log("x", epoch)
    """)
    r = project.run(s, env={"FLOR_QUIET": "0"})
    assert "cannot pickle 'lock'" in r.stderr
    assert flor.dataframe("x")["x"].tolist() == [0, 1]
    assert len(flor.query("SELECT * FROM checkpoints")) == 0
