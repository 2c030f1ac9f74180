/*
 * error.c -- the per-thread error message behind flor_errmsg(), and the
 * warning line, the only thing libflor prints on its own.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static _Thread_local char errbuf[1024];

const char *flor_errmsg(void) { return errbuf; }

void flor__err_clear(void) { errbuf[0] = 0; }

int flor__err(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, sizeof errbuf, fmt, ap);
    va_end(ap);
    return code;
}

int flor__err_wrap(int code, const char *fmt, ...)
{
    char prev[sizeof errbuf];
    memcpy(prev, errbuf, sizeof prev);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(errbuf, sizeof errbuf, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof errbuf && prev[0])
        snprintf(errbuf + n, sizeof errbuf - (size_t)n, ": %s", prev);
    return code;
}

int flor__err_sqlite(sqlite3 *db, int rc, const char *what)
{
    int prim = rc & 0xff;
    int code = FLOR_EIO;
    if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED)
        code = FLOR_EBUSY;
    else if (prim == SQLITE_CORRUPT || prim == SQLITE_NOTADB)
        return flor__db_damaged(db, rc, what);
    else if (prim == SQLITE_NOMEM)
        code = FLOR_ENOMEM;
    else if (prim == SQLITE_ERROR)
        code = FLOR_EINVAL;
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    return flor__err(code, "%s: %s", what, msg);
}

int flor__quiet(void)
{
    const char *q = getenv("FLOR_QUIET");
    return q && *q && strcmp(q, "0") != 0;
}

/* One line on stderr: "flor: KIND: message". */
static void say(const char *kind, const char *fmt, va_list ap)
{
    char line[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    fprintf(stderr, "flor: %s: %s\n", kind, line);
}

/* A warning line, unless FLOR_QUIET. */
static void warn(const char *fmt, va_list ap)
{
    if (!flor__quiet())
        say("warning", fmt, ap);
}

void flor__warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    warn(fmt, ap);
    va_end(ap);
}

void flor__loss(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say("error", fmt, ap);
    va_end(ap);
}

/* flor.h's flor_warn: the warning line, for the bindings (python/flor). */
void flor_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    warn(fmt, ap);
    va_end(ap);
}
