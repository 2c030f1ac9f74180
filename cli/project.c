/*
 * project.c -- opening the project around the working directory for a
 * command, and the commands whose whole work is to print one table of it.
 */
#include "cli.h"

int cli_open(flor_project **p)
{
    *p = NULL;
    if (flor_project_open(p, NULL) != 0)
        return cli_error("%s", flor_errmsg());
    return CLI_CONTINUE;
}

int cli_show(cli_getter get, void *arg, const cli_opts *opts)
{
    flor_project *p = NULL;
    flor_table *t = NULL;
    if (cli_open(&p) != CLI_CONTINUE)
        return CLI_ERROR;
    int rc = get(p, arg, &t) != 0 ? cli_error("%s", flor_errmsg()) : cli_print_table(t, opts);
    flor_table_free(t);
    flor_project_free(p);
    return rc;
}
