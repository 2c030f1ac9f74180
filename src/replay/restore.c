/*
 * restore.c -- reading checkpoints back: flor_project_restore() puts a
 * recorded run's state at the end of an iteration back into the
 * registered objects, in place, verifying every chunk.
 *
 * Callback objects come first: their load() may register the flat objects
 * the checkpoint holds that the program has not created yet (optimizer
 * state in a fresh process), which are then restored into.
 *
 * In a replay, a flat object of the checkpoint that the program has not
 * registered yet (optimizer moments allocated on first use) is kept
 * pending: flor_checkpoint_typed() restores it the moment the program
 * registers it.  One still pending when the iteration after the restore
 * ends is an error.
 */
#include "replay/replay.h"

#include <stdlib.h>
#include <string.h>

static int find_checkpoint(flor_project *p, int64_t run, long iteration, int64_t *id,
                           char *coords, size_t ncoords)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(p->db,
                                "SELECT ckpt_id, coords FROM checkpoints WHERE run_id=? AND "
                                "iteration=? ORDER BY ckpt_id",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(p->db, rc, "cannot read checkpoints");
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_int64(st, 2, iteration);
    int found = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        found++;
        *id = sqlite3_column_int64(st, 0);
        snprintf(coords, ncoords, "%s", (const char *)sqlite3_column_text(st, 1));
    }
    sqlite3_finalize(st);
    if (found == 0)
        return flor__err(FLOR_ENOTFOUND, "run %lld has no checkpoint at iteration %ld",
                         (long long)run, iteration);
    if (found > 1)
        return flor__err(FLOR_EINVAL,
                         "run %lld has %d checkpoints at iteration %ld (a nested checkpointed "
                         "loop): ambiguous",
                         (long long)run, found, iteration);
    return 0;
}

/* The flat objects of the last restore that were not registered then. */
typedef struct pending {
    char *name;
    uint32_t version;
    size_t nbytes;
    struct flor__obj obj;
} pending;

static struct {
    flor_project *p;
    int64_t run;
    char where[512];
    pending *v;
    int n, cap;
} P_;

static void pending_drop(int i)
{
    free(P_.v[i].name);
    flor__obj_release(&P_.v[i].obj);
    P_.v[i] = P_.v[--P_.n];
}

void flor__restore_pending_release(void)
{
    while (P_.n)
        pending_drop(P_.n - 1);
    free(P_.v);
    memset(&P_, 0, sizeof P_);
}

static int pending_add(flor_project *p, int64_t run, const char *where, const char *name,
                       uint32_t version, size_t nbytes, const void *blob, size_t bloblen)
{
    if (P_.n == P_.cap) {
        int cap = P_.cap ? 2 * P_.cap : 8;
        pending *v = realloc(P_.v, (size_t)cap * sizeof *v);
        if (!v)
            return flor__err(FLOR_ENOMEM, "out of memory");
        P_.v = v;
        P_.cap = cap;
    }
    pending *e = &P_.v[P_.n];
    memset(e, 0, sizeof *e);
    int rc = flor__obj_decode(blob, bloblen, &e->obj);
    if (rc)
        return flor__err_wrap(rc, "checkpoint of run %lld at %s: object '%s'", (long long)run,
                              where, name);
    if (!(e->name = flor__strdup(name))) {
        flor__obj_release(&e->obj);
        return flor__err(FLOR_ENOMEM, "out of memory");
    }
    e->version = version;
    e->nbytes = nbytes;
    P_.n++;
    P_.p = p;
    P_.run = run;
    snprintf(P_.where, sizeof P_.where, "%s", where);
    return 0;
}

int flor__restore_pending_left(void)
{
    if (!P_.n)
        return 0;
    return flor__err(FLOR_ENOTFOUND,
                     "checkpoint of run %lld at %s: object '%s' is not registered (nor did the "
                     "program register it in the iteration after the restore)",
                     (long long)P_.run, P_.where, P_.v[0].name);
}

int flor__restore_pending(flor__state *s)
{
    int i = 0;
    while (i < P_.n && strcmp(P_.v[i].name, s->name) != 0)
        i++;
    if (i == P_.n || s->ops.load)
        return 0;
    pending *e = &P_.v[i];
    int rc = 0;
    if (s->version != e->version)
        rc = flor__err(FLOR_ECORRUPT,
                       "checkpoint of run %lld at %s: object '%s' has version %u, the program "
                       "registered version %u",
                       (long long)P_.run, P_.where, e->name, e->version, s->version);
    else if (s->nbytes != e->nbytes || e->obj.nbytes != e->nbytes)
        rc = flor__err(FLOR_ECORRUPT,
                       "checkpoint of run %lld at %s: object '%s' has %zu bytes, the program "
                       "registered %zu",
                       (long long)P_.run, P_.where, e->name, e->nbytes, s->nbytes);
    else if ((rc = flor__store_get(P_.p->store, &e->obj, s->data, s->nbytes)) != 0)
        flor__err_wrap(rc, "checkpoint of run %lld at %s: object '%s'", (long long)P_.run,
                       P_.where, e->name);
    pending_drop(i);
    return rc;
}

