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
#include "remote/remote.h"
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

typedef struct flor__fetcher flor__fetcher;

struct flor_project {
    flor__place place;
    sqlite3 *db;
    flor__store *store; /* opened on first use */
    flor__fetcher *fetcher; /* the store's hook to the remote (remotes.c) */
    sqlite3 *qdb;       /* flor_project_query's read-only connection, opened on first use */
    double timeout_s;   /* flor_project_set_timeout; 0: none */
    double deadline;    /* of the query under way (flor__mono() clock) */
    int timed_out;
    volatile sig_atomic_t interrupted; /* flor_project_interrupt */
};

/* A read of the project on flor_project_query's connection (read-only,
 * with its authorizer, timeout and interruption): flor__project_read_db
 * opens it on first use; flor__project_read_begin starts the timeout's
 * clock before the first step; flor__project_read_end(P, RC) stops it and
 * turns an RC that the timeout or an interruption caused into FLOR_EBUSY
 * with its message. */
int flor__project_read_db(flor_project *p, sqlite3 **db);
void flor__project_read_begin(flor_project *p);
int flor__project_read_end(flor_project *p, int rc);

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

/* ---- team.c: the team's database (docs/team.md) ------------------------------- */

typedef struct flor__pg flor__pg;

/* The team database's URL into *URL (malloc'd; NULL: none): FLOR_TEAM_DB
 * when set (empty: none), else the project's setting; *SOURCE says which
 * ("FLOR_TEAM_DB" or "project"). */
int flor__team_url(sqlite3 *db, char **url, const char **source);
/* This checkout's id in the team's database (malloc'd), made the first
 * time: 32 random hex digits, kept in the meta table. */
int flor__team_checkout_id(sqlite3 *db, char **id);
/* Connects to URL and makes or checks flor's tables there. */
int flor__team_connect(const char *url, int timeout_s, flor__pg **out);
/* When P has a team database: copies what it lacks of P's journal now,
 * after WHAT (e.g. "the replayed values") was written; a failure is one
 * warning, not an error (the rows wait in the journal). */
void flor__team_copy_after(flor_project *p, const char *what);
/* Where this process copies from: its host, the project's root and name. */
struct flor__team_who {
    char host[256];
    const char *root, *projid;
};
int flor__team_who(const char *root, const char *projid, struct flor__team_who *w);

/* ---- replicator.c: the background copy of a recording process ------------------ */

typedef struct flor__replicator flor__replicator;
/* Starts copying the journal in DATADIR to the team's database, every
 * second, on a thread of its own (lowest priority, its own connections),
 * when the project (asked on RUN_DB) has one; *OUT stays NULL when not.
 * ROOT and PROJID name the checkout. */
int flor__replicator_start(const char *datadir, sqlite3 *run_db, const char *root,
                           const char *projid, flor__replicator **out);
/* Stops it: with FINISH, after a last copy of what the journal holds now
 * (waiting at most a few seconds for the server: what is not copied stays
 * in the journal, and a warning says so); without, at once.  NULL: no-op. */
int flor__replicator_stop(flor__replicator *r, int finish);

/* ---- remotes.c: the project's remote ----------------------------------------- */

/* "s3://BUCKET[/PREFIX]" into the bucket and the prefix ("" or "PREFIX/"),
 * both malloc'd; FLOR_EINVAL naming URL when it is not one. */
int flor__remote_url_parse(const char *url, char **bucket, char **prefix);
/* The project's remote: the remotes row, then FLOR_REMOTE (the empty string:
 * none), FLOR_S3_ENDPOINT, FLOR_S3_REGION, FLOR_S3_PATH_STYLE and
 * FLOR_REMOTE_CACHE over it.  *FOUND 0 when there is none. */
int flor__remote_settings(sqlite3 *db, flor__remote_row *r, int *found);

