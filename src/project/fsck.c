/*
 * fsck.c -- checking a project's records and checkpoints end to end
 * (flor_project_fsck): the database (integrity, foreign keys, schema
 * version, runs left `running` by a dead process), the store's packs and
 * indexes (store.c's flor__store_check), and that every checkpoint's
 * manifest names chunks that can be read.  With repair, damaged indexes
 * are rebuilt from their packs first, and only then are the checkpoints
 * that still cannot be read dropped, each one listed.
 */
#include "project/project.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum { C_KIND, C_FILE, C_RUN, C_OBJECT, C_ITER, C_DETAIL, C_REPAIRED, NCOLS };

struct fsck {
    flor_project *p;
    unsigned flags;
    flor_table *t;
    flor_progress_fn progress;
    void *arg;
    char *dbpath;
    char *objdir;
    int64_t *drop; /* checkpoints that cannot be read */
    size_t ndrop, capdrop;
};

/* Adds a problem row; RUN and ITER < 0 and OBJECT NULL leave them NULL. */
static int add(struct fsck *f, const char *kind, const char *file, int64_t run,
               const char *object, int64_t iter, int repaired, const char *fmt, ...)
    FLOR__PRINTF(8, 9);
static int add(struct fsck *f, const char *kind, const char *file, int64_t run,
               const char *object, int64_t iter, int repaired, const char *fmt, ...)
{
    char detail[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    size_t r = flor__table_add_row(f->t);
    if (r == (size_t)-1)
        return flor__err(FLOR_ENOMEM, "out of memory");
    int rc = flor__table_set_text(f->t, r, C_KIND, kind);
    if (!rc && file)
        rc = flor__table_set_text(f->t, r, C_FILE, file);
    if (!rc && object)
        rc = flor__table_set_text(f->t, r, C_OBJECT, object);
    if (!rc)
        rc = flor__table_set_text(f->t, r, C_DETAIL, detail);
    if (rc)
        return flor__err(FLOR_ENOMEM, "out of memory");
    if (run >= 0) {
        flor__cell *c = flor__table_cell(f->t, r, C_RUN);
        c->type = FLOR_INTEGER;
        c->v.i = run;
    }
    if (iter >= 0) {
        flor__cell *c = flor__table_cell(f->t, r, C_ITER);
        c->type = FLOR_INTEGER;
        c->v.i = iter;
    }
    flor__cell *c = flor__table_cell(f->t, r, C_REPAIRED);
    c->type = FLOR_INTEGER;
    c->v.i = repaired;
    return 0;
}

/* ---- the database ---------------------------------------------------------- */

static int check_pragma(struct fsck *f, const char *sql, const char *what)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(f->p->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return add(f, "database", f->dbpath, -1, NULL, -1, 0, "%s failed: %s", what,
                   sqlite3_errmsg(f->p->db));
    int err = 0;
    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        /* integrity_check: one text column, "ok" when sound;
         * foreign_key_check: table, rowid, parent, fkid */
        const char *a = (const char *)sqlite3_column_text(st, 0);
        if (sqlite3_column_count(st) == 1 && a && strcmp(a, "ok") == 0)
            continue;
        if (sqlite3_column_count(st) >= 3)
            err = add(f, "database", f->dbpath, -1, NULL, -1, 0,
                      "%s: row %lld of table %s names a missing row of %s", what,
                      (long long)sqlite3_column_int64(st, 1), a ? a : "?",
                      (const char *)sqlite3_column_text(st, 2));
        else
            err = add(f, "database", f->dbpath, -1, NULL, -1, 0, "%s: %s", what, a ? a : "?");
    }
    if (!err && rc != SQLITE_DONE)
        err = add(f, "database", f->dbpath, -1, NULL, -1, 0, "%s failed: %s", what,
                  sqlite3_errmsg(f->p->db));
    sqlite3_finalize(st);
    return err;
}

static int check_schema(struct fsck *f)
{
    int v;
    if (flor__db_schema_version(f->p->db, &v) != SQLITE_OK)
        return add(f, "database", f->dbpath, -1, NULL, -1, 0, "no schema version: %s",
                   sqlite3_errmsg(f->p->db));
    if (v != FLOR__SCHEMA_VERSION)
        return add(f, "database", f->dbpath, -1, NULL, -1, 0,
                   "schema version %d, expected %d", v, FLOR__SCHEMA_VERSION);
    return 0;
}

struct dead_runs {
    struct fsck *f;
    int dead;
};

static int on_running(void *ctx, int64_t run, long pid, const char *identity)
{
    struct dead_runs *d = ctx;
    if (flor__process_alive(pid, identity))
        return 0;
    d->dead++;
    int repair = (d->f->flags & FLOR_FSCK_REPAIR) != 0;
    return add(d->f, "run", d->f->dbpath, run, NULL, -1, repair,
               "status is running but its process (pid %ld) is gone%s", pid,
               repair ? "; marked killed" : "");
}

/* Runs of this host still `running` whose process is gone. */
static int check_runs(struct fsck *f)
{
    struct dead_runs d = {f, 0};
    int err = flor__runs_scan_running(f->p->db, on_running, &d);
    if (!err && d.dead && (f->flags & FLOR_FSCK_REPAIR))
        err = flor__db_reap(f->p->db);
    return err;
}

