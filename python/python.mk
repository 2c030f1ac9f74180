# python.mk -- the Python module flor (included by the top-level Makefile).
#
#   make python          builds $(BUILD)/python/flor: the extension flor._flor
#                        and the package's .py files; use it with
#                        PYTHONPATH=$(BUILD)/python /usr/bin/python3
#   make python-test     the pytest suite in tests/python
#   make python-bench    bench/bench_python.py
#   make install         also installs the package into
#                        $(PREFIX)/lib/python3/dist-packages/flor
#
# The extension is C (python/flor/*.c) over the public API only: it links
# the static libflor and the flor command's objects (cli/*.c but cli/flor.c,
# the binary's main()), calling flor_cli_main, so that `python -m flor` is
# the same program as `flor`.  Symbols of the static libraries are kept private to the
# extension (--exclude-libs).
#
# Under SANITIZE=1 the Python targets are skipped: an ASan-instrumented
# extension can only be loaded by a python started with libasan preloaded,
# and libflor itself is covered by the sanitized C tests.

PYTHON    ?= /usr/bin/python3
PY_CONFIG ?= $(PYTHON)-config
PY_OUT    := $(BUILD)/python/flor
PY_SRC    := $(wildcard python/flor/*.c)
PY_FILES  := $(wildcard python/flor/*.py)

.PHONY: python python-test python-install python-bench
all: python
test: python
install: python-install
bench: python-bench

ifdef SANITIZE
python python-test python-install python-bench:
	@echo "$@: skipped under SANITIZE=1 (the extension is built and tested without sanitizers)"
else

PY_INCLUDES := $(shell $(PY_CONFIG) --includes 2>/dev/null)
PY_SUFFIX   := $(shell $(PY_CONFIG) --extension-suffix 2>/dev/null)

ifeq ($(PY_SUFFIX),)
python python-test python-install python-bench:
	@echo "$@: skipped: $(PY_CONFIG) not found (install python3-dev)"
else

PY_EXT     := $(PY_OUT)/_flor$(PY_SUFFIX)
PY_OBJ     := $(PY_SRC:python/flor/%.c=$(BUILD)/python/obj/%.o)
PY_CLI_OBJ := $(CLI_SRC:cli/%.c=$(BUILD)/python/obj/cli_%.o)
PY_CFLAGS  := $(CFLAGS_BASE) $(EXTRA_CFLAGS) $(PY_INCLUDES) -fvisibility=hidden
PY_COPIES  := $(PY_FILES:python/flor/%=$(PY_OUT)/%)

# flor serve's page, for flor.serve() (python/flor/_serve.py)
PY_WEB     := $(WEB_OUT:$(BUILD)/web/%=$(PY_OUT)/web/%)

python: $(PY_EXT) $(PY_COPIES) $(PY_WEB)

$(PY_OUT)/web/%: $(BUILD)/web/%
	@mkdir -p $(dir $@)
	cp $< $@

$(BUILD)/python/obj/%.o: python/flor/%.c python/flor/_flor.h include/flor.h cli/cli.h
	@mkdir -p $(dir $@)
	$(CC) $(PY_CFLAGS) -Icli -c $< -o $@

$(BUILD)/python/obj/cli_%.o: cli/%.c $(wildcard cli/*.h) include/flor.h
	@mkdir -p $(dir $@)
	$(CC) $(PY_CFLAGS) $(CLI_CFLAGS) -c $< -o $@

$(PY_EXT): $(PY_OBJ) $(PY_CLI_OBJ) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(PY_CFLAGS) -shared -o $@ $(PY_OBJ) $(PY_CLI_OBJ) $(STATIC) $(LDLIBS) $(CLI_LIBS) \
	    -Wl,--exclude-libs,ALL

$(PY_OUT)/%.py: python/flor/%.py
	@mkdir -p $(dir $@)
	cp $< $@

# `make test` runs this too, from tests/run-all.sh, which counts its
# results into the suite's last line.
PYTEST_CMD := cd $(CURDIR) && PYTHONPATH=$(abspath $(BUILD))/python \
    FLOR_BUILD=$(abspath $(BUILD)) $(PYTHON) -m pytest -q -p no:cacheprovider tests/python

python-test: python
	$(PYTEST_CMD)

python-bench: python
	cd $(CURDIR) && PYTHONPATH=$(abspath $(BUILD))/python $(PYTHON) bench/bench_python.py

PY_DEST := $(DESTDIR)$(PREFIX)/lib/python3/dist-packages/flor

python-install: python
	install -d $(PY_DEST)
	install -m 644 $(PY_COPIES) $(PY_DEST)/
	install -m 755 $(PY_EXT) $(PY_DEST)/
	install -d $(PY_DEST)/web
	install -m 644 $(PY_WEB) $(PY_DEST)/web/

endif
endif
