# flor: one GNU Makefile for the library, the CLI, the examples and the tests.
#
#   make                      build libflor (static + shared), the flor CLI, the examples
#   make test                 every test (unit, CLI, end-to-end)
#   make SANITIZE=1 test      the same under ASan + UBSan (objects go to build-san/)
#   make DEVELOPER=1          adds -Werror
#   make bench                the benchmarks (see bench/README.md)
#   make install PREFIX=DIR   headers, libraries, flor.pc, the CLI

PREFIX  ?= /usr/local
CC      ?= cc
OPT     ?= -O2
DEPS    := sqlite3 libgit2 libzstd libxxhash libcurl libpq
PKG_CFLAGS := $(shell pkg-config --cflags $(DEPS))
PKG_LIBS   := $(shell pkg-config --libs $(DEPS))
# Only the flor command (and the Python module, which links its code) needs
# these: flor serve's HTTP server and flor plot's PNG writer.
CLI_DEPS   := libmicrohttpd libpng
CLI_CFLAGS := $(shell pkg-config --cflags $(CLI_DEPS))
CLI_LIBS   := $(shell pkg-config --libs $(CLI_DEPS))

CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wstrict-prototypes \
               -Wno-unused-parameter -g $(OPT) -fPIC -Iinclude $(PKG_CFLAGS)
ifdef DEVELOPER
CFLAGS_BASE += -Werror
endif

ifdef SANITIZE
BUILD   ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD   ?= build
SANFLAGS :=
endif

CFLAGS  := $(CFLAGS_BASE) $(SANFLAGS) $(EXTRA_CFLAGS)
LIBCFLAGS := $(CFLAGS) -Isrc -fvisibility=hidden
LDLIBS  := $(PKG_LIBS) -lpthread -lm

