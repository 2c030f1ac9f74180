/*
 * register.c -- the public calls that register state for checkpoints
 * (flor_checkpoint, _typed, _ops) and remove it.  Each waits for the
 * checkpoint writer to be idle first (ckpt.c), then changes the registry
 * (state.c).  What the layers above want to happen on a registration
 * (a replay restores the object; a recorded run is tainted by an error)
 * they ask through the registry's hooks.
 */
#include "checkpoint/checkpoint.h"

#include <stdio.h>
#include <string.h>

/* A registration that fails leaves state out of every checkpoint, so a
 * replay would silently diverge: besides the code, one line on stderr
 * (even under FLOR_QUIET) and the run is marked to end as failed. */
static int registration_error(int code)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", flor_errmsg());
    flor__loss("%s", msg);
    if (flor__S.on_error)
        flor__S.on_error(msg);
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
    flor__state *s = flor__state_find(name);
    if (!s) {
        if (!(s = flor__state_new(name)))
            return FLOR_ENOMEM;
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
    if (!ops && flor__S.on_register) { /* a replay or a resume may restore this now */
        int rc = flor__S.on_register(s);
        if (rc || !flor__S.staging) /* a replay takes no snapshots */
            return rc;
    }
    if (!ops && flor__S.staging && nbytes) {
        int rc = flor__state_stage_reserve(s, nbytes);
        if (!rc && s->stage_cold)
            flor__ckpt_warm_staging(); /* in the background, on the writer's core */
        return rc;
    }
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
    flor__state *s = flor__state_find(name);
    if (!s)
        return flor__err(FLOR_ENOTFOUND, "flor_checkpoint_remove: no state named '%s'", name);
    flor__state_remove(s);
    return 0;
}
