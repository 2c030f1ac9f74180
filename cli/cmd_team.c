/*
 * cmd_team.c -- `flor team`: the project's team database in PostgreSQL
 * (flor_project_team, _team_set, _team_remove, _team_sync, _team_new_id).
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: flor team [--format FMT]\n"
    "       flor team set URL\n"
    "       flor team sync [--format FMT]\n"
    "       flor team remove\n"
    "       flor team new-id\n"
    "\n"
    "The project's team database: a PostgreSQL database where the runs of\n"
    "every checkout of the team (several machines, several clones) are\n"
    "copied, so that each sees all of them.  Each checkout's .flor/flor.db\n"
    "stays its journal: a recording program writes only there and a thread\n"
    "of its own copies the new rows to the team's database every second\n"
    "(and once more at the end of the run), each row exactly once.  While\n"
    "the server cannot be reached, training goes on and the rows wait.\n"
    "\n"
    "Without a subcommand, shows the team database in effect: url, source\n"
    "(project or FLOR_TEAM_DB), checkout (this checkout's id there), host,\n"
    "path, server (ok, or why it cannot be reached), copied and pending\n"
    "(this checkout's logs there and not yet there).\n"
    "\n"
    "  set URL   connect to URL (postgresql://USER@HOST:PORT/DB, or key=value\n"
    "            settings such as 'service=team'), make or check flor's\n"
    "            tables there, and keep it as the project's team database\n"
    "  sync      copy now what the team's database lacks of this checkout\n"
    "  remove    forget the team database (what was copied stays there)\n"
    "  new-id    give this checkout a new id (for a copied project directory)\n"
    "\n"
    "The password is never stored and never shown: libpq takes it from\n"
    "PGPASSWORD, ~/.pgpass or a service file (a URL that holds one is\n"
    "refused by 'set').  For one process, FLOR_TEAM_DB=URL overrides the\n"
    "project's setting, and FLOR_TEAM_DB= turns it off.\n";

static int run(int argc, char **argv, const cli_opts *opts)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(help, stdout);
            return CLI_OK;
        }
    const char *sub = argc > 1 ? argv[1] : NULL;
    static const char *const subs[] = {"set", "sync", "remove", "new-id"};
    int known = !sub;
    for (size_t i = 0; sub && i < sizeof subs / sizeof subs[0]; i++)
        known |= strcmp(sub, subs[i]) == 0;
    if (!known)
        return cli_usage_error("team", "unknown subcommand '%s' (set, sync, remove or new-id)",
                               sub);
    int want = sub && strcmp(sub, "set") == 0 ? 3 : sub ? 2 : 1;
    if (argc < want)
        return cli_usage_error("team", "set needs a URL, postgresql://USER@HOST:PORT/DB");
    if (argc > want)
        return cli_usage_error("team", "unexpected argument '%s'", argv[want]);
    flor_project *p;
    if (sub && strcmp(sub, "set") == 0) { /* before the first run too */
        if (flor_project_create(&p, NULL) != 0)
            return cli_error("%s", flor_errmsg());
    } else if (cli_open(&p) != CLI_CONTINUE) {
        return CLI_ERROR;
    }
    int status, rc;
    flor_table *t = NULL;
    if (!sub)
        rc = flor_project_team(p, &t);
    else if (strcmp(sub, "set") == 0)
        rc = flor_project_team_set(p, argv[2]);
    else if (strcmp(sub, "sync") == 0)
        rc = flor_project_team_sync(p, &t);
    else if (strcmp(sub, "remove") == 0)
        rc = flor_project_team_remove(p);
    else
        rc = flor_project_team_new_id(p);
    if (rc != 0)
        status = cli_error("%s", flor_errmsg());
    else
        status = t ? cli_print_table(t, opts) : CLI_OK;
    flor_table_free(t);
    flor_project_free(p);
    return status;
}

const cli_command cli_cmd_team = {
    "team", run, "team [set URL|sync]  the team's PostgreSQL database of every checkout's runs",
    help,
};
