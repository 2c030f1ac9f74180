/*
 * state.c -- the registry of checkpointed state and its staging area.
 *
 * Each registered object owns a staging buffer that is reused by every
 * checkpoint, so a snapshot is a warm memcpy (a first touch of fresh
 * pages runs 10x slower than a copy into memory already mapped).  The
 * staging of a flat buffer is mapped and populated when it is registered,
 * before training needs it; a callback object's staging grows on demand.
 *
 * The checkpoint writer reads the registry and the staging buffers while
 * it works; registration and removal first wait until it is idle, so the
 * two never overlap.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

flor__states flor__S;

static void stage_free(flor__state *s)
{
    if (s->stage)
        munmap(s->stage, s->stage_cap);
    s->stage = NULL;
    s->stage_cap = 0;
}

/* Makes S's staging hold at least N bytes, mapped and populated. */
int flor__state_stage_reserve(flor__state *s, size_t n)
{
    if (n <= s->stage_cap && s->stage)
        return 0;
    size_t cap = n < 4096 ? 4096 : n;
    if (s->ops.size) /* variable size: leave room to grow */
        cap += cap / 4;
    void *p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                   -1, 0);
    if (p == MAP_FAILED)
        return flor__err(FLOR_ENOMEM, "cannot reserve %zu bytes of staging for '%s'", cap,
                         s->name);
    stage_free(s);
    s->stage = p;
    s->stage_cap = cap;
    return 0;
}

static flor__state *find(const char *name)
{
    for (int i = 0; i < flor__S.n; i++)
        if (strcmp(flor__S.v[i].name, name) == 0)
            return &flor__S.v[i];
    return NULL;
}

flor__state *flor__state_find(const char *name) { return find(name); }

void flor__state_forget_previous(flor__state *s)
{
    flor__obj_release(&s->prev);
    s->has_prev = 0;
}

/* A registration that fails leaves state out of every checkpoint, so a
 * replay would silently diverge: besides the code, one line on stderr
 * (even under FLOR_QUIET) and the run is marked to end as failed. */
static int registration_error(int code)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", flor_errmsg());
    flor__loss("%s", msg);
    flor__run_taint(msg);
    flor__err(code, "%s", msg);
    return code;
}

static int add(const char *name, void *data, size_t nbytes, flor_dtype type, uint32_t version,
               const flor_state_ops *ops, void *self)
{
    if (!name || !*name)
        return registration_error(
            flor__err(FLOR_EINVAL, "flor_checkpoint: the name must be a non-empty string"));
    if (!ops && (!data || !nbytes))
        return registration_error(
            flor__err(FLOR_EINVAL,
                      "flor_checkpoint('%s'): %s: this state would be missing from every "
                      "checkpoint (register it once it is allocated)",
                      name, !data ? "NULL data" : "zero bytes"));
    if (ops && (!ops->size || !ops->save || !ops->load))
        return flor__err(FLOR_EINVAL, "flor_checkpoint_ops('%s'): size, save and load are required",
                         name);
    if ((unsigned)type > FLOR_F64)
        return flor__err(FLOR_EINVAL, "flor_checkpoint('%s'): unknown element type %d", name,
                         (int)type);
    flor__ckpt_wait_idle();
    flor__state *s = find(name);
    if (!s) {
        if (flor__S.n == flor__S.cap) {
            int cap = flor__S.cap ? flor__S.cap * 2 : 8;
            flor__state *v = realloc(flor__S.v, (size_t)cap * sizeof *v);
            if (!v)
                return flor__err(FLOR_ENOMEM, "out of memory");
            flor__S.v = v;
            flor__S.cap = cap;
        }
        s = &flor__S.v[flor__S.n];
        memset(s, 0, sizeof *s);
        if (!(s->name = flor__strdup(name)))
            return flor__err(FLOR_ENOMEM, "out of memory");
        flor__S.n++;
    } else if (s->version != version || s->type != type || s->nbytes != nbytes) {
        flor__state_forget_previous(s); /* a new layout: no delta against the old one */
    }
    s->data = data;
    s->nbytes = nbytes;
    s->type = type;
    s->version = version;
    if (ops)
        s->ops = *ops;
    else
        memset(&s->ops, 0, sizeof s->ops);
    s->self = self;
    if (!ops && flor__P.on) { /* a replay takes no snapshots; it may restore this now */
        int rc = flor__restore_pending(s);
        if (rc)
            flor__replay_fail();
        return rc;
    }
    if (!ops && flor__recording() && nbytes)
        return flor__state_stage_reserve(s, nbytes);
    return 0;
}

int flor_checkpoint_typed(const char *name, void *data, size_t nbytes, flor_dtype type,
                          uint32_t version)
{
    return add(name, data, nbytes, type, version, NULL, NULL);
}

int flor_checkpoint(const char *name, void *data, size_t nbytes)
{
    return add(name, data, nbytes, FLOR_BYTES, 0, NULL, NULL);
}

int flor_checkpoint_ops(const char *name, const flor_state_ops *ops, void *self, uint32_t version)
{
    if (!ops)
        return flor__err(FLOR_EINVAL, "flor_checkpoint_ops('%s'): ops is NULL", name ? name : "");
    return add(name, NULL, 0, FLOR_BYTES, version, ops, self);
}

int flor_checkpoint_remove(const char *name)
{
    if (!name)
        return flor__err(FLOR_EINVAL, "flor_checkpoint_remove: NULL name");
    flor__ckpt_wait_idle();
    flor__state *s = find(name);
    if (!s)
        return flor__err(FLOR_ENOTFOUND, "flor_checkpoint_remove: no state named '%s'", name);
    stage_free(s);
    flor__state_forget_previous(s);
    free(s->name);
    *s = flor__S.v[--flor__S.n];
    return 0;
}

/* Copies every object into its staging; returns the bytes copied. */
int flor__state_snapshot(size_t *total)
{
    *total = 0;
    for (int i = 0; i < flor__S.n; i++) {
        flor__state *s = &flor__S.v[i];
        size_t n = s->ops.size ? s->ops.size(s->self) : s->nbytes;
        int rc = flor__state_stage_reserve(s, n);
        if (rc)
            return rc;
        if (s->ops.save) {
            rc = s->ops.save(s->self, s->stage, n);
            if (rc)
                return flor__err(rc < 0 ? rc : FLOR_EIO, "cannot save '%s': its save callback "
                                                         "returned %d", s->name, rc);
        } else if (n) {
            memcpy(s->stage, s->data, n);
        }
        s->stage_len = n;
        *total += n;
    }
    return 0;
}

const char *flor__dtype_name(flor_dtype t)
{
    static const char *names[] = {"bytes", "u8", "i32", "i64", "f16", "bf16", "f32", "f64"};
    return (unsigned)t <= FLOR_F64 ? names[t] : "bytes";
}

size_t flor__dtype_size(flor_dtype t)
{
    static const size_t sizes[] = {1, 1, 4, 8, 2, 2, 4, 8};
    return (unsigned)t <= FLOR_F64 ? sizes[t] : 1;
}
