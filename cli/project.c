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

int cli_open_team(flor_project **p, int local)
{
    if (cli_open(p) != CLI_CONTINUE || local)
        return *p ? CLI_CONTINUE : CLI_ERROR;
    flor_project *team = NULL;
    int rc = flor_project_team_open(*p, &team);
    if (rc == FLOR_ENOTFOUND) /* no team database: this checkout's runs */
        return CLI_CONTINUE;
    flor_project_free(*p);
    *p = team;
    return rc ? cli_error("%s", flor_errmsg()) : CLI_CONTINUE;
}

int cli_show(cli_getter get, void *arg, const cli_opts *opts)
{
    return cli_show_team(get, arg, 1, opts);
}

int cli_show_team(cli_getter get, void *arg, int local, const cli_opts *opts)
{
    flor_project *p = NULL;
    flor_table *t = NULL;
    if (cli_open_team(&p, local) != CLI_CONTINUE)
        return CLI_ERROR;
    int rc = get(p, arg, &t) != 0 ? cli_error("%s", flor_errmsg()) : cli_print_table(t, opts);
    flor_table_free(t);
    flor_project_free(p);
    return rc;
}

/* cli_run_listing's operands-free action: shows what LISTING->list gives. */
struct listing {
    cli_lister list;
};

static int listing_get(flor_project *p, void *arg, flor_table **out)
{
    return ((const struct listing *)arg)->list(p, out);
}

static int listing_act(char **ops, int n, void *arg, const cli_opts *opts)
{
    (void)ops, (void)n;
    return cli_show(listing_get, arg, opts);
}

int cli_run_listing(const cli_command *cmd, cli_lister list, int argc, char **argv,
                    const cli_opts *opts)
{
    static const cli_arity none = {0, 0, NULL, NULL};
    struct listing l = {list};
    return cli_run_operands(cmd, &none, listing_act, &l, argc, argv, opts);
}
