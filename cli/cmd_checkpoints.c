/*
 * cmd_checkpoints.c -- `flor checkpoints [RUN]`: the checkpoints of one
 * run or of every run (flor_project_checkpoints).
 */
#include "cli.h"

#include <stdlib.h>

static const char help[] =
    "usage: flor checkpoints [--format FMT] [RUN]\n"
    "\n"
    "The checkpoints of run RUN (its id or its tstamp), or of every run, one\n"
    "row each in the order they were taken: run, loop (the checkpointed\n"
    "loop), iteration (0-based), objects (how many registered objects),\n"
    "logical_bytes, stored_bytes (what it added to the store after\n"
    "compression and deduplication), stall_ms (the training thread's pause\n"
    "for the snapshot), write_ms (the background write) and codec.\n";

/* Prints the checkpoints of the run SPEC names (NULL: of every run). */
static int show(const char *spec, const cli_opts *opts)
{
    flor_project *p = NULL;
    flor_table *t = NULL;
    int64_t run = 0;
    if (flor_project_open(&p, NULL) != 0)
        return cli_error("%s", flor_errmsg());
    int rc = spec ? cli_find_run(p, spec, &run) : CLI_OK;
    if (rc == CLI_OK)
        rc = flor_project_checkpoints(p, run, &t) != 0 ? cli_error("%s", flor_errmsg())
                                                         : cli_print_table(t, opts);
    flor_table_free(t);
    flor_project_free(p);
    return rc;
}

static int run(int argc, char **argv, const cli_opts *opts)
{
    char **ops = malloc((size_t)argc * sizeof *ops);
    if (!ops)
        return cli_error("out of memory");
    int n, rc = cli_operands(&cli_cmd_checkpoints, argc, argv, ops, &n);
    if (rc == CLI_CONTINUE && n > 1)
        rc = cli_usage_error("checkpoints", "unexpected argument '%s'", ops[1]);
    else if (rc == CLI_CONTINUE)
        rc = show(n ? ops[0] : NULL, opts);
    free(ops);
    return rc;
}

const cli_command cli_cmd_checkpoints = {
    "checkpoints", run, "checkpoints [RUN]    the checkpoints of one run, or of all", help,
};
