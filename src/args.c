/*
 * args.c -- hyperparameters: the --kwargs flag, and flor_arg(), which
 * parses an override to the type of the default and records the value
 * used.  Works in every mode: with FLOR_MODE=off the overrides still apply
 * (so timing with and without flor runs the same training), only nothing
 * is recorded.
 */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct kwarg {
    char *name;
    char *value;
    int used;
} kwarg;

typedef struct argval {
    char *name;
    flor_type type;
    union {
        int64_t i;
        double r;
        char *s;
    } v;
} argval;

static kwarg *kwargs;
static int nkwargs;
static argval *seen; /* every arg read, so a second read returns the same value */
static int nseen, capseen;
static int ord;
static char *first_error; /* for flor_arg_error() */

int flor__kwargs_parse(int *argc, char ***argvp)
{
    char **argv = *argvp;
    for (int i = 1; i < *argc;) {
        if (strcmp(argv[i], "--") == 0)
            break; /* everything after belongs to the program */
        if (strcmp(argv[i], "--kwargs") != 0) {
            i++;
            continue;
        }
        int j = i + 1;
        while (j < *argc && strchr(argv[j], '=') && strncmp(argv[j], "--", 2) != 0)
            j++;
        if (j == i + 1)
            return flor__err(FLOR_EINVAL, "--kwargs: expected NAME=VALUE after it");
        kwarg *k = realloc(kwargs, (size_t)(nkwargs + j - i - 1) * sizeof *k);
        if (!k)
            return flor__err(FLOR_ENOMEM, "out of memory");
        kwargs = k;
        for (int a = i + 1; a < j; a++) {
            const char *eq = strchr(argv[a], '=');
            if (eq == argv[a])
                return flor__err(FLOR_EINVAL, "--kwargs %s: expected NAME=VALUE", argv[a]);
            kwarg *kw = NULL;
            size_t nl = (size_t)(eq - argv[a]);
            for (int x = 0; x < nkwargs; x++)
                if (strlen(kwargs[x].name) == nl && strncmp(kwargs[x].name, argv[a], nl) == 0)
                    kw = &kwargs[x]; /* the last one given wins */
            if (!kw) {
                kw = &kwargs[nkwargs++];
                kw->name = strndup(argv[a], nl);
            } else {
                free(kw->value);
            }
            kw->value = flor__strdup(eq + 1);
            kw->used = 0;
            if (!kw->name || !kw->value)
                return flor__err(FLOR_ENOMEM, "out of memory");
        }
        flor__argv_remove(argc, argv, i, j - i);
    }
    return 0;
}

int flor__kwargs_given(void) { return nkwargs; }

void flor__kwargs_release(void)
{
    for (int i = 0; i < nkwargs; i++) {
        free(kwargs[i].name);
        free(kwargs[i].value);
    }
    free(kwargs);
    kwargs = NULL;
    nkwargs = 0;
    for (int i = 0; i < nseen; i++) {
        free(seen[i].name);
        if (seen[i].type == FLOR_TEXT)
            free(seen[i].v.s);
    }
    free(seen);
    seen = NULL;
    free(first_error);
    first_error = NULL;
    nseen = capseen = 0;
    ord = 0;
}

static kwarg *find_kwarg(const char *name)
{
    for (int i = 0; i < nkwargs; i++)
        if (strcmp(kwargs[i].name, name) == 0)
            return &kwargs[i];
    return NULL;
}

static argval *find_seen(const char *name)
{
    for (int i = 0; i < nseen; i++)
        if (strcmp(seen[i].name, name) == 0)
            return &seen[i];
    return NULL;
}

static void record(const argval *a, int from_kwargs)
{
    if (!flor__recording() || !pthread_equal(pthread_self(), flor__R.owner))
        return;
    flor__rec r = {.kind = FLOR__REC_ARG, .type = (uint8_t)a->type, .aux = (uint16_t)from_kwargs,
                   .ctx = ord++};
    if (flor__name_intern(a->name, &r.name) != 0)
        return;
    if (a->type == FLOR_TEXT) {
        flor__emit(&r, a->v.s, strlen(a->v.s));
    } else {
        if (a->type == FLOR_INTEGER)
            r.v.i = a->v.i;
        else
            r.v.r = a->v.r;
        flor__emit(&r, NULL, 0);
    }
}

