/*
 * project/project.h -- a project on disk: where it lives, its database and its checkpoint store.
 * Internal to libflor: names start with flor__ (docs/architecture.md).
 */
#ifndef FLOR_PROJECT_PROJECT_H
#define FLOR_PROJECT_PROJECT_H

#include "flor.h"
#include "base/base.h"
#include "db/db.h"
#include "store/store.h"
#include "git/git.h"
#include <signal.h>

/* ---- project.c: where a project and its data live ----------------------- */

typedef struct flor__place {
    char *root;     /* project root: the git work tree, or the cwd */
    char *projid;   /* base name of root */
    char *datadir;  /* FLOR_DIR or ROOT/.flor */
    char *gitdir;   /* the .git directory, or NULL outside git */
} flor__place;

/* Finds the project containing DIR (NULL: cwd).  Does not create anything. */
int flor__place_find(flor__place *pl, const char *dir);
/* Creates the data directory and adds it to .git/info/exclude. */
int flor__place_prepare(const flor__place *pl);
void flor__place_release(flor__place *pl);

struct flor_project {
    flor__place place;
    sqlite3 *db;
    flor__store *store; /* opened on first use */
    sqlite3 *qdb;       /* flor_project_query's read-only connection, opened on first use */
    double timeout_s;   /* flor_project_set_timeout; 0: none */
    double deadline;    /* of the query under way (flor__mono() clock) */
    int timed_out;
    volatile sig_atomic_t interrupted; /* flor_project_interrupt */
};

/* Opens P's checkpoint store (DATADIR/objects) if it is not open yet. */
int flor__project_store(flor_project *p);

/* ---- version.c: a run's code version ------------------------------------ */

/* The vid of run RUN, malloc'd, checked to be a commit of P's repository;
 * errors name the run (FLOR_ENOTFOUND: no such run, no vid, or not in the
 * repository). */
int flor__run_commit(flor_project *p, int64_t run, char **vid);
/* flor_project_checkout's check and creation of DIR: it must not exist or
 * be empty. */
int flor__checkout_dir(const char *dir);

#endif
