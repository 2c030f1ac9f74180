"""bench_python.py -- what the Python module costs a training script.

    make python-bench        (or: PYTHONPATH=build/python /usr/bin/python3 bench/bench_python.py)

Measured side by side in one run, each part in its own process and its
own scratch git project:

  log       flor.log(name, float) per call, against a bare Python function
            call with the same arguments (the floor for any Python API);
  import    `import flor` against `import torch`, each in a fresh interpreter
            (python3 -c), the median of 7 (3 with --quick), interleaved;
  loop      one iteration of `for i in flor.loop(...)`, and of the seed API's
            `for i in MTK.loop(...)`, against `for i in range(...)`;
  ckpt      a ~100 MB state (an MLP's state_dict plus its Adam state):
            the training thread's stall at the loop boundary that takes the
            checkpoint, against torch.save of the same state to the same
            disk; and the bytes the checkpoint store kept
            (checkpoints.stored_bytes) against torch.save's file size, for
            the first checkpoint and for later ones (one training step
            apart);
  linear    examples/linear.py (1 epoch on 20000 images) with flor against
            FLOR_MODE=off: the whole process and its epoch, best of 5 each,
            interleaved (the machine's load shows in these; compare the best).
  replay    examples/linear.py (3 epochs on 20000 images) recorded once, then
            replayed (--replay_flor: the step loop skipped, the state restored
            from checkpoints) against the retraining that would give the same
            values without flor (FLOR_MODE=off), and a replay with the step
            loop probed (--probe step: everything runs again and is compared);
            whole processes, best of 5 each, interleaved.

Options: --quick (fewer repetitions, for a smoke test).
"""
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
QUICK = "--quick" in sys.argv


# ---- the parts, each run in a child process ----------------------------------

def part_log():
    import flor
    n = 200_000 if QUICK else 2_000_000

    def bare(name, value):
        return value

    flor.log("warmup", 0.0)  # starts the run
    best = {}
    for label, fn in (("bare", bare), ("flor", flor.log)):
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(n):
                fn("loss", 0.5)
            times.append((time.perf_counter() - t0) / n)
        best[label] = min(times)
    for label, fn in (("bare_int", bare), ("flor_int", flor.log)):
        t0 = time.perf_counter()
        for i in range(n):
            fn("step", i)
        best[label] = (time.perf_counter() - t0) / n
    return best


def part_loop():
    import flor
    n = 200_000 if QUICK else 2_000_000
    flor.log("warmup", 0)
    best = {"bare": 1e9, "flor": 1e9, "mtk": 1e9}
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(n):
            pass
        best["bare"] = min(best["bare"], (time.perf_counter() - t0) / n)
        with flor.iteration("epoch", 0, None):  # inner loops are never checkpointed
            t0 = time.perf_counter()
            for _ in flor.loop("step", range(n)):
                pass
            best["flor"] = min(best["flor"], (time.perf_counter() - t0) / n)
        with flor.iteration("epoch", 1, None):
            t0 = time.perf_counter()
            for _ in flor.MTK.loop(range(n)):  # named "step" from its depth
                pass
            best["mtk"] = min(best["mtk"], (time.perf_counter() - t0) / n)
    return best


def part_ckpt():
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import torch
    import flor
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2048, 2048), torch.nn.ReLU(),
                              torch.nn.Linear(2048, 2048))
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    x = torch.randn(64, 2048)

    def train_step():
        opt.zero_grad()
        net(x).square().mean().backward()
        opt.step()
    rounds = 3 if QUICK else 5
    stalls, saves = [], []
    path = os.path.join(os.getcwd(), "state.pt")
    with flor.checkpointing(model=net, optimizer=opt):
        it = flor.loop("epoch", range(rounds + 1))
        next(it)
        for k in range(rounds):
            train_step()  # after the first, Adam's moments exist: registered at this boundary
            t0 = time.perf_counter()
            next(it)  # the boundary that snapshots epoch k
            stalls.append(time.perf_counter() - t0)
            wait_for_checkpoints(flor, k + 1)
            t0 = time.perf_counter()
            torch.save({"model": net.state_dict(), "optimizer": opt.state_dict()}, path)
            saves.append(time.perf_counter() - t0)
        it.close()
    save_bytes = os.path.getsize(path)
    os.remove(path)
    ck = flor.query("SELECT iteration, logical_bytes, stored_bytes, stall_s FROM checkpoints "
                    "ORDER BY iteration")
    return {
        "logical": int(ck["logical_bytes"][0]),
        "save_s": statistics.median(saves), "save_bytes": save_bytes,
        "stall_first_s": stalls[0], "stall_s": statistics.median(stalls[1:]),
        "lib_stall_s": float(ck["stall_s"][1:].median()),
        "stored_first": int(ck["stored_bytes"][0]),
        "stored_later": float(ck["stored_bytes"][1:rounds].mean()),
    }