static int restore_object(flor_project *p, int64_t run, const char *where, const char *name,
                          uint32_t version, size_t nbytes, int callback, const void *blob,
                          size_t bloblen)
{
    flor__state *s = flor__state_find(name);
    if (!s && flor__P.on && !callback) /* registered later, on first use */
        return pending_add(p, run, where, name, version, nbytes, blob, bloblen);
    if (!s)
        return flor__err(FLOR_ENOTFOUND,
                         "checkpoint of run %lld at %s: object '%s' is not registered",
                         (long long)run, where, name);
    if (s->version != version)
        return flor__err(FLOR_ECORRUPT,
                         "checkpoint of run %lld at %s: object '%s' has version %u, the program "
                         "registered version %u",
                         (long long)run, where, name, version, s->version);
    if (!s->ops.load && s->nbytes != nbytes)
        return flor__err(FLOR_ECORRUPT,
                         "checkpoint of run %lld at %s: object '%s' has %zu bytes, the program "
                         "registered %zu",
                         (long long)run, where, name, nbytes, s->nbytes);
    struct flor__obj obj;
    int rc = flor__obj_decode(blob, bloblen, &obj);
    if (rc)
        return flor__err_wrap(rc, "checkpoint of run %lld at %s: object '%s'", (long long)run,
                              where, name);
    if (obj.nbytes != nbytes) {
        flor__obj_release(&obj);
        return flor__err(FLOR_ECORRUPT, "checkpoint of run %lld at %s: object '%s': manifest "
                                        "size %llu differs from its row (%zu)",
                         (long long)run, where, name, (unsigned long long)obj.nbytes, nbytes);
    }
    void *dst = s->data;
    if (s->ops.load) {
        if ((rc = flor__state_stage_reserve(s, nbytes ? nbytes : 1)) != 0) {
            flor__obj_release(&obj);
            return rc;
        }
        dst = s->stage;
    }
    rc = flor__store_get(p->store, &obj, dst, nbytes);
    flor__obj_release(&obj);
    if (rc)
        return flor__err_wrap(rc, "checkpoint of run %lld at %s: object '%s'", (long long)run,
                              where, name);
    /* the callback may register objects, which moves the registry: S is
     * not used after it */
    int (*load)(void *, const void *, size_t) = s->ops.load;
    if (load && (rc = load(s->self, s->stage, nbytes)) != 0)
        return flor__err(rc < 0 ? rc : FLOR_EIO,
                         "checkpoint of run %lld at %s: object '%s': its load callback "
                         "returned %d",
                         (long long)run, where, name, rc);
    return 0;
}

int flor_project_restore(flor_project *p, int64_t run, long iteration)
{
    flor__err_clear();
    flor__restore_pending_release(); /* this restore replaces the state */
    int64_t id = 0;
    char where[512];
    int rc = find_checkpoint(p, run, iteration, &id, where, sizeof where);
    if (!rc)
        rc = flor__project_store(p);
    if (rc)
        return rc;
    sqlite3_stmt *st;
    rc = sqlite3_prepare_v2(p->db,
                            "SELECT name, version, nbytes, manifest FROM checkpoint_objects "
                            "WHERE ckpt_id=? ORDER BY callback DESC, name",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(p->db, rc, "cannot read checkpoint objects");
    sqlite3_bind_int64(st, 1, id);
    int err = 0;
    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        err = restore_object(p, run, where, (const char *)sqlite3_column_text(st, 0),
                             (uint32_t)sqlite3_column_int64(st, 1),
                             (size_t)sqlite3_column_int64(st, 2), sqlite3_column_int(st, 4),
                             sqlite3_column_blob(st, 3),
                             (size_t)sqlite3_column_bytes(st, 3));
    }
    if (!err && rc != SQLITE_DONE)
        err = flor__err_sqlite(p->db, rc, "cannot read checkpoint objects");
    sqlite3_finalize(st);
    return err;
}

int flor_project_checkpoints(flor_project *p, int64_t run, flor_table **out)
{
    *out = NULL;
    flor__err_clear();
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(
        p->db,
        "SELECT c.run_id AS run, c.loop, c.iteration, count(o.name) AS objects,"
        " c.logical_bytes, c.stored_bytes, round(c.stall_s * 1000, 3) AS stall_ms,"
        " round(c.write_s * 1000, 3) AS write_ms, c.codec"
        " FROM checkpoints c LEFT JOIN checkpoint_objects o ON o.ckpt_id = c.ckpt_id"
        " WHERE ?1 = 0 OR c.run_id = ?1 GROUP BY c.ckpt_id ORDER BY c.run_id, c.ckpt_id",
        -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(p->db, rc, "cannot read checkpoints");
    sqlite3_bind_int64(st, 1, run);
    rc = flor__table_from_stmt(st, out);
    sqlite3_finalize(st);
    return rc;
}
