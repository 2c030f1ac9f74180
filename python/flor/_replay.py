"""flor.replay: FlorDB's hindsight logging, from a notebook or a script.

The launches are the library's (flor._flor._replay, over flor.h's
flor_replay_* calls, one launch per recorded script); this file only
chooses the interpreter, takes FlorDB's keyword where_clause, and turns
what each launch did with each run (flor_replay_runs) into the frame it
returns.  See docs/python.md, "Replay".
"""
import os
import sys
import warnings

from . import _flor

COLUMNS = ["program", "run", "tstamp", "vid", "outcome", "segments", "seconds", "new_values",
           "divergences", "conflicts", "error"]

# the launcher's status of a run, in the frame's words
_OUTCOME = {"finished": "replayed", "skipped": "nothing to do"}
_SUCCESS = ("replayed", "nothing to do")


def replay(vars, where=None, replay_every=None, *, where_clause=None, python=None, probe=(),
           slurm=None):
    """Hindsight logging: replays the project's runs (those WHERE selects, an
    SQL condition over the runs' columns and their args; FlorDB's keyword
    where_clause is the same) in their own code versions, with the
    statements that log VARS (names added to the script since) carried in,
    as `flor replay VARS... [--where WHERE] -- PYTHON SCRIPT` does (progress
    on stderr).  PYTHON: the interpreter that runs each script, by default
    $FLOR_PYTHON, else this one (sys.executable).  PROBE: loops to run
    rather than skip (a name or a list of names), as --probe LOOP does.
    SLURM: True, or sbatch's options as one str ("-p gpu --time=60", split
    at blanks), runs the segments as one Slurm job array and waits for it,
    as --slurm[=OPTIONS] does (docs/team.md: the nodes must share the
    project's file system); None or False: here.

    Returns a pandas DataFrame (without pandas, a list of dicts), one row per
    run: program, run, tstamp, vid, outcome (replayed, nothing to do,
    conflict, build failed, failed, killed, cancelled, missing version, no
    code version), segments, seconds, new_values, divergences, conflicts,
    error.  When some runs could not be replayed, a RuntimeWarning says so
    and they are in the frame; only when none could be is it an error
    (RuntimeError; flor.NotFoundError when there was nothing to replay).
    Then flor.dataframe(*VARS) has their values."""
    if where_clause is not None:
        if where is not None:
            raise TypeError("flor.replay: where and where_clause are the same condition "
                            "(where_clause is FlorDB's name for it): give one of them")
        if not isinstance(where_clause, str):
            raise TypeError("flor.replay: where_clause must be an SQL condition (str) or None, "
                            f"not {type(where_clause).__name__}")
        where = where_clause
    if python is None:
        python = os.environ.get("FLOR_PYTHON") or sys.executable
        if not python:
            raise RuntimeError("flor.replay: sys.executable is not known: name the "
                               "interpreter, as in flor.replay(..., python='/usr/bin/python3')")
    elif not isinstance(python, str):
        raise TypeError(f"flor.replay: python must be a path (str), not {type(python).__name__}")
    probes = [probe] if isinstance(probe, str) else list(probe)
    for p in probes:
        if not isinstance(p, str) or not p or "," in p:
            raise TypeError(f"flor.replay: probe must be loop names, not {p!r}")
    if slurm is True:
        slurm = ""
    elif slurm is False:
        slurm = None
    elif slurm is not None and not isinstance(slurm, str):
        raise TypeError("flor.replay: slurm must be True, sbatch's options (str) or None, "
                        f"not {type(slurm).__name__}")
    rows, problems, nothing = [], [], []
    for done in _flor._replay(vars, where, replay_every, python, ",".join(probes) or None,
                              slurm):
        if done["runs"] is None:
            (nothing if done["notfound"] else problems).append(done["error"])
            continue
        for r in done["runs"]:
            row = {"program": os.path.basename(done["program"]), **r}  # runs.filename
            row["outcome"] = _OUTCOME.get(r["status"], r["status"])
            del row["status"]
            rows.append(row)
    failed = [r for r in rows if r["outcome"] not in _SUCCESS]
    why = [_describe(r) for r in failed] + problems
    if len(failed) == len(rows):
        if rows or problems:
            raise RuntimeError("flor.replay: nothing could be replayed: " + "; ".join(why))
        raise _flor.NotFoundError("flor.replay: nothing to replay: " + "; ".join(nothing))
    if why:
        replayed = sum(r["outcome"] == "replayed" for r in rows)
        warnings.warn(f"flor.replay: replayed {replayed} of {len(rows)} runs; the others could "
                      "not be (see the frame's outcome and error): " + "; ".join(why),
                      RuntimeWarning, stacklevel=2)
    return _frame(rows)


def _describe(row):
    vid = f", version {row['vid']}" if row["vid"] else ""
    error = f": {row['error']}" if row["error"] else ""
    return f"run {row['run']}{vid} {row['outcome']}{error}"


def _frame(rows):
    try:
        import pandas
    except ImportError:
        return [{c: r.get(c) for c in COLUMNS} for r in rows]
    return pandas.DataFrame([[r.get(c) for c in COLUMNS] for r in rows], columns=COLUMNS)
