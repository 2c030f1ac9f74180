"""python -m flor COMMAND ...: the flor command (dataframe, query, runs, ...).

The command's own C code (cli/*.c) is compiled into the extension, so this
is the same program as the `flor` binary, with the same options, output
and exit status; but `dataframe` and `query` without --format print
pandas' table (_show.py).
"""
import os
import sys

from . import _flor
from ._serve import _WEB
from ._show import show_frame

# flor serve's page: installed beside the package (setup.py, python/python.mk)
if os.path.isfile(os.path.join(_WEB, "index.html")) and not os.environ.get("FLOR_WEB_DIR"):
    os.environ["FLOR_WEB_DIR"] = _WEB

shown = show_frame(sys.argv[1:])  # dataframe and query: pandas' table (see _show.py)
sys.exit(shown if shown is not None else _flor.cli(["flor"] + sys.argv[1:]))
