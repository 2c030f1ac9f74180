/*
 * cmd_dataframe.c -- `flor dataframe [NAME...]`: the pivoted view of the
 * project (flor_project_dataframe).
 */
#include "cli.h"

static const char help[] =
    "usage: flor dataframe [--format FMT] [--local] [NAME...]\n"
    "\n"
    "With no NAME: one row per run, oldest first, with the columns projid,\n"
    "tstamp and filename, then every hyperparameter (in the order the program\n"
    "read them), then every name logged outside any loop (its last value).\n"
    "\n"
    "With NAMEs: the values of each NAME, one row per run and loop iteration,\n"
    "with one column per enclosing loop (epoch, step, ...; 0-based, outermost\n"
    "first).  The NAMEs are outer-joined on the loops they share, and each\n"
    "run's hyperparameters are repeated on its rows.  A cell with no value is\n"
    "empty.  A NAME that was never logged is an error.\n"
    "\n"
    "With a team database (flor team set URL; docs/team.md), the runs are the\n"
    "whole team's, read from its PostgreSQL into a local replica first; when\n"
    "the server cannot be reached, the replica as last read, with a warning.\n"
    "\n"
    "options:\n"
    "  --local  only this checkout's runs, even with a team database\n"
    "\n"
    "examples:\n"
    "  flor dataframe\n"
    "  flor dataframe loss acc --format csv\n";

struct names {
    char **v;
    int n;
};

struct what {
    int local;
};

static int get(flor_project *p, void *arg, flor_table **out)
{
    const struct names *names = arg;
    return flor_project_dataframe(p, (const char *const *)names->v, (size_t)names->n, out);
}

static int act(char **ops, int n, void *arg, const cli_opts *opts)
{
    struct names names = {ops, n};
    return cli_show_team(get, &names, ((const struct what *)arg)->local, opts);
}

static int run(int argc, char **argv, const cli_opts *opts)
{
    static const cli_arity arity = {0, -1, NULL, NULL};
    struct what w = {cli_take_flag(&argc, argv, "--local")};
    return cli_run_operands(&cli_cmd_dataframe, &arity, act, &w, argc, argv, opts);
}

const cli_command cli_cmd_dataframe = {
    "dataframe", run,
    "dataframe [NAME...]  the runs' args and final logs, or NAMEs per iteration", help,
};
