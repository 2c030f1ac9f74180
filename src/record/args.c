/*
 * args.c -- hyperparameters: the --kwargs flag, and flor_arg(), which
 * parses an override to the type of the default and records the value
 * used.  Works in every mode: with FLOR_MODE=off the overrides still apply
 * (so timing with and without flor runs the same training), only nothing
 * is recorded.
 */
#include "record/record.h"

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
                flor__warn("--kwargs %s given twice (%s, then %s): using %s", kw->name, kw->value,
                           eq + 1, eq + 1);
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

void flor__kwargs_record_given(void)
{
    if (!flor__recording() || flor__R.replay)
        return;
    /* the overrides as given, as text, until flor_arg() reads them and
     * replaces each with its typed value; ord keeps them after every arg
     * read (1 << 30 + their position on the command line) */
    for (int i = 0; i < nkwargs; i++) {
        flor__value v = {.type = FLOR_TEXT, .v.s = kwargs[i].value};
        flor__args_insert(flor__R.db, flor__R.run_id, kwargs[i].name, &v, 1, (1LL << 30) + i);
    }
}

static void record(const argval *a, int from_kwargs)
{
    if (!flor__recording() || !pthread_equal(pthread_self(), flor__R.owner))
        return;
    /* written now, on the training thread's connection, so that an arg is
     * durable when flor_arg() returns: a run killed right after reading
     * its args keeps them */
    flor__value v = {.type = a->type};
    if (a->type == FLOR_INTEGER)
        v.v.i = a->v.i;
    else if (a->type == FLOR_REAL)
        v.v.r = a->v.r;
    else if (a->type == FLOR_TEXT)
        v.v.s = a->v.s;
    if (!flor__R.replay && flor__R.db &&
        flor__args_insert(flor__R.db, flor__R.run_id, a->name, &v, from_kwargs, ord) == SQLITE_OK) {
        ord++;
        return; /* durable already */
    }
    /* a replay, or the database refused the row: the writer retries it */
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
    errno = 0;
    double v = strtod(k->value, &end);
    if (!*k->value || *end || (errno == ERANGE && (v > 1 || v < -1)))
        return flor__err(FLOR_EINVAL, "--kwargs %s=%s: expected a number%s", k->name, k->value,
                         errno == ERANGE ? " in range" : "");
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
    return flor__err(FLOR_EINVAL, "--kwargs %s=%s: expected true or false (or yes, no, 1, 0)",
                     k->name, k->value);
}

static int bad_name(const char *name)
{
    if (!name || !*name)
        return flor__err(FLOR_EINVAL, "flor_arg: the name must be a non-empty string");
    return 0;
}

enum arg_kind { ARG_LONG, ARG_DOUBLE, ARG_TEXT, ARG_BOOL };

/* An arg read before, as KIND (the conversions flor_arg_* always made). */
static void convert_seen(const argval *a, enum arg_kind kind, flor__value *v)
{
    switch (kind) {
    case ARG_LONG:
        v->v.i = a->type == FLOR_INTEGER ? (long)a->v.i
                 : a->type == FLOR_REAL  ? (long)a->v.r
                                         : strtol(a->v.s, NULL, 0);
        break;
    case ARG_DOUBLE:
        v->v.r = a->type == FLOR_REAL      ? a->v.r
                 : a->type == FLOR_INTEGER ? (double)a->v.i
                                           : strtod(a->v.s, NULL);
        break;
    case ARG_TEXT:
        if (a->type == FLOR_TEXT)
            v->v.s = a->v.s;
        break;
    case ARG_BOOL:
        v->v.i = a->type == FLOR_TEXT ? (strcmp(a->v.s, "true") == 0 || strcmp(a->v.s, "1") == 0)
                                      : a->v.i != 0;
        break;
    }
}

/* The override K parsed as KIND into V (unchanged on error). */
static int parse_kwarg(const kwarg *k, enum arg_kind kind, flor__value *v)
{
    int rc = 0;
    switch (kind) {
    case ARG_LONG: {
        long x = 0;
        if (!(rc = parse_long(k, &x)))
            v->v.i = x;
        break;
    }
    case ARG_DOUBLE:
        rc = parse_double(k, &v->v.r);
        break;
    case ARG_TEXT:
        v->v.s = k->value;
        break;
    case ARG_BOOL: {
        bool x = false;
        if (!(rc = parse_bool(k, &x)))
            v->v.i = x;
        break;
    }
    }
    return rc;
}

/* The one path of every flor_arg_* variant: the value of arg NAME read as
 * KIND.  V holds the default on entry and the value on return (the
 * default on error).  The first read records the value; a later one
 * returns the same value. */
