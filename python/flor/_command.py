"""The `flor` command of an installed package (pyproject.toml's console
script): it runs `python -m flor` with the same words, so the two are the
same program, the one compiled into the extension (see __main__.py)."""
import runpy


def main():
    runpy.run_module("flor", run_name="__main__", alter_sys=True)
