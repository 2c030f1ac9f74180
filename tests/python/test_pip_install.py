"""`pip install .` and `python3 -m build`: the package builds offline from a
clean copy of the source tree, with no `make` first, into a fresh venv of
/usr/bin/python3, and works from outside the tree: `import flor`, the `flor`
command, a recorded run shown by `flor dataframe` and `python -m flor
dataframe`.

Cost: each of the two module-scoped fixtures compiles libflor once (about a
minute each on a quiet 2-core machine; several on a busy one), so this
module takes two to five minutes; every test shares those two builds.
"""
import os
import re
import shutil
import subprocess
import sys
import tarfile
import textwrap
import zipfile

import pytest

from conftest import REPO

PYTHON = "/usr/bin/python3"
# Nothing may be fetched: pip would time out against an unreachable PyPI.
OFFLINE = ["--no-index", "--disable-pip-version-check"]

pytestmark = pytest.mark.skipif(
    subprocess.run([PYTHON, "-c", "import venv, setuptools, wheel, build"],
                   capture_output=True).returncode != 0,
    reason="needs python3-venv, python3-setuptools, python3-wheel, python3-build "
           "(scripts/install-deps.sh)")


# flor serve's page, as the package carries it (setup.py's build_py_with_page).
PAGE = sorted(["flor/web/" + f for f in os.listdir(os.path.join(REPO, "web"))
               if f.endswith((".html", ".js", ".css"))] +
              ["flor/web/uPlot.iife.min.js", "flor/web/uPlot.min.css"])


def clean_env():
    """The environment of a user's shell: no PYTHONPATH pointing at the
    Makefile's build, no flor settings, a git identity for the snapshots."""
    env = {k: v for k, v in os.environ.items()
           if k != "PYTHONPATH" and not k.startswith("FLOR_") and k != "VIRTUAL_ENV"}
    env.update(FLOR_QUIET="1", FLOR_PROGRESS="0",
               GIT_AUTHOR_NAME="flor-test", GIT_AUTHOR_EMAIL="test@flor",
               GIT_COMMITTER_NAME="flor-test", GIT_COMMITTER_EMAIL="test@flor")
    return env


def run(cmd, cwd, timeout=900):
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=clean_env(),
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(f"{cmd} exited {r.returncode}\n--- stdout\n{r.stdout[-4000:]}"
                             f"\n--- stderr\n{r.stderr[-4000:]}")
    return r


def tree_files(root):
    out = set()
    for d, _, files in os.walk(root):
        for f in files:
            out.add(os.path.relpath(os.path.join(d, f), root))
    return out


def source_copy(dest):
    """The working tree's files that git tracks or would track (`git
    ls-files`), copied to dest: stray build outputs of the checkout are left
    behind."""
    names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                            "--exclude-standard"], cwd=REPO, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for name in filter(None, names):
        src = os.path.join(REPO, name)
        if os.path.isfile(src):
            os.makedirs(os.path.join(dest, os.path.dirname(name)), exist_ok=True)
            shutil.copy2(src, os.path.join(dest, name))
    assert not os.path.exists(os.path.join(dest, "build")), "the copy must start without build/"
    return dest


def flor_version():
    with open(os.path.join(REPO, "include", "flor.h")) as f:
        return re.search(r'^#define FLOR_VERSION "([^"]+)"', f.read(), re.M).group(1)


def venv(path, system_site_packages):
    cmd = [PYTHON, "-m", "venv", path]
    if system_site_packages:
        cmd.insert(3, "--system-site-packages")
    run(cmd, cwd=os.path.dirname(path))
    return path


