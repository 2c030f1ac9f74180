/*
 * lookup.c -- small reads of the project that several commands need:
 * one integer out of a query, and the run a command line names (by its
 * id or by its tstamp, as --replay_run takes it).
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

char *cli_sql_quote(const char *s)
{
    size_t n = 3;
    for (const char *c = s; *c; c++)
        n += *c == '\'' ? 2 : 1;
    char *q = malloc(n), *o = q;
    if (!q)
        return NULL;
    *o++ = '\'';
    for (const char *c = s; *c; c++) {
        if (*c == '\'')
            *o++ = '\'';
        *o++ = *c;
    }
    *o++ = '\'';
    *o = '\0';
    return q;
}

int cli_query_int(flor_project *p, const char *sql, int64_t *out)
{
    flor_table *t = NULL;
    *out = 0;
    if (flor_project_query(p, sql, &t) != 0)
        return cli_error("%s", flor_errmsg());
    if (flor_table_nrows(t) > 0 && flor_table_ncols(t) > 0)
        *out = flor_table_int(t, 0, 0);
    flor_table_free(t);
    return 0;
}

int cli_find_run(flor_project *p, const char *spec, int64_t *run)
{
    *run = 0;
    int by_id = *spec && strspn(spec, "0123456789") == strlen(spec) && strlen(spec) < 19;
    char *q = by_id ? NULL : cli_sql_quote(spec);
    if (!by_id && !q)
        return cli_error("out of memory");
    char *sql = malloc(strlen(spec) * 2 + 64);
    if (!sql) {
        free(q);
        return cli_error("out of memory");
    }
    if (by_id)
        sprintf(sql, "SELECT run_id FROM runs WHERE run_id = %s", spec);
    else
        sprintf(sql, "SELECT run_id FROM runs WHERE tstamp = %s", q);
    int rc = cli_query_int(p, sql, run);
    free(sql);
    free(q);
    if (rc == 0 && *run == 0)
        return cli_error("no run '%s' in project '%s' (give a run id or a tstamp, as "
                         "'flor runs' shows them)",
                         spec, flor_project_id(p));
    return rc;
}
