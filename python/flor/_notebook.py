"""flor in IPython and Jupyter: each cell that records something is a run.

As in FlorDB 3.x, a cell that calls flor.arg, flor.log, flor.loop,
flor.checkpointing or flor.iteration is recorded as one run, ended by a
post_run_cell hook when the cell is done (as `failed` when it raised, and
`killed` when it was interrupted); a cell that records nothing makes no
run.  The run is named after the notebook, found in this order:

    flor.notebook("tutorial.ipynb")      an explicit call
    FLOR_NOTEBOOK=tutorial.ipynb         in the kernel's environment
    __session__ / JPY_SESSION_NAME       what a Jupyter server tells its kernel

and is `ipython` when none says (an IPython terminal, or a kernel started
by a client that does not say, as nbclient does).  The code version is the
snapshot of the working tree flor takes for every run, which holds the
notebook as last saved.

Under `python -i` or the plain REPL (sys.argv[0] == ""), the one run of
the session is named `<stdin>`.
"""
import os
import sys

from . import _flor

_STATUS = {"finished": 0, "failed": 1, "killed": 2}

_explicit = None  # set by notebook()
_shell = None     # the IPython shell the hooks are registered with


def notebook(path):
    """Names the runs of this notebook's cells after PATH (the notebook's
    file, e.g. "tutorial.ipynb"), for kernels that are not told it.  A
    run already begun keeps its name; the next ones take PATH."""
    global _explicit
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise ValueError(f"flor.notebook: expected the notebook's path, got {path!r}")
    _explicit = os.fspath(path)
    _flor._program([_explicit])


def _notebook_path():
    if _explicit:
        return _explicit
    for value in (os.environ.get("FLOR_NOTEBOOK"),
                  _shell.user_ns.get("__session__") if _shell is not None else None,
                  os.environ.get("JPY_SESSION_NAME")):
        if isinstance(value, str) and value:
            return value
    return None


def _name_next_run(*_):
    path = _notebook_path()
    _flor._program([path] if path else ["ipython"])


def _end_cell_run(result):
    exc = result.error_in_exec if result is not None else None
    if exc is None:
        status = "finished"
    elif isinstance(exc, KeyboardInterrupt):
        status = "killed"
    else:
        status = "failed"
    _flor._end_run(_STATUS[status], exc)


def _setup():
    """Called by flor/__init__.py at import."""
    global _shell
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        if sys.argv and sys.argv[0] == "":
            _flor._program(["<stdin>", *sys.argv[1:]])
        return
    if _shell is shell:
        return
    _shell = shell
    _name_next_run()
    shell.events.register("pre_run_cell", _name_next_run)
    shell.events.register("post_run_cell", _end_cell_run)