static argval *remember(const char *name, flor_type type)
{
    if (nseen == capseen) {
        int cap = capseen ? capseen * 2 : 16;
        argval *s = realloc(seen, (size_t)cap * sizeof *s);
        if (!s)
            return NULL;
        seen = s;
        capseen = cap;
    }
    argval *a = &seen[nseen];
    a->name = flor__strdup(name);
    if (!a->name)
        return NULL;
    a->type = type;
    nseen++;
    return a;
}

static int parse_long(const kwarg *k, long *out)
{
    errno = 0;
    char *end;
    long v = strtol(k->value, &end, 0);
    if (!*k->value || *end || errno == ERANGE)
        return flor__err(FLOR_EINVAL, "--kwargs %s=%s: expected an integer%s", k->name, k->value,
                         errno == ERANGE ? " in range" : "");
    *out = v;
    return 0;
}

static int parse_double(const kwarg *k, double *out)
{
    char *end;
    double v = strtod(k->value, &end);
    if (!*k->value || *end)
        return flor__err(FLOR_EINVAL, "--kwargs %s=%s: expected a number", k->name, k->value);
    *out = v;
    return 0;
}

static int parse_bool(const kwarg *k, bool *out)
{
    static const char *yes[] = {"true", "1", "yes", "on"}, *no[] = {"false", "0", "no", "off"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(k->value, yes[i]) == 0)
            return *out = true, 0;
        if (strcasecmp(k->value, no[i]) == 0)
            return *out = false, 0;
    }
    return flor__err(FLOR_EINVAL, "--kwargs %s=%s: expected true or false", k->name, k->value);
}

static int bad_name(const char *name)
{
    if (!name || !*name)
        return flor__err(FLOR_EINVAL, "flor_arg: the name must be a non-empty string");
    return 0;
}

int flor_arg_long(const char *name, long dflt, long *out)
{
    *out = dflt;
    int rc = bad_name(name);
    if (rc)
        return rc;
    argval *a = find_seen(name);
    if (a) {
        *out = a->type == FLOR_INTEGER ? (long)a->v.i
               : a->type == FLOR_REAL  ? (long)a->v.r
                                       : strtol(a->v.s, NULL, 0);
        return 0;
    }
    kwarg *k = find_kwarg(name);
    long v = dflt;
    if (k)
        k->used = 1; /* read, even if malformed: not an unknown name */
    if (k && (rc = parse_long(k, &v)) != 0)
        return rc;
    if (!(a = remember(name, FLOR_INTEGER)))
        return flor__err(FLOR_ENOMEM, "out of memory");
    a->v.i = v;
    record(a, k != NULL);
    *out = v;
    return 0;
}

int flor_arg_double(const char *name, double dflt, double *out)
{
    *out = dflt;
    int rc = bad_name(name);
    if (rc)
        return rc;
    argval *a = find_seen(name);
    if (a) {
        *out = a->type == FLOR_REAL      ? a->v.r
               : a->type == FLOR_INTEGER ? (double)a->v.i
                                         : strtod(a->v.s, NULL);
        return 0;
    }
    kwarg *k = find_kwarg(name);
    double v = dflt;
    if (k)
        k->used = 1; /* read, even if malformed: not an unknown name */
    if (k && (rc = parse_double(k, &v)) != 0)
        return rc;
    if (!(a = remember(name, FLOR_REAL)))
        return flor__err(FLOR_ENOMEM, "out of memory");
    a->v.r = v;
    record(a, k != NULL);
    *out = v;
    return 0;
}

int flor_arg_text(const char *name, const char *dflt, const char **out)
{
    *out = dflt;
    int rc = bad_name(name);
    if (rc)
        return rc;
    argval *a = find_seen(name);
    if (a) {
        *out = a->type == FLOR_TEXT ? a->v.s : dflt;
        return 0;
    }
    kwarg *k = find_kwarg(name);
    const char *v = k ? k->value : dflt;
    if (k)
        k->used = 1;
    if (!v) {
        *out = NULL;
        return 0; /* a NULL default with no override: nothing to record */
    }
    if (!(a = remember(name, FLOR_TEXT)) || !(a->v.s = flor__strdup(v))) {
        if (a)
            a->type = FLOR_NULL;
        return flor__err(FLOR_ENOMEM, "out of memory");
    }
    record(a, k != NULL);
    *out = a->v.s;
    return 0;
}