/* An open remote: a client for its bucket, and its prefix. */
typedef struct flor__remote {
    flor__s3 *s3;
    const char *url; /* as configured: s3://BUCKET[/PREFIX] (the row's) */
    char *bucket;
    char *prefix;    /* "" or "PREFIX/" */
    int64_t cache;   /* the local store's limit in bytes; -1: none */
    flor__remote_row row;
} flor__remote;
/* FLOR_ENOTFOUND when the project has no remote; the client's errors. */
int flor__remote_open(sqlite3 *db, flor__remote **out);
/* Another client for R's bucket (one per thread). */
int flor__remote_client(const flor__remote *r, flor__s3 **out);
void flor__remote_close(flor__remote *r);
/* PREFIX + NAME, malloc'd. */
char *flor__remote_key(const flor__remote *r, const char *name);

/* Sets S's remote hook (store.h) to fetch chunks through the catalogue in
 * DATADIR's database and the project's remote, opened on first need. */
int flor__fetcher_attach(flor__store *s, const char *datadir, flor__fetcher **out);
/* Fetches at once what every object of checkpoint CKPT_ID lacks (a restore
 * calls it first: one ranged GET for records close together, instead of
 * one batch per object).  0 when nothing is missing or there is no remote
 * (the get then says what is missing). */
int flor__project_prefetch(flor_project *p, int64_t ckpt_id);
void flor__fetcher_free(flor__fetcher *f);

/* ---- fetch.c: bringing records back from the remote ------------------------------ */

/* A batch of chunks to fetch into STORE from the remote R, found through
 * CAT (R's catalogue): flor__fetch_want adds one (a flor__store_missing
 * callback), flor__fetch_run reads them -- records close together in one
 * object with one ranged GET -- checks each against its checksums and the
 * chunk the catalogue names, and adds them to the store, one sync per GET. */
typedef struct flor__fetch flor__fetch;
struct flor__fetch_stats {
    uint64_t chunks_fetched, bytes_fetched, bytes_total;
};
int flor__fetch_open(flor__store *store, flor__catalog *cat, flor__remote *r,
                     flor__fetch **out);
void flor__fetch_close(flor__fetch *f);
int flor__fetch_want(void *f, const flor__hash *h);
size_t flor__fetch_pending(const flor__fetch *f);
int flor__fetch_run(flor__fetch *f, flor_progress_fn progress, void *arg);
const struct flor__fetch_stats *flor__fetch_stats(const flor__fetch *f);

/* ---- spool.c: copying the store to the remote --------------------------------- */

struct flor__push_stats {
    uint64_t segments, records, bytes;  /* uploaded */
    uint64_t bytes_done, bytes_total;   /* of the pass under way, for progress */
    uint64_t aborted;                   /* interrupted multipart uploads aborted */
};
typedef struct flor__spool flor__spool;
/* A spooler over DB (the project's database) and STORE, to the project's
 * remote.  FLOR_ENOTFOUND when there is none. */
int flor__spool_open(const char *datadir, sqlite3 *db, flor__store *store, flor__spool **out);
void flor__spool_close(flor__spool *sp);
/* Uploads every durable record the catalogue lacks (aborting first the
 * multipart uploads of this host's dead processes).  What fails stays for
 * the next pass. */
int flor__spool_pass(flor__spool *sp, flor_progress_fn progress, void *arg);
const struct flor__push_stats *flor__spool_stats(const flor__spool *sp);
const char *flor__spool_url(const flor__spool *sp);
const flor__remote *flor__spool_remote(const flor__spool *sp);
/* flor__store_evict with the catalogue saying what is remote. */
int flor__spool_evict(flor__spool *sp, uint64_t limit, int dry_run, struct flor__evict_stats *st);

/* A recording process's spooler: a thread that runs a pass every second.
 * RUN_DB (the run's connection) says whether the project has a remote;
 * *OUT stays NULL when it has none.  STOP with FINISH joins
 * it, runs a last pass (everything the run wrote) and applies the local
 * store's limit; without FINISH (the process ends on a signal) it only
 * tells the thread to stop and leaves it, not waiting for an upload under
 * way.  A remote that fails is warned about once; the run goes on. */
typedef struct flor__spooler flor__spooler;
int flor__spooler_start(const char *datadir, sqlite3 *run_db, flor__spooler **out);
int flor__spooler_stop(flor__spooler *s, int finish);

#endif