def wait_for_checkpoints(flor, n):
    """Until N checkpoints are durable, so that each boundary measures the
    snapshot alone (not a wait for the previous write)."""
    for _ in range(600):
        if len(flor.query("SELECT 1 FROM checkpoints")) >= n:
            return
        time.sleep(0.05)


PARTS = {"log": part_log, "loop": part_loop, "ckpt": part_ckpt}


# ---- the driver ----------------------------------------------------------------

def scratch_project():
    d = tempfile.mkdtemp(prefix="flor-bench-")
    subprocess.run(["git", "init", "-q", d], check=True)
    return d


def child_env(**extra):
    paths = [os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(":") if p]
    paths.append(os.path.join(REPO, "build", "python"))
    env = dict(os.environ, FLOR_QUIET="1", FLOR_PROGRESS="0", PYTHONPATH=":".join(paths))
    for k in ("FLOR_DIR", "FLOR_MODE"):
        env.pop(k, None)
    env.update(extra)
    return env


def run_part(name, **env):
    d = scratch_project()
    try:
        args = [sys.executable, os.path.abspath(__file__), "--part", name]
        if QUICK:
            args.append("--quick")
        r = subprocess.run(args, cwd=d, env=child_env(**env), capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"bench_python: part {name} failed:\n{r.stderr}")
        return json.loads(r.stdout.strip().splitlines()[-1])
    finally:
        subprocess.run(["rm", "-rf", d])


def run_imports(reps):
    """Median seconds of `python3 -c "import M"` for flor and torch, in fresh
    interpreters, interleaved."""
    d = scratch_project()
    try:
        times = {"flor": [], "torch": []}
        for _ in range(reps):
            for m in times:
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-c", f"import {m}"], cwd=d, env=child_env(),
                               check=True)
                times[m].append(time.perf_counter() - t0)
        return {m: statistics.median(v) for m, v in times.items()}
    finally:
        subprocess.run(["rm", "-rf", d])


def run_linear(mode_off):
    d = scratch_project()
    try:
        script = os.path.join(REPO, "examples", "linear.py")
        env = child_env(**({"FLOR_MODE": "off"} if mode_off else {}))
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, script, "--kwargs", "epochs=1", "ntrain=20000",
                            "ntest=2000"], cwd=d, env=env, check=True, capture_output=True,
                           text=True)
        wall = time.perf_counter() - t0
        train = float(re.search(r"\(train ([0-9.]+) s", r.stdout).group(1))
        return wall, train
    finally:
        subprocess.run(["rm", "-rf", d])


def run_replay_bench(reps):
    """Record linear.py once, then time retraining against replays of it."""
    d = scratch_project()
    try:
        script = os.path.join(REPO, "examples", "linear.py")
        kwargs = ["--kwargs", "epochs=3", "ntrain=20000", "ntest=2000"]

        def run(*extra, **env):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, script, *extra], cwd=d, env=child_env(**env),
                           check=True, capture_output=True, text=True)
            return time.perf_counter() - t0
        record = run(*kwargs)
        best = {"retrain": [], "replay": [], "probed": []}
        for _ in range(reps):
            best["retrain"].append(run(*kwargs, FLOR_MODE="off"))
            best["replay"].append(run("--replay_flor"))
            best["probed"].append(run("--replay_flor", "--probe", "step"))
        q = subprocess.run([sys.executable, "-m", "flor", "query", "--format", "csv",
                            "SELECT (SELECT count(*) FROM checkpoints), max(restores), "
                            "sum(divergences) FROM replays"], cwd=d, env=child_env(),
                           check=True, capture_output=True, text=True)
        ckpts, restores, divergences = q.stdout.strip().splitlines()[-1].split(",")
        return {"record": record, **{k: min(v) for k, v in best.items()},
                "checkpoints": int(ckpts), "restores": int(restores),
                "divergences": int(divergences)}
    finally:
        subprocess.run(["rm", "-rf", d])


