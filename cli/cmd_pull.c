/*
 * cmd_pull.c -- `flor pull [RUN...]`: fetches from the remote the
 * checkpoints of runs the local store lacks (flor_project_pull).
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: flor pull [--format FMT] [RUN...]\n"
    "\n"
    "Fetches from the project's remote what the checkpoints of the given runs\n"
    "(all runs when none is given) need and the local store lacks: after\n"
    "'flor gc --evict', or in a clone of the project on another machine.\n"
    "Only those chunks are read, with ranged GETs, and each is checked\n"
    "against its checksums before it is kept.  Replays fetch what they need\n"
    "by themselves; pull is for fetching ahead, or for working offline.\n"
    "\n"
    "A RUN is a run id, or a tstamp as 'flor runs' shows it.\n"
    "\n"
    "Prints one row: runs, checkpoints, chunks_fetched, bytes_fetched,\n"
    "chunks_local (needed and already here).  Progress goes to stderr on a\n"
    "terminal (or with FLOR_PROGRESS=1), unless FLOR_QUIET is set.\n";

static int act(char **ops, int n, void *arg, const cli_opts *opts)
{
    (void)arg;
    flor_project *p;
    if (cli_open(&p) != CLI_CONTINUE)
        return CLI_ERROR;
    int64_t *runs = calloc((size_t)n + 1, sizeof *runs);
    int status = runs ? CLI_OK : cli_error("out of memory");
    for (int i = 0; i < n && status == CLI_OK; i++)
        status = cli_find_run(p, ops[i], &runs[i]);
    if (status == CLI_OK) {
        cli_progress pr;
        cli_progress_init(&pr, "pull");
        flor_table *t = NULL;
        int rc = flor_project_pull(p, runs, (size_t)n, cli_progress_show, &pr, &t);
        status = rc ? cli_error("%s", flor_errmsg()) : cli_print_table(t, opts);
        flor_table_free(t);
    }
    free(runs);
    flor_project_free(p);
    return status;
}

static int run(int argc, char **argv, const cli_opts *opts)
{
    static const cli_arity arity = {0, -1, NULL, NULL};
    return cli_run_operands(&cli_cmd_pull, &arity, act, NULL, argc, argv, opts);
}

const cli_command cli_cmd_pull = {
    "pull", run, "pull [RUN...]        fetch runs' checkpoints from the remote", help,
};
