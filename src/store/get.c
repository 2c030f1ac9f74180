/*
 * get.c -- flor__store_get and flor__store_has: find each chunk in the index
 * (reading new index records once on a miss), restore its delta base first,
 * then read, verify and decode its record.
 */
#include "store_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

struct get_arg {
    const struct flor__obj *obj;
    uint8_t *dst;
    _Atomic int refreshed;
};

/* Copies the index entry for H and its pack's fd and id.  On a miss the
 * indexes are read again once per get (another process may have written
 * the chunk since this handle looked). */
static int lookup(flor__store *s, struct get_arg *a, const flor__hash *h, struct ient *e,
                  int *fd, uint32_t *id)
{
    lock(&s->mu);
    struct ient *f = flor__ht_find(&s->index, h);
    if (!f && atomic_exchange(&a->refreshed, 1) == 0) {
        int rc = flor__index_refresh(s);
        if (rc) {
            unlock(&s->mu);
            return rc;
        }
        f = flor__ht_find(&s->index, h);
    }
    if (!f && s->remote.fetch) { /* evicted, or never here: from the remote */
        unlock(&s->mu);
        int rc = flor__records_fetch(s, h);
        if (rc)
            return rc;
        lock(&s->mu);
        f = flor__ht_find(&s->index, h);
    }
    if (f) {
        *e = *f;
        *fd = s->packs[f->slot].fd;
        *id = s->packs[f->slot].id;
    }
    unlock(&s->mu);
    if (!f) {
        char hex[33];
        flor__hash_hex(h, hex);
        return flor__err(FLOR_ENOTFOUND, "chunk %s not found in '%s'", hex, s->dir);
    }
    return 0;
}

int flor__chunk_err(const flor__store *s, int code, uint32_t id, const struct ient *e,
                     const char *what)
{
    char hex[33];
    flor__hash_hex(&e->hash, hex);
    return flor__err(code, "'%s': chunk %s at offset %llu: %s", flor__pack_path(s, id, "pack"), hex,
                     (unsigned long long)e->off, what);
}

/* Restores chunk H (LEN bytes) into DST: its base first when it is a delta,
 * then its own record, verified. */
static int get_chunk(flor__store *s, struct wctx *w, struct get_arg *a, const flor__hash *h,
                     uint8_t *dst, size_t len, int level)
{
    struct ient e;
    int fd = -1;
    uint32_t id = 0;
    int rc = lookup(s, a, h, &e, &fd, &id);
    if (rc)
        return rc;
    if (e.raw_len != len)
        return flor__chunk_err(s, FLOR_ECORRUPT, id, &e, "size differs from the manifest's");
    if (e.depth && level >= MAX_CHAIN)
        return flor__chunk_err(s, FLOR_ECORRUPT, id, &e, "delta chain too long (a cycle?)");
    if (e.depth && (rc = get_chunk(s, w, a, &e.base, dst, len, level + 1)) != 0)
        return rc;
    int direct = e.codec == FLOR__CODEC_RAW;
    if (direct && e.stored_len != len) /* it is read straight into DST */
        return flor__chunk_err(s, FLOR_ECORRUPT, id, &e, "raw record's length differs from the chunk's");
    if (!direct && (rc = flor__wctx_reserve(w, e.stored_len)) != 0)
        return rc;
    uint8_t hdr[REC_HDR];
    uint8_t *data = direct ? dst : w->rbuf;
    struct iovec iov[2] = {{hdr, REC_HDR}, {data, e.stored_len}};
    ssize_t got = flor__io_preadv(fd, iov, 2, e.off);
    if (got < 0)
        return flor__chunk_err(s, FLOR_EIO, id, &e, strerror(errno));
    if ((size_t)got != REC_HDR + (size_t)e.stored_len)
        return flor__chunk_err(s, FLOR_ECORRUPT, id, &e, "pack is truncated");
    const char *why = flor__rec_header_check(hdr, &e);
    if (why)
        return flor__chunk_err(s, FLOR_ECORRUPT, id, &e, why);
    if (XXH3_64bits(data, e.stored_len) != flor__get_le64(hdr + 48))
        return flor__chunk_err(s, FLOR_ECORRUPT, id, &e, "checksum mismatch");
    if (!direct) {
        rc = flor__codec_decode(w->codec, e.codec, e.esize, data, e.stored_len, dst, len);
        if (rc) {
            char why_buf[256];
            snprintf(why_buf, sizeof why_buf, "%s", flor_errmsg());
            return flor__chunk_err(s, rc, id, &e, why_buf);
        }
    }
    flor__hash got_hash = flor__hash_of(dst, len);
    if (memcmp(&got_hash, h, sizeof got_hash) != 0)
        return flor__chunk_err(s, FLOR_ECORRUPT, id, &e, "content does not match its hash");
    return 0;
}

static int get_task(flor__store *s, struct wctx *w, struct job *j, size_t i)
{
    struct get_arg *a = j->arg;
    size_t cs = a->obj->chunk_size;
    return get_chunk(s, w, a, &a->obj->chunks[i].hash, a->dst + i * cs,
                     flor__chunk_len(a->obj->nbytes, cs, i), 0);
}

static int obj_check(const struct flor__obj *o)
{
    if (!o)
        return flor__err(FLOR_EINVAL, "no object manifest");
    uint64_t cs = o->chunk_size;
    if ((o->nbytes && !cs) || cs > MAX_CHUNK ||
        (cs && o->nbytes / cs + (o->nbytes % cs != 0) != o->nchunks) ||
        (o->nchunks && !o->chunks))
        return flor__err(FLOR_EINVAL, "malformed object manifest");
    return 0;
}

int flor__store_get(flor__store *s, const struct flor__obj *obj, void *dst, size_t n)
{
    int rc = obj_check(obj);
    if (rc)
        return rc;
    if (n != obj->nbytes)
        return flor__err(FLOR_EINVAL, "object has %llu bytes, destination %zu",
                         (unsigned long long)obj->nbytes, n);
    if (n && !dst)
        return flor__err(FLOR_EINVAL, "no destination for %zu bytes", n);
    lock(&s->opmu);
    struct get_arg a = {.obj = obj, .dst = dst};
    struct job j = {.fn = get_task, .arg = &a, .n = obj->nchunks};
    rc = flor__job_run(s, &j);
    unlock(&s->opmu);
    return rc;
}

/* Under mu: is H, with its chain of bases, in the index? */
static int have_chain(flor__store *s, const flor__hash *h)
{
    for (int level = 0; level <= MAX_CHAIN; level++) {
        struct ient *e = flor__ht_find(&s->index, h);
        if (!e)
            return 0;
        if (!e->depth)
            return 1;
        h = &e->base;
    }
    return 0;
}

int flor__store_has(flor__store *s, const struct flor__obj *obj)
{
    if (obj_check(obj))
        return 0;
    lock(&s->opmu);
    lock(&s->mu);
    int ok = 1;
    for (int pass = 0; pass < 2; pass++) {
        ok = 1;
        for (uint32_t i = 0; i < obj->nchunks && ok; i++)
            ok = have_chain(s, &obj->chunks[i].hash);
        if (ok || pass || flor__index_refresh(s))
            break;
    }
    unlock(&s->mu);
    unlock(&s->opmu);
    return ok;
}
