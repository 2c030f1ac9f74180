/*
 * lookup.c -- small helpers that several commands need: a run id on the
 * command line, a formatted string, and the run a command line names (by
 * its id or by its tstamp, as --replay_run takes it).
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_parse_run_id(const char *cmd, const char *text, int64_t *run)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (!*text || *end || errno || v <= 0 || text[0] == '+' || text[0] == ' ')
        return cli_usage_error(cmd, "'%s' is not a run id (expected a positive integer)", text);
    *run = v;
    return CLI_CONTINUE;
}

char *cli_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : s;
}

int cli_find_run(flor_project *p, const char *spec, int64_t *run)
{
    *run = 0;
    return flor_project_find_run(p, spec, run) != 0 ? cli_error("%s", flor_errmsg()) : CLI_OK;
}
