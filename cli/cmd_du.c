/*
 * cmd_du.c -- `flor du`: what the checkpoint store holds, per run
 * (flor_project_du).
 */
#include "cli.h"

#include <string.h>

static const char help[] =
    "usage: flor du [--format FMT] [--places]\n"
    "\n"
    "What the checkpoint store (.flor/objects) holds, one row per run,\n"
    "oldest first: run, tstamp, filename, checkpoints (how many), logical_bytes\n"
    "(the registered state they copied), stored_bytes (what they added to the\n"
    "store after compression and deduplication: a chunk that an earlier\n"
    "checkpoint already stored costs nothing again), ratio (stored_bytes /\n"
    "logical_bytes) and overhead (the share of the checkpointed loop's time\n"
    "that training spent taking snapshots).\n"
    "\n"
    "With --places: where the store's bytes are, one row per place: local\n"
    "(the packs here), remote (the objects uploaded to the project's remote)\n"
    "and local only (chunks here not yet remote: what 'flor push' uploads and\n"
    "what eviction keeps): files, chunks, bytes.\n";

static int run(int argc, char **argv, const cli_opts *opts)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--places") == 0) {
            memmove(argv + i, argv + i + 1, (size_t)(argc - i) * sizeof *argv);
            return cli_run_listing(&cli_cmd_du, flor_project_du_places, argc - 1, argv, opts);
        }
    return cli_run_listing(&cli_cmd_du, flor_project_du, argc, argv, opts);
}

const cli_command cli_cmd_du = {
    "du", run, "du                   what the checkpoint store holds, per run", help,
};
