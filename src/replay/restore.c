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
    int found = 0;
    int rc = flor__checkpoints_find(p->db, run, iteration, id, coords, ncoords, &found);
    if (rc)
        return rc;
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

/* What restore_object needs besides the object's row. */
typedef struct restore_ctx {
    flor_project *p;
    int64_t run;
    const char *where;
} restore_ctx;

static int restore_object(void *arg, const flor__ckpt_object *o)
{
    restore_ctx *x = arg;
    flor_project *p = x->p;
    int64_t run = x->run;
    const char *where = x->where, *name = o->name;
    uint32_t version = o->version;
    size_t nbytes = o->nbytes, bloblen = o->manifest_len;
    /* An object not registered yet waits for its registration whatever
     * its kind: the query this code used before read `callback` past its
     * last column (always 0), and that behaviour is kept; a callback
     * object still waiting is reported when the iteration ends. */
    int callback = 0;
    const void *blob = o->manifest;
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

int flor__restore_checkpoint(flor_project *p, int64_t run, int64_t id, const char *where)
{
    flor__restore_pending_release(); /* this restore replaces the state */
    int rc = flor__project_store(p);
    if (rc)
        return rc;
    /* the chunks an evicted checkpoint needs, fetched together */
    if ((rc = flor__project_prefetch(p, id)) != 0)
        return flor__err_wrap(rc, "checkpoint of run %lld at %s", (long long)run, where);
    restore_ctx x = {p, run, where};
    return flor__checkpoint_objects_each(p->db, id, restore_object, &x);
}

int flor_project_restore(flor_project *p, int64_t run, long iteration)
{
    flor__err_clear();
    flor__restore_pending_release();
    int64_t id = 0;
    char where[512];
    int rc = find_checkpoint(p, run, iteration, &id, where, sizeof where);
    return rc ? rc : flor__restore_checkpoint(p, run, id, where);
}

int flor_project_checkpoints(flor_project *p, int64_t run, flor_table **out)
{
    *out = NULL;
    flor__err_clear();
    return flor__checkpoints_table(p->db, run, out);
}
