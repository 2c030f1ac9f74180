/*
 * report.c -- how the flor command reports a failure on stderr: an error
 * ("flor: MESSAGE", exit status 1) or a usage error (the same, then a
 * pointer to `flor help`, exit status 2).  Every other file of cli/ calls
 * these; this file calls nothing of cli/.
 */
#include "cli.h"

#include <stdarg.h>

/* "flor: MESSAGE\n" on stderr, MESSAGE being FMT formatted with AP. */
static void report(const char *fmt, va_list ap)
{
    fputs("flor: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(fmt, ap);
    va_end(ap);
    return CLI_ERROR;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(fmt, ap);
    va_end(ap);
    if (cmd)
        fprintf(stderr, "see 'flor help %s'\n", cmd);
    else
        fputs("see 'flor help'\n", stderr);
    return CLI_USAGE;
}
