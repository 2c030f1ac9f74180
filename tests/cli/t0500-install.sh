#!/bin/sh
# A user installs flor and builds their own training program against it
# with pkg-config, linked shared or static.
. "$(dirname "$0")/lib.sh"

SAN=""
case "$FLOR_BUILD" in *build-san) SAN="-fsanitize=address,undefined" ;; esac
PREFIX="$TRASH/prefix"
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"

test_expect_success 'make install puts the header, both libraries, flor.pc and the CLI in PREFIX' '
    make -s -C "$REPO_ROOT" install PREFIX="$PREFIX" BUILD="$FLOR_BUILD" ${SAN:+SANITIZE=1} >/dev/null &&
    test -f "$PREFIX/include/flor.h" &&
    test -f "$PREFIX/lib/libflor.a" &&
    test -f "$PREFIX/lib/libflor.so.0" &&
    test -x "$PREFIX/bin/flor" &&
    pkg-config --exists flor &&
    test "$(pkg-config --modversion flor)" = "$(sed -n "s/^#define FLOR_VERSION \"\(.*\)\"/\1/p" "$REPO_ROOT/include/flor.h")"
'

test_expect_success 'a program builds with pkg-config against the shared library and records' '
    new_project mine && cd mine &&
    cc $SAN "$REPO_ROOT/tests/progs/toy.c" -o train $(pkg-config --cflags --libs flor) &&
    LD_LIBRARY_PATH="$PREFIX/lib" ./train --kwargs epochs=1 &&
    "$PREFIX/bin/flor" query "SELECT filename, status FROM runs" --format csv >actual &&
    printf "filename,status\ntrain,finished\n" >expect &&
    test_cmp expect actual
'

test_expect_success 'the shared build starts with no library path set: flor.pc carries an rpath' '
    cd mine &&
    cc $SAN "$REPO_ROOT/tests/progs/toy.c" -o train_rpath $(pkg-config --cflags --libs flor) &&
    (unset LD_LIBRARY_PATH; ./train_rpath --kwargs epochs=1) &&
    (unset LD_LIBRARY_PATH; ldd ./train_rpath) | grep -F "$PREFIX/lib/libflor.so.0" &&
    test "$("$PREFIX/bin/flor" query "SELECT count(*) FROM runs" --format csv | tail -n 1)" -eq 2
'

test_expect_success 'and statically, with no library path at run time' '
    cd mine &&
    cc $SAN "$REPO_ROOT/tests/progs/toy.c" -o train_static \
        $(pkg-config --cflags flor) "$PREFIX/lib/libflor.a" $(pkg-config --libs --static flor | sed "s/-lflor//") &&
    ./train_static &&
    test "$("$PREFIX/bin/flor" query "SELECT count(*) FROM runs" --format csv | tail -n 1)" -eq 3
'

test_done