int flor_arg_bool(const char *name, bool dflt, bool *out)
{
    *out = dflt;
    int rc = bad_name(name);
    if (rc)
        return rc;
    argval *a = find_seen(name);
    if (a) {
        *out = a->type == FLOR_TEXT ? (strcmp(a->v.s, "true") == 0 || strcmp(a->v.s, "1") == 0)
                                    : a->v.i != 0;
        return 0;
    }
    kwarg *k = find_kwarg(name);
    bool v = dflt;
    if (k)
        k->used = 1; /* read, even if malformed: not an unknown name */
    if (k && (rc = parse_bool(k, &v)) != 0)
        return rc;
    if (!(a = remember(name, FLOR_INTEGER)))
        return flor__err(FLOR_ENOMEM, "out of memory");
    a->v.i = v;
    record(a, k != NULL);
    *out = v;
    return 0;
}

const char *flor_arg_error(void) { return first_error; }

static void latch(void)
{
    if (!first_error)
        first_error = flor__strdup(flor_errmsg());
}

/* The _Generic forms cannot return an error: they latch it for
 * flor_arg_error(), warn, and use DEFAULT. */
int flor_arg_int_v(const char *name, int dflt)
{
    long v;
    if (flor_arg_long(name, dflt, &v) != 0) {
        latch();
        flor__warn("%s; using the default %d", flor_errmsg(), dflt);
        return dflt;
    }
    if (v < INT_MIN || v > INT_MAX) {
        flor__warn("--kwargs %s=%ld: out of range for an int; using the default %d", name, v, dflt);
        return dflt;
    }
    return (int)v;
}

long flor_arg_long_v(const char *name, long dflt)
{
    long v;
    if (flor_arg_long(name, dflt, &v) != 0) {
        latch();
        flor__warn("%s; using the default %ld", flor_errmsg(), dflt);
    }
    return v;
}

double flor_arg_double_v(const char *name, double dflt)
{
    double v;
    if (flor_arg_double(name, dflt, &v) != 0) {
        latch();
        flor__warn("%s; using the default %g", flor_errmsg(), dflt);
    }
    return v;
}

const char *flor_arg_text_v(const char *name, const char *dflt)
{
    const char *v;
    if (flor_arg_text(name, dflt, &v) != 0) {
        latch();
        flor__warn("%s; using the default", flor_errmsg());
    }
    return v;
}

bool flor_arg_bool_v(const char *name, bool dflt)
{
    bool v;
    if (flor_arg_bool(name, dflt, &v) != 0) {
        latch();
        flor__warn("%s; using the default %s", flor_errmsg(), dflt ? "true" : "false");
    }
    return v;
}

void flor__kwargs_check_unused(void)
{
    for (int i = 0; i < nkwargs; i++) {
        kwarg *k = &kwargs[i];
        if (k->used)
            continue;
        k->used = 1;
        flor__warn("--kwargs %s=%s: no flor_arg named '%s' was read; recorded as text", k->name,
                   k->value, k->name);
        argval *a = remember(k->name, FLOR_TEXT);
        if (a && (a->v.s = flor__strdup(k->value)) != NULL)
            record(a, 1);
        else if (a)
            a->type = FLOR_NULL;
    }
}

/* Replay: flor_arg() returns what the recorded run used. */
int flor__args_load(sqlite3 *db, int64_t run)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "SELECT name, value FROM args WHERE run_id=? ORDER BY ord", -1,
                                &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot read the run's args");
    sqlite3_bind_int64(st, 1, run);
    int err = 0;
    while (!err && sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        int t = sqlite3_column_type(st, 1);
        argval *a = remember(name, t == SQLITE_INTEGER ? FLOR_INTEGER
                                   : t == SQLITE_FLOAT ? FLOR_REAL
                                                       : FLOR_TEXT);
        if (!a) {
            err = flor__err(FLOR_ENOMEM, "out of memory");
            break;
        }
        if (a->type == FLOR_INTEGER)
            a->v.i = sqlite3_column_int64(st, 1);
        else if (a->type == FLOR_REAL)
            a->v.r = sqlite3_column_double(st, 1);
        else if (!(a->v.s = flor__strdup(t == SQLITE_NULL ? ""
                                                           : (const char *)sqlite3_column_text(st, 1))))
            err = flor__err(FLOR_ENOMEM, "out of memory");
    }
    sqlite3_finalize(st);
    return err;
}
