"""python -m flor COMMAND ...: the flor command (dataframe, query, runs, ...).

The command's own C code (cli/*.c) is compiled into the extension, so this
is the same program as the `flor` binary, with the same options, output
and exit status.
"""
import sys

from . import _flor

sys.exit(_flor.cli(["flor"] + sys.argv[1:]))
