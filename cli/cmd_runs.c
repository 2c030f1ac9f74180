/*
 * cmd_runs.c -- `flor runs`: one row per run, with its status, times,
 * checkpoints and replays (flor_project_runs).
 */
#include "cli.h"

static const char help[] =
    "usage: flor runs [--format FMT] [--local]\n"
    "\n"
    "One row per run, oldest first: run, projid, tstamp, filename, vid (the\n"
    "commit of its code), status (running, finished, failed or killed), host,\n"
    "pid, started, ended, seconds, logs (how many values it logged),\n"
    "checkpoints (how many it has), overhead (the share of the checkpointed\n"
    "loop's time spent taking snapshots), replays (how many replay processes\n"
    "ran it: one per segment), divergences (their total), argv, and reason\n"
    "(why a failed run failed: records the disk refused, a registration\n"
    "error; empty otherwise), ranks (its number of processes).\n"
    "\n"
    "A run of several processes (mpirun -np N, torchrun, srun -n N) is one\n"
    "row, its rank 0's: status is the whole run's (running while a rank\n"
    "runs, else killed or failed if a rank was, else finished), logs and\n"
    "checkpoints count all its ranks.  flor query \"SELECT * FROM runs\"\n"
    "shows each rank's row.\n"
    "\n"
    "With a team database (flor team set URL; docs/team.md), the runs are the\n"
    "whole team's, numbered in the order this checkout first read them; host\n"
    "tells the machines apart.  --local: only this checkout's runs.\n";

static int get(flor_project *p, void *arg, flor_table **out)
{
    (void)arg;
    return flor_project_runs(p, out);
}

static int act(char **ops, int n, void *arg, const cli_opts *opts)
{
    (void)ops, (void)n;
    return cli_show_team(get, NULL, *(const int *)arg, opts);
}

static int run(int argc, char **argv, const cli_opts *opts)
{
    static const cli_arity none = {0, 0, NULL, NULL};
    int local = cli_take_flag(&argc, argv, "--local");
    return cli_run_operands(&cli_cmd_runs, &none, act, &local, argc, argv, opts);
}

const cli_command cli_cmd_runs = {
    "runs", run, "runs                 one row per run: status, times, code version", help,
};