def row(what, flor_value, base_value, unit, ratio_label):
    ratio = flor_value / base_value if base_value else float("nan")
    print(f"{what:<46} {flor_value:>12.3f} {base_value:>12.3f} {unit:<5} {ratio:>8.2f}  "
          f"{ratio_label}")


def main():
    if "--part" in sys.argv:
        print(json.dumps(PARTS[sys.argv[sys.argv.index("--part") + 1]]()))
        return
    imports = run_imports(3 if QUICK else 7)
    log = run_part("log")
    loop = run_part("loop")
    ckpt = run_part("ckpt", FLOR_OVERHEAD="1")
    linear = {False: [], True: []}
    for _ in range(1 if QUICK else 5):
        for off in (True, False):
            linear[off].append(run_linear(off))
    replay = run_replay_bench(1 if QUICK else 5)
    print(f"{'':<46} {'flor':>12} {'baseline':>12} {'unit':<5} {'ratio':>8}")
    row("import flor vs import torch (fresh interpreter)", imports["flor"] * 1e3,
        imports["torch"] * 1e3, "ms", "flor / torch")
    row("flor.log(name, float) vs bare Python call", log["flor"] * 1e9, log["bare"] * 1e9,
        "ns", "per call")
    row("flor.log(name, int) vs bare Python call", log["flor_int"] * 1e9, log["bare_int"] * 1e9,
        "ns", "per call")
    row("flor.loop iteration vs range iteration", loop["flor"] * 1e9, loop["bare"] * 1e9, "ns",
        "per iteration")
    row("MTK.loop iteration vs range iteration", loop["mtk"] * 1e9, loop["bare"] * 1e9, "ns",
        "per iteration")
    mb = ckpt["logical"] / 1e6
    row(f"checkpoint stall vs torch.save ({mb:.0f} MB)", ckpt["stall_s"] * 1e3,
        ckpt["save_s"] * 1e3, "ms", "stall / save")
    row("  first (registers the Adam state first)", ckpt["stall_first_s"] * 1e3,
        ckpt["save_s"] * 1e3, "ms", "stall / save")
    row("  snapshot alone (checkpoints.stall_s)", ckpt["lib_stall_s"] * 1e3,
        ckpt["save_s"] * 1e3, "ms", "stall / save")
    row("bytes stored vs torch.save file: first", ckpt["stored_first"] / 1e6,
        ckpt["save_bytes"] / 1e6, "MB", "stored / file")
    row("  later checkpoints, one step apart", ckpt["stored_later"] / 1e6,
        ckpt["save_bytes"] / 1e6, "MB", "stored / file")
    row("linear.py, 1 epoch of 20000 images: process", min(w for w, _ in linear[False]),
        min(w for w, _ in linear[True]), "s", "flor / FLOR_MODE=off")
    row("  its training loop (the epoch)", min(t for _, t in linear[False]),
        min(t for _, t in linear[True]), "s", "flor / FLOR_MODE=off")
    row("linear.py, 3 epochs: replay vs retraining", replay["replay"], replay["retrain"], "s",
        "replay / retrain")
    row("  replay with the step loop probed", replay["probed"], replay["retrain"], "s",
        "probed / retrain")
    print(f"  (the record took {replay['record']:.2f} s and kept {replay['checkpoints']} "
          f"checkpoints; a replay restored {replay['restores']}; divergences over all "
          f"replays: {replay['divergences']})")


if __name__ == "__main__":
    main()
