/*
 * scratch_project.h -- a project over a fresh database in a scratch
 * directory, for the unit tests that write rows by hand (test_table.c,
 * test_series.c); include after internal.h.
 *
 *     flor_project *p = new_project();   exec(p, "INSERT ...");   free_project(p);
 */
#ifndef FLOR_TESTS_SCRATCH_PROJECT_H
#define FLOR_TESTS_SCRATCH_PROJECT_H

#include <stdio.h>
#include <stdlib.h>

static char scratch_dir[64];

static flor_project *new_project(void)
{
    snprintf(scratch_dir, sizeof scratch_dir, "/tmp/flor-unit-XXXXXX");
    if (!mkdtemp(scratch_dir))
        abort();
    flor_project *p = calloc(1, sizeof *p);
    p->place.projid = flor__strdup("proj");
    p->place.datadir = flor__strdup(scratch_dir);
    if (flor__db_open(scratch_dir, 1, 0, &p->db) != 0)
        abort();
    return p;
}

static void free_project(flor_project *p)
{
    flor_project_free(p);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", scratch_dir);
    if (system(cmd) != 0)
        abort();
}

/* Runs SQL on P's connection; aborts with SQLite's message on failure. */
static void exec(flor_project *p, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(p->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", sql, msg);
        abort();
    }
}

#endif
