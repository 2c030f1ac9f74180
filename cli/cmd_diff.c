/*
 * cmd_diff.c -- `flor diff RUN1 RUN2`: what changed between two runs, in
 * their args and in their code (flor_project_diff).
 */
#include "cli.h"

#include <stdlib.h>

static const char help[] =
    "usage: flor diff RUN1 RUN2\n"
    "\n"
    "Shows what changed from run RUN1 to run RUN2 (their ids, as 'flor runs'\n"
    "shows them): first the args whose value differs, one per line as\n"
    "\"NAME: OLD -> NEW\" (\"(none)\" where a run lacks the arg, text quoted),\n"
    "then the unified diff of the runs' code snapshots, as `git diff` prints\n"
    "it.  A part with no difference says \"same\".  The exit status is 0\n"
    "whether or not the runs differ.\n"
    "\n"
    "example:\n"
    "  flor diff 1 2\n";

static int diff(const char *spec1, const char *spec2)
{
    int64_t run1 = 0, run2 = 0;
    int rc = cli_parse_run_id("diff", spec1, &run1);
    if (rc == CLI_CONTINUE)
        rc = cli_parse_run_id("diff", spec2, &run2);
    if (rc != CLI_CONTINUE)
        return rc;
    flor_project *p;
    if (cli_open(&p) != CLI_CONTINUE)
        return CLI_ERROR;
    char *text = NULL;
    if (flor_project_diff(p, run1, run2, &text) != 0) {
        rc = cli_error("%s", flor_errmsg());
    } else {
        fputs(text, stdout);
        rc = CLI_OK;
    }
    free(text);
    flor_project_free(p);
    return rc;
}

static int act(char **ops, int n, void *arg, const cli_opts *opts)
{
    (void)arg;
    (void)n, (void)opts;
    return diff(ops[0], ops[1]);
}

static int run(int argc, char **argv, const cli_opts *opts)
{
    static const char *const missing[] = {"missing the two runs", "missing the second run"};
    static const cli_arity arity = {2, 2, missing, NULL};
    return cli_run_operands(&cli_cmd_diff, &arity, act, NULL, argc, argv, opts);
}

const cli_command cli_cmd_diff = {
    "diff", run, "diff RUN1 RUN2       what changed in args and code between two runs", help,
};
