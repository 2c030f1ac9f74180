"""flor.serve() and flor.plot(): the web page of `flor serve` from Python,
and `flor plot`'s curves shown inline in a notebook.

    server = flor.serve()        # http://127.0.0.1:PORT/, in the background
    server.stop()
    flor.plot("loss")            # a notebook shows it; .save("loss.svg")

Both run the flor command compiled into the extension (cli/cmd_serve.c,
cli/cmd_plot.c): the server as `python -m flor serve` in a process of its
own, the plot in this process.
"""
import os
import subprocess
import sys
import tempfile

from . import _flor

# The page's files, installed beside this module (python/python.mk).
_WEB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "web")


def _cli(words):
    """Runs the flor command with WORDS in this process: (status, stderr)."""
    with tempfile.TemporaryFile() as err:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(err.fileno(), 2)
        try:
            rc = _flor.cli(["flor", *words])
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        err.seek(0)
        return rc, err.read().decode(errors="replace")


class Server:
    """A `flor serve` running in the background; stop() ends it (as does
    leaving a `with` block, or the interpreter's exit)."""

    def __init__(self, proc, url):
        self.proc = proc
        self.url = url

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def __del__(self):
        self.stop()

    def __repr__(self):
        state = "running" if self.proc.poll() is None else "stopped"
        return f"<flor.Server {self.url} ({state})>"

    def _repr_html_(self):
        return f'<a href="{self.url}" target="_blank">{self.url}</a>'


def serve(port=0, bind=None, token=None, project=None):
    """Starts `flor serve` over the project around PROJECT (default: the
    working directory) on PORT (0: a free one) and returns a Server whose
    .url is the page's address.  BIND and TOKEN are the command's --bind and
    --token (a non-loopback BIND needs a TOKEN).  Raises RuntimeError with
    the command's message when it cannot start."""
    words = [sys.executable, "-m", "flor", "serve", "--port", str(int(port))]
    if bind is not None:
        words += ["--bind", str(bind)]
    env = dict(os.environ)
    # the child imports this very package, wherever it was found
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
    if token is not None:
        env["FLOR_SERVE_TOKEN"] = str(token)
    if os.path.isfile(os.path.join(_WEB, "index.html")) and not env.get("FLOR_WEB_DIR"):
        env["FLOR_WEB_DIR"] = _WEB
    proc = subprocess.Popen(words, cwd=project or os.getcwd(), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("flor serve: "):
        proc.wait()
        raise RuntimeError((proc.stderr.read().strip() or "flor serve did not start")
                           .removeprefix("flor: "))
    return Server(proc, line[len("flor serve: "):].strip())


class Plot:
    """An SVG image of curves; a notebook shows it inline (_repr_svg_)."""

    def __init__(self, svg):
        self.data = svg

    def _repr_svg_(self):
        return self.data

    def save(self, path):
        with open(path, "w") as f:
            f.write(self.data)


def plot(*names, where=None, runs=None, size=(800, 400)):
    """The curves of NAMES (values logged inside loops) against their loop
    position, one panel per name and one line per run, as `flor plot`
    draws them: replayed values dashed, divergences ringed in red.  WHERE:
    an SQL condition on the columns of the runs table; RUNS: run ids.
    Raises ValueError with the command's message (a name never logged...)."""
    if not names:
        raise ValueError("plot: expected the name of a logged value")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "plot.svg")
        words = ["plot", *map(str, names), "-o", out, "--size", "%dx%d" % tuple(size)]
        if where is not None:
            words += ["--where", where]
        if runs is not None:
            words += ["--runs", ",".join(str(int(r)) for r in runs)]
        rc, err = _cli(words)
        if rc != 0:
            raise ValueError(err.strip().splitlines()[0].removeprefix("flor: ") if err.strip()
                             else "flor plot failed (exit %d)" % rc)
        with open(out) as f:
            return Plot(f.read())
