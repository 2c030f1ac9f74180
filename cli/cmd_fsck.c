/*
 * cmd_fsck.c -- `flor fsck [--repair]`: checks the database, the store's
 * packs and indexes, and that every checkpoint can be read; with --repair,
 * rebuilds damaged indexes from their packs and only then drops the
 * checkpoints that still cannot be read (flor_project_fsck).
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* fsck's own status: the check could not be made at all. */
enum { FSCK_CANNOT_CHECK = 3 };

static const char help[] =
    "usage: flor fsck [--format FMT] [--repair]\n"
    "       flor fsck --remote [--read] [--repair]\n"
    "\n"
    "Checks the project's records and checkpoints: the database (SQLite's\n"
    "integrity and foreign key checks, the schema version, runs marked\n"
    "running whose process is gone), every pack of the checkpoint store\n"
    "read from end to end (record headers and checksums), every index\n"
    "against its pack, and that every chunk of every checkpoint is indexed\n"
    "and sound.\n"
    "\n"
    "Prints one row per problem: kind (database, run, pack, index, chunk,\n"
    "checkpoint), file, run, object, iteration, detail and repaired.\n"
    "\n"
    "options:\n"
    "  --repair  mark dead runs killed, rewrite damaged pack headers, rebuild\n"
    "            missing or damaged indexes from their packs (atomically),\n"
    "            and only then drop the checkpoints that still cannot be\n"
    "            read, listing each; nothing in a pack is changed\n"
    "  --remote  instead: check the project's remote against the catalogue in\n"
    "            flor.db: every uploaded object is there with its size; with\n"
    "            --read every record in it is read back and checked (its\n"
    "            header, its checksums, the chunk it holds); with --repair a\n"
    "            missing or damaged object is dropped from the catalogue, so\n"
    "            that 'flor push' uploads again what is still local\n"
    "\n"
    "Progress goes to stderr on a terminal, unless FLOR_QUIET is set.\n"
    "\n"
    "exit status:\n"
    "  0  no problem (or every problem repaired)\n"
    "  1  problems found, or left after --repair\n"
    "  2  usage error\n"
    "  3  the check could not be made (a program is writing checkpoints, a\n"
    "     file cannot be read); the message is on stderr\n";

struct progress {
    int on;
    time_t start;
    int shown;
};

static void show_progress(void *arg, uint64_t done, uint64_t total)
{
    struct progress *pr = arg;
    if (!pr->on || (!pr->shown && time(NULL) - pr->start < 1))
        return;
    pr->shown = 1;
    fprintf(stderr, "\rflor fsck: read %llu of %llu MiB", (unsigned long long)(done >> 20),
            (unsigned long long)(total >> 20));
    fflush(stderr);
}

static int run(int argc, char **argv, const cli_opts *opts)
{
    unsigned flags = 0;
    int remote = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(help, stdout);
            return CLI_OK;
        }
        if (strcmp(argv[i], "--repair") == 0)
            flags |= FLOR_FSCK_REPAIR;
        else if (strcmp(argv[i], "--remote") == 0)
            remote = 1;
        else if (strcmp(argv[i], "--read") == 0)
            flags |= FLOR_FSCK_READ_REMOTE;
        else if (argv[i][0] == '-' && argv[i][1])
            return cli_usage_error("fsck", "unknown option '%s'", argv[i]);
        else
            return cli_usage_error("fsck", "unexpected argument '%s'", argv[i]);
    }
    if ((flags & FLOR_FSCK_READ_REMOTE) && !remote)
        return cli_usage_error("fsck", "--read goes with --remote");
    flor_project *p;
    if (cli_open(&p) != CLI_CONTINUE)
        return FSCK_CANNOT_CHECK;
    const char *q = getenv("FLOR_QUIET");
    struct progress pr = {isatty(2) && !(q && *q), time(NULL), 0};
    flor_table *t = NULL;
    int rc = remote ? flor_project_fsck_remote(p, flags, show_progress, &pr, &t)
                    : flor_project_fsck(p, flags, show_progress, &pr, &t);
    if (pr.shown)
        fputc('\n', stderr);
    int status;
    if (rc != 0) {
        cli_error("%s", flor_errmsg());
        status = FSCK_CANNOT_CHECK;
    } else {
        size_t left = 0, n = flor_table_nrows(t), rcol = flor_table_ncols(t) - 1;
        for (size_t r = 0; r < n; r++)
            left += flor_table_int(t, r, rcol) == 0;
        status = cli_print_table(t, opts);
        if (status == CLI_OK && left)
            status = CLI_ERROR;
        if (!(q && *q))
            fprintf(stderr, "flor fsck: %zu problems, %zu repaired, %zu left\n", n, n - left,
                    left);
    }
    flor_table_free(t);
    flor_project_free(p);
    return status;
}

const cli_command cli_cmd_fsck = {
    "fsck", run, "fsck [--repair]      check the records and checkpoints; repair them", help,
};
