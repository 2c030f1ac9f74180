/*
 * cmd_checkout.c -- `flor checkout RUN DIR`: writes the code a run ran --
 * the snapshot its vid names -- into a directory (flor_project_checkout).
 */
#include "cli.h"

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
    flor_project *p;
    if (cli_open(&p) != CLI_CONTINUE)
        return CLI_ERROR;
    rc = flor_project_checkout(p, run, dir) != 0 ? cli_error("%s", flor_errmsg()) : CLI_OK;
    flor_project_free(p);
    return rc;
}

static int act(char **ops, int n, void *arg, const cli_opts *opts)
{
    (void)arg;
    (void)n, (void)opts;
    return checkout(ops[0], ops[1]);
}

static int run(int argc, char **argv, const cli_opts *opts)
{
    static const char *const missing[] = {"missing the run and the directory",
                                          "missing the directory"};
    static const cli_arity arity = {2, 2, missing, NULL};
    return cli_run_operands(&cli_cmd_checkout, &arity, act, NULL, argc, argv, opts);
}

const cli_command cli_cmd_checkout = {
    "checkout", run, "checkout RUN DIR     write the code a run ran into DIR", help,
};
