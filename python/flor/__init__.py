"""flor: record training runs -- hyperparameters, metrics with their loop
context, checkpoints and the code version -- into the project's flor
database, with the API of FlorDB 3.x.

    import flor
    lr = flor.arg("lr", 1e-3)                  # --kwargs lr=0.01 overrides it
    with flor.checkpointing(model=net, optimizer=opt):
        for epoch in flor.loop("epoch", range(5)):
            for batch in flor.loop("step", loader):
                ...
                flor.log("loss", loss.item())
    flor.dataframe("loss")                     # a pandas DataFrame

Everything here is the C extension flor._flor over libflor; this file only
imports it and installs the exit hooks (see _flor.c for how a run ends).
"""
from . import _flor, _notebook
from ._args import args
from ._flor import (
    NotFoundError,
    __version__,
    arg,
    checkpointing,
    commit,
    dataframe,
    iteration,
    log,
    loop,
    query,
)
from ._notebook import notebook
from .mtk import MTK
from ._replay import replay
from ._serve import plot, serve

__all__ = ["arg", "args", "log", "loop", "checkpointing", "iteration", "commit",
           "dataframe", "query", "replay", "NotFoundError", "notebook", "MTK", "serve", "plot"]

_flor._start()
_notebook._setup()  # per-cell runs in IPython and Jupyter
