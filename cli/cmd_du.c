/*
 * cmd_du.c -- `flor du`: what the checkpoint store holds, per run
 * (flor_project_du).
 */
#include "cli.h"

static const char help[] =
    "usage: flor du [--format FMT]\n"
    "\n"
    "What the checkpoint store (.flor/objects) holds, one row per run,\n"
    "oldest first: run, tstamp, filename, checkpoints (how many), logical_bytes\n"
    "(the registered state they copied), stored_bytes (what they added to the\n"
    "store after compression and deduplication: a chunk that an earlier\n"
    "checkpoint already stored costs nothing again), ratio (stored_bytes /\n"
    "logical_bytes) and overhead (the share of the checkpointed loop's time\n"
    "that training spent taking snapshots).\n";

static int run(int argc, char **argv, const cli_opts *opts)
{
    return cli_run_listing(&cli_cmd_du, flor_project_du, argc, argv, opts);
}

const cli_command cli_cmd_du = {
    "du", run, "du                   what the checkpoint store holds, per run", help,
};
