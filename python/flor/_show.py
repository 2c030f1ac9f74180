"""python -m flor dataframe / query: pandas' printed table.

The flor command's own printer (cli/output.c: aligned on a terminal, CSV
through a pipe) is the C one, with no pandas; under Python the two
commands that give a table print flor.dataframe(...) / flor.query(...) as
pandas prints a DataFrame, whole (DataFrame.to_string(): every row and
column, the index first), on a terminal or not.  With --format (table,
csv, json), any other option, or without pandas, the C command runs
instead, as it does for an error (its message and exit status).
"""
import sys


def show_frame(argv):
    """Prints the frame `flor ARGV` asks for and returns 0; None when ARGV is
    not `dataframe [NAME...]` or `query SQL` with no option, or when the
    frame cannot be had (the caller then runs the C command)."""
    if not argv or argv[0] not in ("dataframe", "query"):
        return None
    operands = argv[1:]
    if any(a.startswith("-") for a in operands):
        return None
    if argv[0] == "query" and len(operands) != 1:
        return None
    try:
        import pandas  # noqa: F401  (the frame is one only with pandas)
    except ImportError:
        return None
    from . import _flor
    try:
        frame = _flor.dataframe(*operands) if argv[0] == "dataframe" else _flor.query(operands[0])
    except Exception:
        return None  # the C command says what is wrong, with its exit status
    sys.stdout.write(frame.to_string() + "\n")
    sys.stdout.flush()
    return 0
