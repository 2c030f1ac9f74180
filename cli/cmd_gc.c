/*
 * cmd_gc.c -- `flor gc`: removes old checkpoints by a retention rule and
 * takes back the space of the store that no remaining checkpoint needs
 * (flor_project_gc).
 */
#include "cli.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: flor gc [--format FMT] [--keep-runs N] [--every K] [--dry-run]\n"
    "       flor gc --evict[=SIZE] [--dry-run]\n"
    "\n"
    "Removes old checkpoints and takes back the space in the store that no\n"
    "remaining checkpoint needs.  Kept: every checkpoint of the N most recent\n"
    "runs and of runs still recording; of older runs, the checkpoints at\n"
    "iterations that are multiples of K and each run's last one, so that\n"
    "every run can still be replayed (from fewer checkpoints).\n"
    "\n"
    "Prints one row: dry_run, checkpoints_removed, checkpoints_kept,\n"
    "chunks_removed, chunks_kept, packs_rewritten, bytes_before, bytes_after\n"
    "and bytes_freed.\n"
    "\n"
    "options:\n"
    "  --keep-runs N  keep every checkpoint of the N latest runs (default 5)\n"
    "  --every K      of older runs, keep the iterations that are multiples\n"
    "                 of K (default 10; 0: only each run's last checkpoint)\n"
    "  --dry-run      change nothing; make the same checks and say what would\n"
    "                 go\n"
    "  --evict[=SIZE] instead: remove local packs whose every chunk is safely\n"
    "                 on the project's remote (see 'flor remote'), oldest\n"
    "                 first, until the store takes at most SIZE (e.g. 50G;\n"
    "                 default 0: every such pack).  Replays fetch what they\n"
    "                 need again.  Prints dry_run, packs_evicted,\n"
    "                 packs_local_only (kept: not all remote yet; 'flor\n"
    "                 push'), bytes_before and bytes_after\n"
    "\n"
    "Before changing anything, gc reads and checks every chunk that a kept\n"
    "checkpoint needs.  When one is in no index or is damaged, or a pack has\n"
    "no index or a damaged one, gc changes nothing, names the file and exits\n"
    "1: run 'flor fsck --repair' (it rebuilds indexes from their packs and\n"
    "drops the checkpoints that cannot be read), then gc again.\n"
    "\n"
    "While a program is writing checkpoints into the store, gc changes\n"
    "nothing and exits 1; run it again once that program has finished.\n";

typedef struct gc_args {
    int keep_runs, every;
    bool dry_run, evict;
    int64_t limit;
} gc_args;

/* SIZE of --evict: bytes, as flor_parse_size() reads them. */
static int parse_limit(const char *s, int64_t *out)
{
    if (flor_parse_size(s, out) != 0)
        return cli_usage_error("gc", "--evict expects a size such as 50G or 512M, not '%s'", s);
    return CLI_CONTINUE;
}

/* A non-negative int, the whole of S. */
static int parse_count(const char *opt, const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < 0 || v > 1000000000L)
        return cli_usage_error("gc", "option '%s' expects a number >= 0, not '%s'", opt, s);
    *out = (int)v;
    return CLI_CONTINUE;
}

/* Option NAME's value, given as "NAME VALUE" or "NAME=VALUE", into *OUT.
 * Returns CLI_CONTINUE, a usage error's status, or 0 when ARGV[*I] is not
 * option NAME. */
static int int_option(const char *name, int argc, char **argv, int *i, int *out)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0 || (a[n] != '\0' && a[n] != '='))
        return 0;
    if (a[n] == '=')
        return parse_count(name, a + n + 1, out);
    if (*i + 1 >= argc)
        return cli_usage_error("gc", "option '%s' needs a value", name);
    return parse_count(name, argv[++*i], out);
}

static int parse(int argc, char **argv, gc_args *g)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int rc;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(help, stdout);
            return CLI_OK;
        }
        if (strcmp(a, "--dry-run") == 0)
            g->dry_run = true;
        else if (strcmp(a, "--evict") == 0)
            g->evict = true;
        else if (strncmp(a, "--evict=", 8) == 0) {
            g->evict = true;
            if ((rc = parse_limit(a + 8, &g->limit)) != CLI_CONTINUE)
                return rc;
        }
        else if ((rc = int_option("--keep-runs", argc, argv, &i, &g->keep_runs)) != 0 ||
                 (rc = int_option("--every", argc, argv, &i, &g->every)) != 0) {
            if (rc != CLI_CONTINUE)
                return rc;
        } else if (a[0] == '-' && a[1])
            return cli_usage_error("gc", "unknown option '%s'", a);
        else
            return cli_usage_error("gc", "unexpected argument '%s'", a);
    }
    return CLI_CONTINUE;
}

static int collect(flor_project *p, const gc_args *g, const cli_opts *opts)
{
    flor_table *t = NULL;
    /* flor_project_gc changes nothing when a recording holds the store */
    int rc = g->evict ? flor_project_evict(p, g->limit, g->dry_run, &t)
                      : flor_project_gc(p, g->keep_runs, g->every, g->dry_run, &t);
    int status = rc != 0 ? cli_error("%s", flor_errmsg()) : cli_print_table(t, opts);
    flor_table_free(t);
    return status;
}

static int run(int argc, char **argv, const cli_opts *opts)
{
    gc_args g = {5, 10, false, false, 0};
    int rc = parse(argc, argv, &g);
    if (rc != CLI_CONTINUE)
        return rc;
    flor_project *p;
    if (cli_open(&p) != CLI_CONTINUE)
        return CLI_ERROR;
    rc = collect(p, &g, opts);
    flor_project_free(p);
    return rc;
}

const cli_command cli_cmd_gc = {
    "gc", run, "gc [--dry-run]       remove old checkpoints and free their space", help,
};
