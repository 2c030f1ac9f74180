/*
 * cmd_checkpoints.c -- `flor checkpoints [RUN]`: the checkpoints of one
 * run or of every run (flor_project_checkpoints).
 */
#include "cli.h"

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
    flor_project *p;
    flor_table *t = NULL;
    int64_t run = 0;
    if (cli_open(&p) != CLI_CONTINUE)
        return CLI_ERROR;
    int rc = spec ? cli_find_run(p, spec, &run) : CLI_OK;
    if (rc == CLI_OK)
        rc = flor_project_checkpoints(p, run, &t) != 0 ? cli_error("%s", flor_errmsg())
                                                         : cli_print_table(t, opts);
    flor_table_free(t);
    flor_project_free(p);
    return rc;
}

static int act(char **ops, int n, void *arg, const cli_opts *opts)
{
    (void)arg;
    return show(n ? ops[0] : NULL, opts);
}

static int run(int argc, char **argv, const cli_opts *opts)
{
    static const cli_arity arity = {0, 1, NULL, NULL};
    return cli_run_operands(&cli_cmd_checkpoints, &arity, act, NULL, argc, argv, opts);
}

const cli_command cli_cmd_checkpoints = {
    "checkpoints", run, "checkpoints [RUN]    the checkpoints of one run, or of all", help,
};
