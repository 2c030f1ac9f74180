/*
 * error.c -- the per-thread error message behind flor_errmsg(), and the
 * warning line, the only thing libflor prints on its own.
 */
#include "base/base.h"

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