def site_packages(v):
    return run([os.path.join(v, "bin", "python"), "-c",
                "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
               cwd=v).stdout.strip()


@pytest.fixture(scope="module")
def pip_installed(tmp_path_factory):
    """`pip install --no-build-isolation <tree>` into a venv that sees
    Debian's torch, pandas, setuptools and wheel (--system-site-packages)."""
    base = tmp_path_factory.mktemp("pip")
    tree = source_copy(str(base / "flor-src"))
    before = tree_files(tree)
    v = venv(str(base / "venv"), system_site_packages=True)
    run([os.path.join(v, "bin", "pip"), "install", *OFFLINE, "--no-build-isolation", tree],
        cwd=str(base))
    return {"venv": v, "tree": tree, "before": before, "base": base}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """`python3 -m build --no-isolation --wheel` of a clean copy."""
    base = tmp_path_factory.mktemp("wheel")
    tree = source_copy(str(base / "flor-src"))
    dist = base / "dist"
    run([PYTHON, "-m", "build", "--no-isolation", "--wheel", "--outdir", dist, tree],
        cwd=str(base))
    wheels = list(dist.glob("flor-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture
def user_project(tmp_path):
    """A git project of the user's, outside the source tree."""
    run(["git", "init", "-q", tmp_path], cwd=tmp_path)
    (tmp_path / "train.py").write_text(textwrap.dedent("""\
        import flor
        for epoch in flor.loop("epoch", range(3)):
            flor.log("loss", 1.0 / (epoch + 2))
    """))
    return tmp_path


def test_the_installed_module_is_the_venvs(pip_installed, tmp_path):
    v = pip_installed["venv"]
    out = run([os.path.join(v, "bin", "python"), "-c",
               "import flor; print(flor.__file__); print(flor.__version__)"],
              cwd=tmp_path).stdout.split()
    assert out[0] == os.path.join(site_packages(v), "flor", "__init__.py")
    assert out[1] == flor_version()


def test_the_flor_command_is_in_the_venvs_bin(pip_installed, tmp_path):
    flor_cmd = os.path.join(pip_installed["venv"], "bin", "flor")
    r = run([flor_cmd, "--help"], cwd=tmp_path)
    assert r.stdout.startswith("usage: flor ")
    assert "dataframe" in r.stdout
    assert run([flor_cmd, "--version"], cwd=tmp_path).stdout == f"flor {flor_version()}\n"
    # A usage error is the command's, with its exit status, not a traceback.
    bad = subprocess.run([flor_cmd, "no-such-command"], cwd=tmp_path, env=clean_env(),
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "'no-such-command' is not a flor command" in bad.stderr


def test_a_recorded_run_shows_in_flor_dataframe_and_python_m_flor(pip_installed, user_project):
    v = pip_installed["venv"]
    run([os.path.join(v, "bin", "python"), "train.py"], cwd=user_project)
    for cmd in ([os.path.join(v, "bin", "flor"), "dataframe", "loss"],
                [os.path.join(v, "bin", "python"), "-m", "flor", "dataframe", "loss"]):
        out = run(cmd, cwd=user_project).stdout
        assert "loss" in out and "train.py" in out, (cmd, out)
        for value in ("0.5", "0.333", "0.25"):
            assert value in out, (cmd, value, out)


def test_the_extension_exports_only_its_init(pip_installed):
    """libflor's symbols stay private to the extension, as in the Makefile's
    build: another libflor in the same process cannot clash with it."""
    pkg = os.path.join(site_packages(pip_installed["venv"]), "flor")
    (ext,) = [f for f in os.listdir(pkg) if f.startswith("_flor") and f.endswith(".so")]
    nm = run(["nm", "-D", "--defined-only", os.path.join(pkg, ext)], cwd=pkg).stdout
    assert [line.split()[-1] for line in nm.splitlines()] == ["PyInit__flor"]


def test_the_build_leaves_the_source_tree_clean_but_build(pip_installed):
    new = tree_files(pip_installed["tree"]) - pip_installed["before"]
    outside = sorted(f for f in new if not f.startswith("build" + os.sep))
    assert outside == []
    assert any(f.endswith(".o") for f in new), "the objects were expected under build/"


def test_flor_serve_serves_the_page_and_uplot_from_the_installed_package(pip_installed,
                                                                         user_project):
    """flor.serve() and the venv's `flor serve` find the page in the
    installed package (flor/web/: web/'s files and uPlot from npm), with no
    build tree nor FLOR_WEB_DIR around."""
    v = pip_installed["venv"]
    run([os.path.join(v, "bin", "python"), "train.py"], cwd=user_project)
    web = os.path.join(site_packages(v), "flor", "web")
    assert sorted(os.listdir(web)) == sorted(os.path.basename(f) for f in PAGE)
    check = textwrap.dedent("""\
        import os, subprocess, sys, urllib.request
        import flor
        web = sys.argv[1]

        def same(url, name):
            with urllib.request.urlopen(url + name, timeout=30) as r:
                body = r.read()
            with open(os.path.join(web, name), "rb") as f:
                assert body == f.read(), name
            return body

        with flor.serve() as server:
            assert b"<title>flor</title>" in same(server.url, "index.html")
            assert b"uPlot" in same(server.url, "uPlot.iife.min.js")
            same(server.url, "uPlot.min.css")
            same(server.url, "app.js")
        cmd = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "flor"), "serve",
                                "--port", "0"], stdout=subprocess.PIPE, text=True)
        try:
            url = cmd.stdout.readline().split("flor serve: ")[1].strip()
            assert b"uPlot" in same(url, "uPlot.iife.min.js")
        finally:
            cmd.terminate()
            cmd.wait()
        print("served")
    """)
    out = run([os.path.join(v, "bin", "python"), "-c", check, web], cwd=user_project)
    assert out.stdout.strip() == "served"


def test_the_wheel_holds_the_package_the_extension_and_the_page(wheel):
    with zipfile.ZipFile(wheel) as z:
        pkg = sorted(n for n in z.namelist() if n.startswith("flor/"))
    py = sorted("flor/" + f for f in os.listdir(os.path.join(REPO, "python", "flor"))
                if f.endswith(".py"))
    (ext,) = [n for n in pkg if n.endswith(".so")]
    assert ext.startswith("flor/_flor.")
    assert pkg == sorted(py + [ext] + PAGE)


def test_the_wheel_installs_into_a_venv_without_system_packages(wheel, user_project):
    v = venv(str(wheel.parent.parent / "plain-venv"), system_site_packages=False)
    run([os.path.join(v, "bin", "pip"), "install", *OFFLINE, wheel], cwd=user_project)
    out = run([os.path.join(v, "bin", "python"), "-c", "import flor; print(flor.__file__)"],
              cwd=user_project).stdout.strip()
    assert out == os.path.join(site_packages(v), "flor", "__init__.py")
    assert run([os.path.join(v, "bin", "flor"), "--help"],
               cwd=user_project).stdout.startswith("usage: flor ")
    # Recording needs neither torch nor pandas.
    run([os.path.join(v, "bin", "python"), "train.py"], cwd=user_project)
    runs = run([os.path.join(v, "bin", "flor"), "runs"], cwd=user_project).stdout
    assert "train.py" in runs


def test_an_sdist_carries_every_source_the_extension_is_built_from(tmp_path):
    """`python3 -m build --no-isolation` makes the wheel from the sdist: it
    must hold the headers and C files setup.py compiles (no compiling here)."""
    tree = source_copy(str(tmp_path / "flor-src"))
    run([PYTHON, "-m", "build", "--no-isolation", "--sdist", "--outdir", tmp_path / "dist",
         tree], cwd=tmp_path)
    (sdist,) = (tmp_path / "dist").glob("flor-*.tar.gz")
    with tarfile.open(sdist) as t:
        inside = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    wanted = {f for f in tree_files(tree)
              if f.startswith(("include/", "src/", "cli/", "python/flor/"))
              and f.endswith((".c", ".h", ".py"))}
    wanted |= {"setup.py", "pyproject.toml"}
    assert wanted - inside == set()