/* ---- the store ---------------------------------------------------------- */

static int on_store_problem(void *ctx, const struct flor__store_problem *pr)
{
    struct fsck *f = ctx;
    char hex[33] = "";
    if (pr->chunk)
        flor__hash_hex(pr->chunk, hex);
    if (pr->chunk)
        return add(f, pr->kind, pr->file, -1, NULL, -1, pr->repaired, "chunk %s: %s%s", hex,
                   pr->detail, pr->repaired ? "; index rebuilt from the pack" : "");
    return add(f, pr->kind, pr->file, -1, NULL, -1, pr->repaired, "%s%s", pr->detail,
               pr->repaired && strcmp(pr->kind, "index") == 0 ? "; rebuilt from the pack" : "");
}

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
    struct fsck *f = ctx;
    if (f->progress)
        f->progress(f->arg, done, total);
}

static int remember_drop(struct fsck *f, int64_t ckpt)
{
    if (f->ndrop && f->drop[f->ndrop - 1] == ckpt)
        return 0;
    if (f->ndrop == f->capdrop) {
        size_t cap = f->capdrop ? 2 * f->capdrop : 16;
        int64_t *p = realloc(f->drop, cap * sizeof *p);
        if (!p)
            return flor__err(FLOR_ENOMEM, "out of memory");
        f->drop = p;
        f->capdrop = cap;
    }
    f->drop[f->ndrop++] = ckpt;
    return 0;
}

/* The first problem of one object's manifest, in the thread's message;
 * 0 when every chunk can be read. */
static int object_problem(flor_project *p, const void *blob, size_t n)
{
    struct flor__obj o;
    int rc = flor__obj_decode(blob, n, &o);
    if (rc)
        return rc;
    for (uint32_t i = 0; i < o.nchunks && !rc; i++)
        rc = flor__store_check_chunk(p->store, &o.chunks[i].hash);
    flor__obj_release(&o);
    return rc;
}

/* One object of a checkpoint (flor__checkpoints_scan_objects' row): a
 * problem row, and the checkpoint to drop, when it cannot be read. */
static int check_object(void *ctx, sqlite3_stmt *st)
{
    struct fsck *f = ctx;
    int repair = (f->flags & FLOR_FSCK_REPAIR) != 0;
    int prc = object_problem(f->p, sqlite3_column_blob(st, 4),
                             (size_t)sqlite3_column_bytes(st, 4));
    if (prc == FLOR_ENOMEM)
        return prc;
    if (!prc)
        return 0;
    int err = add(f, "checkpoint", f->objdir, sqlite3_column_int64(st, 1),
                  (const char *)sqlite3_column_text(st, 3), sqlite3_column_int64(st, 2), repair,
                  "cannot be read: %s%s", flor_errmsg(), repair ? "; checkpoint dropped" : "");
    return err ? err : remember_drop(f, sqlite3_column_int64(st, 0));
}

/* With the store checked (and its indexes rebuilt), under its lock: every
 * object of every checkpoint must be readable. */
static int check_checkpoints(void *ctx)
{
    struct fsck *f = ctx;
    size_t first = flor_table_nrows(f->t);
    int err = flor__checkpoints_scan_objects(f->p->db, check_object, f);
    if (!err && (f->flags & FLOR_FSCK_REPAIR) && f->ndrop) {
        err = flor__checkpoints_delete(f->p->db, f->drop, f->ndrop);
        if (err) /* the rows stay: say so */
            for (size_t r = first; r < flor_table_nrows(f->t); r++)
                flor__table_cell(f->t, r, C_REPAIRED)->v.i = 0;
    }
    return err;
}

int flor_project_fsck(flor_project *p, unsigned flags, flor_progress_fn progress, void *arg,
                      flor_table **out)
{
    *out = NULL;
    flor__err_clear();
    if (flags & ~(unsigned)FLOR_FSCK_REPAIR)
        return flor__err(FLOR_EINVAL, "fsck: unknown flags 0x%x", flags);
    static const char *cols[NCOLS] = {"kind", "file", "run", "object", "iteration", "detail",
                                      "repaired"};
    struct fsck f = {.p = p, .flags = flags, .progress = progress, .arg = arg};
    f.t = flor__table_new(NCOLS, cols);
    f.dbpath = flor__printf("%s/flor.db", p->place.datadir);
    f.objdir = flor__printf("%s/objects", p->place.datadir);
    int rc = f.t && f.dbpath && f.objdir ? 0 : flor__err(FLOR_ENOMEM, "out of memory");
    if (!rc)
        rc = check_pragma(&f, "PRAGMA integrity_check", "integrity check");
    if (!rc)
        rc = check_pragma(&f, "PRAGMA foreign_key_check", "foreign key check");
    if (!rc)
        rc = check_schema(&f);
    if (!rc)
        rc = check_runs(&f);
    if (!rc)
        rc = flor__project_store(p);
    if (!rc)
        rc = flor__store_check(p->store, (flags & FLOR_FSCK_REPAIR) != 0, on_store_problem,
                               check_checkpoints, on_progress, &f, NULL);
    free(f.dbpath);
    free(f.objdir);
    free(f.drop);
    if (rc) {
        flor_table_free(f.t);
        return rc;
    }
    *out = f.t;
    return 0;
}
