"""Helpers for the tests of the Python module: a scratch git project per
test, and a way to run a script in it with the built package on the path.

The package is taken from $FLOR_BUILD/python (make python-test sets it),
or from build/python in the source tree.
"""
import os
import subprocess
import sys
import textwrap

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("FLOR_BUILD") or os.path.join(REPO, "build")
PYPATH = os.path.join(BUILD, "python")
if PYPATH not in sys.path:
    sys.path.insert(0, PYPATH)

import flor  # noqa: E402  (the built package; importing it records nothing)


def script_env(**extra):
    env = dict(os.environ)
    for k in ("FLOR_DIR", "FLOR_MODE", "FLOR_REPLAY", "FLOR_OVERHEAD"):
        env.pop(k, None)
    env.update(PYTHONPATH=PYPATH, FLOR_QUIET="1", FLOR_PROGRESS="0",
               GIT_AUTHOR_NAME="flor-test", GIT_AUTHOR_EMAIL="test@flor",
               GIT_COMMITTER_NAME="flor-test", GIT_COMMITTER_EMAIL="test@flor")
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Project:
    """A git repository in a scratch directory, and the working directory
    of the test while it runs."""

    def __init__(self, path):
        self.path = path

    def write(self, name, code):
        # A script runs with its own directory first on sys.path: one named
        # after a standard module (types.py, enum.py) would be imported in
        # its place by numpy or torch, on some machines and not others.
        stem = os.path.splitext(os.path.basename(name))[0]
        if stem in sys.stdlib_module_names:
            raise ValueError(f"test script {name!r} would shadow the standard module {stem!r}")
        p = self.path / name
        p.write_text(textwrap.dedent(code))
        return p

    def run(self, script, *args, check=True, env=None, timeout=300):
        r = subprocess.run([sys.executable, str(script), *map(str, args)], cwd=self.path,
                           env=script_env(**(env or {})), capture_output=True, text=True,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"{script} exited {r.returncode}\n--- stdout\n{r.stdout}"
                                 f"\n--- stderr\n{r.stderr}")
        return r

    def query(self, sql):
        return flor.query(sql)


@pytest.fixture
def project(tmp_path, monkeypatch):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    monkeypatch.chdir(tmp_path)
    for k in ("FLOR_DIR", "FLOR_MODE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("FLOR_QUIET", "1")
    return Project(tmp_path)
