# lib-linear.sh -- for the replay tests over the example (t0400, t0410,
# t0950): the example's arguments, a build of a variant of it against the
# built library (sanitized when the library is), and the statement the
# user adds to it.

LIBS="$FLOR_BUILD/libflor.a $(pkg-config --libs sqlite3 libgit2 libzstd libxxhash libcurl libpq) -lpthread -lm -lz"
SAN=""
case "$FLOR_BUILD" in *build-san) SAN="-fsanitize=address,undefined" ;; esac
ARGS="epochs=4 ntrain=2000 ntest=500 hidden=32 print_every=20"

# build SRC OUT: compile a variant of the example against the built library
build() {
    cc $SAN -std=c11 -D_GNU_SOURCE -O2 -fno-math-errno -I"$REPO_ROOT/include" "$1" -o "$2" $LIBS
}

# The statement the user adds: the weight norm, after the step loop.
add_weight_norm() {
    sed 's|^        double t1 = now();|        { double s2 = 0; for (size_t k = 0; k < st.nparams; k++) s2 += (double)st.params[k] * st.params[k]; flor_log("weight_norm", sqrt(s2)); }\
        double t1 = now();|' "$REPO_ROOT/examples/linear.c"
}

# clear the replayed values, so each way of replaying starts afresh
forget_replays() {
    sqlite3 .flor/flor.db "DELETE FROM logs WHERE source = 'replay'"
}
