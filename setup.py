"""setuptools' half of `pip install .` (pyproject.toml holds the metadata).

The extension flor._flor is built as python/python.mk builds it, from the
same sources with the same flags:

  - libflor (src/*.c src/*/*.c) into a static archive, compiled with
    -Isrc -fvisibility=hidden;
  - the flor command's code (cli/*.c but cli/flor.c, the binary's main());
  - the module's own C (python/flor/*.c, with -Icli);

linked with -Wl,--exclude-libs,ALL, so that libflor's public symbols stay
private to the extension, which exports PyInit__flor only.  Objects go to
setuptools' build folder (build/temp.*), never next to the sources; files
compile in parallel, one job per CPU (FLOR_BUILD_JOBS=N to choose).

The version is FLOR_VERSION of include/flor.h, read here.
"""
import concurrent.futures
import glob
import os
import re
import shlex
import subprocess

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py
from setuptools.command.egg_info import egg_info

HERE = os.path.dirname(os.path.abspath(__file__))
DEPS = ["sqlite3", "libgit2", "libzstd", "libxxhash", "libcurl", "libpq"]
# The flor command's own (flor serve, flor plot), as the Makefile's CLI_DEPS.
CLI_DEPS = ["libmicrohttpd", "libpng"]
# The Makefile's CFLAGS_BASE, and -UNDEBUG: Python's own flags define
# NDEBUG, the Makefile's build keeps assert() on.
WARN = ["-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Wshadow",
        "-Wstrict-prototypes", "-Wno-unused-parameter", "-UNDEBUG",
        "-fvisibility=hidden"]


def rel(pattern):
    """The files matching pattern under the source tree, as relative paths
    (setuptools wants them so), sorted so that builds are reproducible."""
    return sorted(os.path.relpath(p, HERE) for p in glob.glob(os.path.join(HERE, pattern)))


def flor_version():
    with open(os.path.join(HERE, "include", "flor.h")) as f:
        m = re.search(r'^#define FLOR_VERSION "([^"]+)"', f.read(), re.M)
    if not m:
        raise SystemExit("setup.py: include/flor.h: no #define FLOR_VERSION \"X.Y.Z\" found")
    return m.group(1)


def pkg_config(flag, fallback, deps=DEPS):
    """pkg-config's words for the libraries, as the Makefile asks for them;
    the plain names where pkg-config is missing."""
    try:
        out = subprocess.run(["pkg-config", flag, *deps], check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return fallback
    return shlex.split(out)


LIB_SRC = rel("src/*.c") + rel("src/*/*.c")
CLI_SRC = [p for p in rel("cli/*.c") if p != os.path.join("cli", "flor.c")]
PY_SRC = rel("python/flor/*.c")
HEADERS = rel("include/*.h") + rel("src/*.h") + rel("src/*/*.h") + rel("cli/*.h") + \
    rel("python/flor/*.h")


class build_flor_ext(build_ext):
    """Builds flor._flor in three groups of objects (libflor, the command,
    the module), each with its Makefile flags, then links them."""

    def build_extension(self, ext):
        cflags = pkg_config("--cflags", [])
        groups = [  # (sources, include dirs, flags)
            (LIB_SRC, ["include", "src"], cflags),
            (CLI_SRC, ["include"], cflags + pkg_config("--cflags", [], CLI_DEPS)),
            (PY_SRC, ["include", "cli"], cflags),
        ]
        jobs = int(os.environ.get("FLOR_BUILD_JOBS") or os.cpu_count() or 1)
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = [[pool.submit(self.compile_one, src, inc, flags) for src in srcs]
                       for srcs, inc, flags in groups]
            lib_obj, cli_obj, py_obj = [[o for f in fs for o in f.result()] for fs in futures]
        self.compiler.create_static_lib(lib_obj, "flor", output_dir=self.build_temp)
        archive = self.compiler.library_filename("flor", output_dir=self.build_temp)
        libs = pkg_config("--libs", ["-lsqlite3", "-lgit2", "-lzstd", "-lxxhash", "-lcurl", "-lpq"]) + \
            pkg_config("--libs", ["-lmicrohttpd", "-lpng16"], CLI_DEPS)
        self.compiler.link_shared_object(
            cli_obj + py_obj + [archive], self.get_ext_fullpath(ext.name),
            extra_postargs=libs + ["-lpthread", "-lm", "-Wl,--exclude-libs,ALL"],
            build_temp=self.build_temp, target_lang="c")

    def compile_one(self, src, include_dirs, flags):
        return self.compiler.compile(
            [src], output_dir=self.build_temp, include_dirs=include_dirs,
            extra_postargs=WARN + flags)


class build_py_with_page(build_py):
    """The package's .py files, and flor serve's page beside them in
    flor/web/ (where flor.serve() and `python -m flor serve` look): web/'s
    own files and uPlot, which npm installs from web/package-lock.json into
    build/npm, as the Makefile does."""

    def run(self):
        super().run()
        npm_dir = os.path.join(HERE, "build", "npm")
        dist = os.path.join(npm_dir, "node_modules", "uplot", "dist")
        os.makedirs(npm_dir, exist_ok=True)
        for f in ("package.json", "package-lock.json"):
            self.copy_file(os.path.join(HERE, "web", f), os.path.join(npm_dir, f))
        try:
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefer-offline",
                            "--loglevel=error"], cwd=npm_dir, check=True)
        except (OSError, subprocess.CalledProcessError) as e:
            raise SystemExit("setup.py: flor serve's page needs uPlot from the npm registry "
                             "(npm ci in %s): %s" % (npm_dir, e))
        out = os.path.join(self.build_lib, "flor", "web")
        self.mkpath(out)
        for src in rel("web/*.html") + rel("web/*.js") + rel("web/*.css") + \
                [os.path.join(dist, "uPlot.iife.min.js"), os.path.join(dist, "uPlot.min.css")]:
            self.copy_file(os.path.join(HERE, src), os.path.join(out, os.path.basename(src)))


class egg_info_in_build(egg_info):
    """flor.egg-info goes under build/, not into python/ next to the package."""

    def initialize_options(self):
        super().initialize_options()
        self.egg_base = os.path.relpath(os.path.join(HERE, "build"), os.getcwd())
        os.makedirs(self.egg_base, exist_ok=True)


setup(
    version=flor_version(),
    # Here rather than in pyproject.toml, where Debian's setuptools (66)
    # still calls [tool.setuptools] beta and warns on every build.
    package_dir={"": "python"},
    packages=["flor"],
    # MANIFEST.in puts the C sources and web/ into the sdist; the wheel
    # holds the package's .py files, the built extension and the page
    # (build_py_with_page).
    include_package_data=False,
    ext_modules=[Extension("flor._flor", sources=PY_SRC, depends=HEADERS)],
    cmdclass={"build_ext": build_flor_ext, "build_py": build_py_with_page,
              "egg_info": egg_info_in_build},
)
