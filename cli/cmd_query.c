/*
 * cmd_query.c -- `flor query SQL`: one read-only SQL statement against the
 * project's database (flor_project_query).
 */
#include "cli.h"

#include <stdlib.h>

static const char help[] =
    "usage: flor query [--format FMT] SQL\n"
    "\n"
    "Runs one read-only SQL statement against the project's database and\n"
    "prints its rows.  The tables runs, args, loops and logs are described in\n"
    "docs/schema.md.  A statement that writes is refused.\n"
    "\n"
    "examples:\n"
    "  flor query 'SELECT run_id, status FROM runs'\n"
    "  flor query 'SELECT name, count(*) AS n FROM logs GROUP BY name'\n";

static int get(flor_project *p, void *sql, flor_table **out)
{
    return flor_project_query(p, sql, out);
}

static int run(int argc, char **argv, const cli_opts *opts)
{
    char **ops = malloc((size_t)argc * sizeof *ops);
    if (!ops)
        return cli_error("out of memory");
    int n, rc = cli_operands(&cli_cmd_query, argc, argv, ops, &n);
    if (rc == CLI_CONTINUE && n == 0)
        rc = cli_usage_error("query", "missing the SQL statement");
    else if (rc == CLI_CONTINUE && n > 1)
        rc = cli_usage_error("query", "too many arguments: quote the SQL statement");
    else if (rc == CLI_CONTINUE)
        rc = cli_show(get, ops[0], opts);
    free(ops);
    return rc;
}

const cli_command cli_cmd_query = {
    "query", run, "query SQL            the rows of one read-only SQL statement", help,
};
