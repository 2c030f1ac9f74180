/*
 * cmd_runs.c -- `flor runs`: one row per run, with its status, times,
 * checkpoints and replays (flor_project_runs).
 */
#include "cli.h"

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

static int act(char **ops, int n, void *arg, const cli_opts *opts)
{
    (void)arg;
    (void)ops, (void)n;
    return cli_show(get, NULL, opts);
}

static int run(int argc, char **argv, const cli_opts *opts)
{
    static const cli_arity arity = {0, 0, NULL, NULL};
    return cli_run_operands(&cli_cmd_runs, &arity, act, NULL, argc, argv, opts);
}

const cli_command cli_cmd_runs = {
    "runs", run, "runs                 one row per run: status, times, code version", help,
};