static int arg_value(const char *name, enum arg_kind kind, flor__value *v)
{
    int rc = bad_name(name);
    if (rc)
        return rc;
    argval *a = find_seen(name);
    if (a) {
        convert_seen(a, kind, v);
        return 0;
    }
    kwarg *k = find_kwarg(name);
    if (k)
        k->used = 1; /* read, even if malformed: not an unknown name */
    if (k && (rc = parse_kwarg(k, kind, v)) != 0)
        return rc;
    if (kind == ARG_TEXT && !v->v.s)
        return 0; /* a NULL default with no override: nothing to record */
    flor_type type = kind == ARG_DOUBLE ? FLOR_REAL : kind == ARG_TEXT ? FLOR_TEXT : FLOR_INTEGER;
    if (!(a = remember(name, type)))
        return flor__err(FLOR_ENOMEM, "out of memory");
    if (kind == ARG_TEXT) {
        if (!(a->v.s = flor__strdup(v->v.s))) {
            a->type = FLOR_NULL;
            return flor__err(FLOR_ENOMEM, "out of memory");
        }
        v->v.s = a->v.s;
    } else if (kind == ARG_DOUBLE) {
        a->v.r = v->v.r;
    } else {
        a->v.i = v->v.i;
    }
    record(a, k != NULL);
    return 0;
}

int flor_arg_int64(const char *name, int64_t dflt, int64_t *out)
{
    flor__value v = {.type = FLOR_INTEGER, .v.i = dflt};
    int rc = arg_value(name, ARG_LONG, &v);
    *out = v.v.i;
    return rc;
}

/* The values arg_value parses as ARG_LONG are longs (strtol): exact. */
int flor_arg_long(const char *name, long dflt, long *out)
{
    int64_t v;
    int rc = flor_arg_int64(name, dflt, &v);
    *out = (long)v;
    return rc;
}

int flor_arg_double(const char *name, double dflt, double *out)
{
    flor__value v = {.type = FLOR_REAL, .v.r = dflt};
    int rc = arg_value(name, ARG_DOUBLE, &v);
    *out = v.v.r;
    return rc;
}

int flor_arg_text(const char *name, const char *dflt, const char **out)
{
    flor__value v = {.type = FLOR_TEXT, .v.s = dflt};
    int rc = arg_value(name, ARG_TEXT, &v);
    *out = v.v.s;
    return rc;
}

int flor_arg_bool(const char *name, bool dflt, bool *out)
{
    flor__value v = {.type = FLOR_INTEGER, .v.i = dflt};
    int rc = arg_value(name, ARG_BOOL, &v);
    *out = v.v.i != 0;
    return rc;
}

const char *flor_arg_error(void) { return first_error; }

/* The _Generic forms cannot return an error, and training on a default
 * the user did not ask for is a silently wrong result: a value that does
 * not parse ends the program, as argparse does, with exit status 2 and
 * "flor: --kwargs NAME=VALUE: expected ...", before training starts.  The
 * run, if one is being recorded, ends as failed with that reason. */
static _Noreturn void bad_kwarg(const char *msg)
{
    fprintf(stderr, "flor: %s\n", msg);
    fflush(stderr);
    flor__run_taint(msg);
    exit(2);
}

static void bad_kwarg_current(void)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", flor_errmsg());
    bad_kwarg(msg);
}

int flor_arg_int_v(const char *name, int dflt)
{
    long v;
    if (flor_arg_long(name, dflt, &v) != 0)
        bad_kwarg_current();
    if (v < INT_MIN || v > INT_MAX) {
        char msg[512];
        snprintf(msg, sizeof msg, "--kwargs %s=%ld: expected an integer in range (an int)", name, v);
        bad_kwarg(msg);
    }
    return (int)v;
}

long flor_arg_long_v(const char *name, long dflt)
{
    long v;
    if (flor_arg_long(name, dflt, &v) != 0)
        bad_kwarg_current();
    return v;
}

double flor_arg_double_v(const char *name, double dflt)
{
    double v;
    if (flor_arg_double(name, dflt, &v) != 0)
        bad_kwarg_current();
    return v;
}

const char *flor_arg_text_v(const char *name, const char *dflt)
{
    const char *v;
    if (flor_arg_text(name, dflt, &v) != 0)
        bad_kwarg_current();
    return v;
}

bool flor_arg_bool_v(const char *name, bool dflt)
{
    bool v;
    if (flor_arg_bool(name, dflt, &v) != 0)
        bad_kwarg_current();
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

/* One args row of the recorded run, as flor__args_each gives it. */
static int load_one(void *ctx, const char *name, const flor__value *v)
{
    (void)ctx;
    argval *a = remember(name, v->type == FLOR_NULL ? FLOR_TEXT : v->type);
    if (!a)
        return flor__err(FLOR_ENOMEM, "out of memory");
    if (a->type == FLOR_INTEGER)
        a->v.i = v->v.i;
    else if (a->type == FLOR_REAL)
        a->v.r = v->v.r;
    else if (!(a->v.s = flor__strdup(v->type == FLOR_NULL ? "" : v->v.s)))
        return flor__err(FLOR_ENOMEM, "out of memory");
    return 0;
}

/* Replay: flor_arg() returns what the recorded run used. */
int flor__args_load(sqlite3 *db, int64_t run) { return flor__args_each(db, run, load_one, NULL); }
