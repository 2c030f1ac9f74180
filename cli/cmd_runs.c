/*
 * cmd_runs.c -- `flor runs`: one row per run, with its status, times,
 * checkpoints and replays (flor_project_runs).
 */
#include "cli.h"

#include <stdlib.h>

static const char help[] =
    "usage: flor runs [--format FMT]\n"
    "\n"
    "One row per run, oldest first: run, projid, tstamp, filename, vid (the\n"
    "commit of its code), status (running, finished, failed or killed), host,\n"
    "pid, started, ended, seconds, logs (how many values it logged),\n"
    "checkpoints (how many it has), overhead (the share of the checkpointed\n"
    "loop's time spent taking snapshots), replays (how many replay processes\n"
    "ran it: one per segment), divergences (their total), argv, and reason\n"
    "(why a failed run failed: records the disk refused, a registration\n"
    "error; empty otherwise).\n";

static int get(flor_project *p, void *arg, flor_table **out)
{
    (void)arg;
    return flor_project_runs(p, out);
}

static int run(int argc, char **argv, const cli_opts *opts)
{
    char **ops = malloc((size_t)argc * sizeof *ops);
    if (!ops)
        return cli_error("out of memory");
    int n, rc = cli_operands(&cli_cmd_runs, argc, argv, ops, &n);
    if (rc == CLI_CONTINUE && n > 0)
        rc = cli_usage_error("runs", "unexpected argument '%s'", ops[0]);
    else if (rc == CLI_CONTINUE)
        rc = cli_show(get, NULL, opts);
    free(ops);
    return rc;
}

const cli_command cli_cmd_runs = {
    "runs", run, "runs                 one row per run: status, times, code version", help,
};