# The library, one folder per layer (docs/architecture.md).
LIB_SRC := $(wildcard src/*.c src/*/*.c)
LIB_HDR := $(wildcard src/*.h src/*/*.h)
LIB_OBJ := $(LIB_SRC:src/%.c=$(BUILD)/src/%.o)
# cli/flor.c holds the binary's main(); the rest is flor_cli_main, which
# the Python module links too (python/python.mk).
CLI_SRC := $(filter-out cli/flor.c,$(wildcard cli/*.c))
CLI_OBJ := $(CLI_SRC:cli/%.c=$(BUILD)/cli/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
EXAMPLES := $(BUILD)/examples/linear $(BUILD)/examples/steps
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
PROG_SRC := $(wildcard tests/progs/*.c)
PROGS    := $(PROG_SRC:tests/progs/%.c=$(BUILD)/progs/%)

STATIC  := $(BUILD)/libflor.a
SHARED  := $(BUILD)/libflor.so
FLOR    := $(BUILD)/flor

.PHONY: all test unit-test cli-test bench install clean demo flor.pc
all: $(STATIC) $(SHARED) $(FLOR) $(EXAMPLES)

$(BUILD)/src/%.o: src/%.c $(LIB_HDR) include/flor.h
	@mkdir -p $(dir $@)
	$(CC) $(LIBCFLAGS) -c $< -o $@

$(BUILD)/cli/%.o: cli/%.c $(wildcard cli/*.h) include/flor.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CLI_CFLAGS) -c $< -o $@

$(STATIC): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(SHARED): $(LIB_OBJ)
	$(CC) $(CFLAGS) -shared -Wl,-soname,libflor.so.0 -o $@ $^ $(LDLIBS)

# The CLI and the examples link the static library: they use only flor.h.
$(FLOR): $(BUILD)/cli/flor.o $(CLI_OBJ) $(STATIC)
	$(CC) $(CFLAGS) -o $@ $(BUILD)/cli/flor.o $(CLI_OBJ) $(STATIC) $(LDLIBS) $(CLI_LIBS)

# flor serve's page (web/, docs/serve.md): its own files and uPlot, which
# npm installs from web/package-lock.json into $(BUILD)/npm (never into the
# repository); nothing is fetched while the page runs.
WEB_SRC := $(wildcard web/*.html web/*.js web/*.css)
WEB_OUT := $(WEB_SRC:web/%=$(BUILD)/web/%) $(BUILD)/web/uPlot.iife.min.js $(BUILD)/web/uPlot.min.css
NPM_DIR := $(BUILD)/npm
all: $(WEB_OUT)

$(NPM_DIR)/node_modules/uplot/package.json: web/package.json web/package-lock.json
	@mkdir -p $(NPM_DIR)
	cp web/package.json web/package-lock.json $(NPM_DIR)/
	cd $(NPM_DIR) && npm ci --no-audit --no-fund --prefer-offline --loglevel=error
	@touch $@

$(BUILD)/web/uPlot.%: $(NPM_DIR)/node_modules/uplot/package.json
	@mkdir -p $(dir $@)
	cp $(NPM_DIR)/node_modules/uplot/dist/uPlot.$* $@

$(BUILD)/web/%: web/%
	@mkdir -p $(dir $@)
	cp $< $@

$(BUILD)/examples/%: examples/%.c $(STATIC) include/flor.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -O3 -fno-math-errno -o $@ $< $(STATIC) $(LDLIBS) -lz

# Small programs the shell tests record (tests/progs/*.c); public API only.
$(BUILD)/progs/%: tests/progs/%.c $(STATIC) include/flor.h $(wildcard tests/progs/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(STATIC) $(LDLIBS)

# The MPI trainer of the ranks test (tests/mpi/*.c) and the data-parallel
# build of examples/steps.c, made with mpicc where Open MPI or MPICH is
# installed (scripts/install-deps.sh installs it).
MPICC ?= mpicc
ifneq ($(shell command -v $(MPICC) 2>/dev/null),)
PROGS += $(patsubst tests/mpi/%.c,$(BUILD)/progs/mpi_%,$(wildcard tests/mpi/*.c))
all: $(BUILD)/examples/steps-mpi
endif
$(BUILD)/examples/steps-mpi: examples/steps.c $(STATIC) include/flor.h
	@mkdir -p $(dir $@)
	$(MPICC) $(CFLAGS) -O3 -fno-math-errno -DUSE_MPI -o $@ $< $(STATIC) $(LDLIBS) -lz
$(BUILD)/progs/mpi_%: tests/mpi/%.c $(STATIC) include/flor.h
	@mkdir -p $(dir $@)
	$(MPICC) $(CFLAGS) -o $@ $< $(STATIC) $(LDLIBS)
	$(MPICC) $(CFLAGS) -DHINDSIGHT -o $@-hindsight $< $(STATIC) $(LDLIBS)

# The same, in C++: flor.h's overloads and flor::loop (tests/progs/*.cc).
PROG_CXX_SRC := $(wildcard tests/progs/*.cc)
PROGS    += $(PROG_CXX_SRC:tests/progs/%.cc=$(BUILD)/progs/%)
CXX     ?= g++
$(BUILD)/progs/%: tests/progs/%.cc $(STATIC) include/flor.h
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 -Wall -Wextra -Wshadow -Wconversion -g $(OPT) $(SANFLAGS) -Iinclude -o $@ $< $(STATIC) $(LDLIBS)
	$(CXX) -std=c++17 -Wall -Wextra -Wshadow -Wconversion -g $(OPT) $(SANFLAGS) -Iinclude -DHINDSIGHT -o $@-hindsight $< $(STATIC) $(LDLIBS)

# Benchmarks may reach into the internals to time one part alone.
$(BUILD)/bench/%: bench/%.c $(STATIC) $(LIB_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc -Isrc/store -o $@ $< $(STATIC) $(LDLIBS)

# Unit tests may reach into the library's internals.
$(BUILD)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(STATIC) $(LIB_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc -Isrc/store -o $@ $< $(STATIC) $(LDLIBS)

# An LD_PRELOAD library that fails the Nth write or sync (tests/tools/faultinject.c):
# the fault tests run real flor programs against a disk that says no.
FAULTINJECT := $(BUILD)/tests/libfaultinject.so
$(FAULTINJECT): tests/tools/faultinject.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -O2 -fPIC -shared -o $@ $< -ldl

unit-test: $(UNIT_BIN)
	@sh tests/run-unit.sh $(UNIT_BIN)

cli-test: all $(PROGS) $(FAULTINJECT)
	@FLOR_BUILD=$(abspath $(BUILD)) sh tests/cli/run.sh

test: all $(UNIT_BIN) $(PROGS) $(FAULTINJECT)
	@FLOR_BUILD=$(abspath $(BUILD)) FLOR_PYTEST='$(PYTEST_CMD)' sh tests/run-all.sh $(UNIT_BIN)

demo: all
	@FLOR_BUILD=$(abspath $(BUILD)) sh examples/demo.sh

bench: all $(BENCH_BIN) $(PROGS)
	@FLOR_BUILD=$(abspath $(BUILD)) sh bench/run.sh

# flor.pc names PREFIX: made anew by every install.  libcurl and libpq are
# linked by name (Libs.private), not through their own .pc: a static link
# would pull in every library they were built with (rtmp, ldap, ssh2,
# gssapi...), whose -dev packages a user need not have; their shared
# libraries serve both links.
flor.pc: flor.pc.in
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(shell sed -n 's/^#define FLOR_VERSION "\(.*\)"/\1/p' include/flor.h)|' \
	    -e 's|@DEPS@|$(filter-out libcurl libpq,$(DEPS))|' flor.pc.in > $@

install: all flor.pc
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 include/flor.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(STATIC) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(SHARED) $(DESTDIR)$(PREFIX)/lib/libflor.so.0
	ln -sf libflor.so.0 $(DESTDIR)$(PREFIX)/lib/libflor.so
	install -m 644 flor.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	install -m 755 $(FLOR) $(DESTDIR)$(PREFIX)/bin/
	install -d $(DESTDIR)$(PREFIX)/share/flor/web
	install -m 644 $(WEB_OUT) $(DESTDIR)$(PREFIX)/share/flor/web/

clean:
	rm -rf build build-san flor.pc

# The Python module (python/python.mk) and anything else kept in its own file.
-include python/python.mk

# ---- fuzzing (tests/fuzz/README.md) ---------------------------------------
# libFuzzer targets for every reader of outside input, built with clang into
# build-fuzz/.  `make fuzz` runs each from its seed corpus for FUZZ_TIME
# seconds (FUZZ_RUNS=N: N inputs instead) and fails, naming the target, on
# any crash, leak or sanitizer report; crashes go to build-fuzz/crashes/T/.
FUZZ_CC     ?= clang-14
FUZZ_TIME   ?= 30
FUZZ_RUNS   ?=
FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -g -O1 -Iinclude \
               $(PKG_CFLAGS) $(FUZZ_SAN)
FUZZ_LIB_OBJ := $(LIB_SRC:src/%.c=build-fuzz/src/%.o)
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN    := $(FUZZ_TARGETS:%=build-fuzz/%)

.PHONY: fuzz fuzz-build
fuzz-build: $(FUZZ_BIN)

build-fuzz/src/%.o: src/%.c $(LIB_HDR) include/flor.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Isrc -fsanitize=fuzzer-no-link -c $< -o $@

build-fuzz/libflor.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(wildcard tests/fuzz/*.h) build-fuzz/libflor.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Isrc -Isrc/store -o $@ $< build-fuzz/libflor.a $(LDLIBS)

fuzz: $(FUZZ_BIN)
	@FUZZ_TIME='$(FUZZ_TIME)' FUZZ_RUNS='$(FUZZ_RUNS)' sh tests/fuzz/run.sh $(FUZZ_TARGETS)
