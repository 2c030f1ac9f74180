/*
 * cmd_checkout.c -- `flor checkout RUN DIR`: writes the code a run ran --
 * the snapshot its vid names -- into a directory (flor_project_checkout).
 */
#include "cli.h"

#include <errno.h>
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

/* The run id in TEXT: a positive decimal integer. */
static int parse_run(const char *text, int64_t *run)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (!*text || *end || errno || v <= 0 || text[0] == '+' || text[0] == ' ')
        return cli_usage_error("checkout", "'%s' is not a run id (expected a positive integer)",
                               text);
    *run = v;
    return CLI_CONTINUE;
}

static int checkout(const char *spec, const char *dir)
{
    int64_t run = 0;
    int rc = parse_run(spec, &run);
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
