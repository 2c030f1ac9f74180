/*
 * cmd_query.c -- `flor query SQL`: one read-only SQL statement against the
 * project's database (flor_project_query), stopped after --timeout seconds
 * or by Ctrl-C.
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* The exit status after Ctrl-C, as a shell reports a process ended by
 * SIGINT. */
#define QUERY_INTERRUPTED 130
#define DEFAULT_TIMEOUT 10.0

static const char help[] =
    "usage: flor query [--format FMT] [--timeout SECONDS] [--local | --server] SQL\n"
    "\n"
    "Runs one read-only SQL statement against the project's database and\n"
    "prints its rows.  The tables runs, args, loops and logs are described in\n"
    "docs/schema.md.  A statement that writes, ATTACH, a pragma that sets a\n"
    "value and a second statement are refused; the database is never changed.\n"
    "\n"
    "With a team database (flor team set URL; docs/team.md), the tables hold\n"
    "the whole team's runs, read from its PostgreSQL into a local replica\n"
    "first (runs has a column checkout); when the server cannot be reached,\n"
    "the replica as last read, with a warning.\n"
    "\n"
    "options:\n"
    "  --timeout SECONDS  stop the query after SECONDS (default 10); exit 1\n"
    "  --local            only this checkout's runs, even with a team database\n"
    "  --server           run SQL on the team's PostgreSQL itself, in a read-only\n"
    "                     transaction (tables flor_runs, flor_logs, flor_args,\n"
    "                     flor_loops, flor_checkouts, flor_sync; docs/team.md)\n"
    "\n"
    "Ctrl-C stops the query (exit 130).\n"
    "\n"
    "examples:\n"
    "  flor query 'SELECT run_id, status FROM runs'\n"
    "  flor query 'SELECT name, count(*) AS n FROM logs GROUP BY name'\n"
    "  flor query --server 'SELECT checkout, count(*) FROM flor_logs GROUP BY 1'\n";

static flor_project *volatile running;
static volatile sig_atomic_t interrupted;

static void on_sigint(int signo)
{
    (void)signo;
    interrupted = 1;
    flor_project_interrupt(running);
}

static int parse_timeout(const char *text, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (!*text || *end || errno || !(v > 0) || isinf(v))
        return cli_usage_error("query", "--timeout '%s': expected a number of seconds > 0", text);
    *out = v;
    return CLI_CONTINUE;
}

struct how {
    double timeout;
    int local, server;
};

static int query(const char *sql, const struct how *how, const cli_opts *opts)
{
    flor_project *p = NULL;
    flor_table *t = NULL;
    double timeout = how->timeout;
    if (cli_open_team(&p, how->local || how->server) != CLI_CONTINUE)
        return CLI_ERROR;
    flor_project_set_timeout(p, timeout);
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    running = p;
    interrupted = 0;
    sigaction(SIGINT, &sa, &old);
    int failed = (how->server ? flor_project_team_query(p, sql, &t)
                              : flor_project_query(p, sql, &t)) != 0;
    sigaction(SIGINT, &old, NULL);
    running = NULL;
    int rc;
    if (failed && interrupted)
        rc = (cli_error("query interrupted"), QUERY_INTERRUPTED);
    else if (failed)
        rc = cli_error("%s", flor_errmsg());
    else
        rc = cli_print_table(t, opts);
    flor_table_free(t);
    flor_project_free(p);
    return rc;
}

static int act(char **ops, int n, void *arg, const cli_opts *opts)
{
    (void)n;
    return query(ops[0], arg, opts);
}

static int run(int argc, char **argv, const cli_opts *opts)
{
    /* --timeout first; the rest goes to cli_operands. */
    struct how how = {DEFAULT_TIMEOUT, 0, 0};
    how.local = cli_take_flag(&argc, argv, "--local");
    how.server = cli_take_flag(&argc, argv, "--server");
    if (how.local && how.server)
        return cli_usage_error("query", "--local and --server: choose one");
    double timeout = DEFAULT_TIMEOUT;
    int rc = CLI_CONTINUE, kept = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            while (i < argc)
                argv[kept++] = argv[i++];
            break;
        }
        if (strcmp(argv[i], "--timeout") == 0 && i + 1 >= argc)
            return cli_usage_error("query", "--timeout needs a number of seconds");
        if (strcmp(argv[i], "--timeout") == 0 || strncmp(argv[i], "--timeout=", 10) == 0) {
            const char *v = argv[i][9] == '=' ? argv[i] + 10 : argv[++i];
            if ((rc = parse_timeout(v, &timeout)) != CLI_CONTINUE)
                return rc;
            continue;
        }
        argv[kept++] = argv[i];
    }
    static const char *const missing[] = {"missing the SQL statement"};
    static const cli_arity arity = {1, 1, missing, "too many arguments: quote the SQL statement"};
    how.timeout = timeout;
    return cli_run_operands(&cli_cmd_query, &arity, act, &how, kept, argv, opts);
}

const cli_command cli_cmd_query = {
    "query", run, "query SQL            the rows of one read-only SQL statement", help,
};
