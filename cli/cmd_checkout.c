/*
 * cmd_checkout.c -- `flor checkout RUN DIR`: writes the code a run ran --
 * the snapshot its vid names -- into a directory (flor_project_checkout).
 */
#include "cli.h"

#include <stdlib.h>

static const char help[] =
    "usage: flor checkout RUN DIR\n"
    "\n"
    "Writes the code of run RUN (its id, as 'flor runs' shows it) into DIR:\n"
    "the snapshot of the working tree that flor committed to the branch\n"
    "flor.shadow when the run started, uncommitted changes and untracked\n"
    "files included.  DIR must not exist (it is created) or be empty.  Your\n"
    "HEAD, branch, index and working files are not touched.\n"
    "\n"
    "example:\n"
    "  flor checkout 3 /tmp/run3 && diff -r /tmp/run3 .\n";

static int checkout(const char *spec, const char *dir)
{
    int64_t run = 0;
    int rc = cli_parse_run_id("checkout", spec, &run);
    if (rc != CLI_CONTINUE)
        return rc;
    flor_project *p = NULL;
    if (flor_project_open(&p, NULL) != 0)
        return cli_error("%s", flor_errmsg());
    rc = flor_project_checkout(p, run, dir) != 0 ? cli_error("%s", flor_errmsg()) : CLI_OK;
    flor_project_free(p);
    return rc;
}

static int run(int argc, char **argv, const cli_opts *opts)
{
    (void)opts;
    char **ops = malloc((size_t)argc * sizeof *ops);
    if (!ops)
        return cli_error("out of memory");
    int n, rc = cli_operands(&cli_cmd_checkout, argc, argv, ops, &n);
    if (rc == CLI_CONTINUE && n < 2)
        rc = cli_usage_error("checkout", n ? "missing the directory"
                                           : "missing the run and the directory");
    else if (rc == CLI_CONTINUE && n > 2)
        rc = cli_usage_error("checkout", "unexpected argument '%s'", ops[2]);
    else if (rc == CLI_CONTINUE)
        rc = checkout(ops[0], ops[1]);
    free(ops);
    return rc;
}

const cli_command cli_cmd_checkout = {
    "checkout", run, "checkout RUN DIR     write the code a run ran into DIR", help,
};
