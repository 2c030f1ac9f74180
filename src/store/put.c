/*
 * put.c -- flor__store_put and flor__store_sync: hash each chunk, skip the
 * ones stored already, encode the others (as an XOR delta against the
 * previous version when its bytes are in the cache), append them, and keep
 * their raw bytes in the cache for the next version.
 */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

struct put_arg {
    const uint8_t *data;
    size_t n, cs, esize;
    int cheap;
    const struct flor__obj *prev; /* NULL unless its chunks line up with ours */
    struct flor__obj *out;
    struct flor__put_stats st;    /* under mu */
};

/* Under mu: a chunk with hash H was found already stored.  Returns a cache
 * buffer to fill with its bytes (so the next version can XOR against it),
 * or -1 when it is cached already or cannot be. */
static int32_t cache_for_dedup(flor__store *s, const flor__hash *h, const flor__hash *bh)
{
    if (!s->cache_limit || flor__ht_find(&s->cache, h))
        return -1;
    int32_t b = bh ? flor__cache_claim(s, bh) : -1;
    return b >= 0 ? b : flor__cache_alloc(s);
}

/* Under mu: the cached base for a delta against BH, if it may be used.
 * *DEPTH gets the base's depth.  -1 when none. */
static int32_t claim_base(flor__store *s, const flor__hash *bh, size_t len, uint8_t *depth)
{
    struct ient *be = flor__ht_find(&s->index, bh);
    int32_t b = flor__cache_claim(s, bh);
    if (b < 0)
        return -1;
    if (!be || be->raw_len != len || s->cbufs[b].len != len || be->depth >= MAX_DEPTH) {
        /* still handy as a buffer for this chunk's own bytes */
        *depth = 255;
        return b;
    }
    *depth = be->depth;
    return b;
}

static void ref_from_entry(struct flor__chunk_ref *r, const struct ient *e)
{
    r->depth = e->depth;
    memset(&r->base, 0, sizeof r->base);
    if (e->depth)
        r->base = e->base;
}

static uint64_t enc_checksum(struct wctx *w, const struct flor__enc *enc)
{
    XXH3_64bits_reset(w->xs);
    for (int i = 0; i < enc->niov; i++)
        XXH3_64bits_update(w->xs, enc->iov[i].p, enc->iov[i].n);
    return XXH3_64bits_digest(w->xs);
}

/* Encodes and appends chunk I unless the store has it. */
static int put_task(flor__store *s, struct wctx *w, struct job *j, size_t i)
{
    struct put_arg *a = j->arg;
    size_t len = flor__chunk_len(a->n, a->cs, i);
    const uint8_t *p = a->data + i * a->cs;
    struct flor__chunk_ref *ref = &a->out->chunks[i];
    ref->hash = flor__hash_of(p, len);
    const flor__hash *bh = a->prev ? &a->prev->chunks[i].hash : NULL;

    lock(&s->mu);
    struct ient *have = flor__ht_find(&s->index, &ref->hash);
    int32_t cb = -1;
    uint8_t bdepth = 255;
    if (!have) {
        int fresh;
        if (!flor__ht_put(&s->inflight, &ref->hash, &fresh)) {
            unlock(&s->mu);
            return flor__err(FLOR_ENOMEM, "out of memory");
        }
        if (!fresh) { /* another thread is writing the same bytes */
            ref->depth = DEFERRED;
            unlock(&s->mu);
            return 0;
        }
    }
    if (have) {
        ref_from_entry(ref, have);
        a->st.dedup++;
        cb = cache_for_dedup(s, &ref->hash, bh);
    } else if (bh && s->cache_limit) {
        cb = claim_base(s, bh, len, &bdepth);
        if (cb < 0)
            cb = flor__cache_alloc(s);
    } else if (s->cache_limit) {
        cb = flor__cache_alloc(s);
    }
    uint8_t *cbuf = cb >= 0 ? s->cbufs[cb].buf : NULL;
    unlock(&s->mu);

    int rc = 0;
    if (!have) {
        const uint8_t *base = cbuf && bdepth < MAX_DEPTH && !a->cheap ? cbuf : NULL;
        struct flor__enc enc = {0};
        rc = flor__codec_encode(w->codec, p, len, a->esize, base, a->cheap, &enc);
        struct ient e = {.hash = ref->hash, .raw_len = (uint32_t)len,
                         .stored_len = (uint32_t)enc.stored_len, .codec = enc.codec,
                         .esize = enc.esize};
        if (!rc && enc.codec == FLOR__CODEC_XOR) {
            e.base = *bh;
            e.depth = (uint8_t)(bdepth + 1);
        }
        if (!rc) {
            uint8_t hdr[REC_HDR];
            flor__rec_header(hdr, &e, enc.version, enc_checksum(w, &enc));
            lock(&s->wmu);
            rc = flor__writer_append(s, &s->w, 1, &e, hdr, &enc);
            if (!rc) {
                lock(&s->mu);
                rc = flor__index_insert(s, &e) ? flor__err(FLOR_ENOMEM, "out of memory") : 0;
                struct ient *cur = flor__ht_find(&s->index, &e.hash);
                if (cur)
                    ref_from_entry(ref, cur);
                a->st.stored += REC_HDR + e.stored_len;
                a->st.by_codec[e.codec]++;
                unlock(&s->mu);
            }
            unlock(&s->wmu);
        }
    }
    if (cb >= 0 && !rc)
        memcpy(cbuf, p, len);
    lock(&s->mu);
    if (cb >= 0 && !rc)
        flor__cache_insert(s, cb, &ref->hash, len);
    else
        flor__cache_release(s, cb);
    unlock(&s->mu);
    return rc;
}

/* Chunks that were being written by another thread when their turn came:
 * they are in the index now. */
static int resolve_deferred(flor__store *s, struct put_arg *a)
{
    int rc = 0;
    lock(&s->mu);
    for (uint32_t i = 0; i < a->out->nchunks && !rc; i++) {
        struct flor__chunk_ref *ref = &a->out->chunks[i];
        if (ref->depth != DEFERRED)
            continue;
        struct ient *e = flor__ht_find(&s->index, &ref->hash);
        if (e) {
            ref_from_entry(ref, e);
            a->st.dedup++;
        } else {
            rc = flor__err(FLOR_EIO, "chunk %u of the object was not stored", i);
        }
    }
    unlock(&s->mu);
    return rc;
}
int flor__store_put(flor__store *s, const void *data, size_t n, int elemtype,
                    const struct flor__obj *prev, struct flor__obj *out,
                    struct flor__put_stats *stats)
{
    double t0 = flor__mono();
    memset(out, 0, sizeof *out);
    if (stats)
        memset(stats, 0, sizeof *stats);
    int type = elemtype & 0xff, cheap = (elemtype & FLOR__PUT_CHEAP) != 0;
    if ((elemtype & ~(0xff | FLOR__PUT_CHEAP)) || type >= FLOR__ELEM_COUNT)
        return flor__err(FLOR_EINVAL, "unknown element type %d", elemtype);
    if (!data && n)
        return flor__err(FLOR_EINVAL, "no data for an object of %zu bytes", n);
    int rc = flor__store_check_pid(s);
    if (rc)
        return rc;
    lock(&s->opmu);
    size_t cs = s->chunk_size, nc = n / cs + (n % cs != 0);
    if (nc > UINT32_MAX) {
        unlock(&s->opmu);
        return flor__err(FLOR_EINVAL, "object of %zu bytes has too many chunks", n);
    }
    out->nbytes = n;
    out->chunk_size = (uint32_t)cs;
    out->elemtype = (uint8_t)type;
    out->nchunks = (uint32_t)nc;
    out->chunks = nc ? calloc(nc, sizeof *out->chunks) : NULL;
    if (nc && !out->chunks) {
        unlock(&s->opmu);
        memset(out, 0, sizeof *out);
        return flor__err(FLOR_ENOMEM, "out of memory");
    }
    rc = nc ? flor__writer_lock_shared(s) : 0;
    if (rc) {
        unlock(&s->opmu);
        flor__obj_release(out);
        return rc;
    }
    int aligned = prev && prev->nbytes == n && prev->chunk_size == cs && prev->nchunks == nc;
    struct put_arg a = {.data = data, .n = n, .cs = cs, .esize = flor__elem_size(type),
                        .cheap = cheap, .prev = aligned ? prev : NULL, .out = out};
    struct job j = {.fn = put_task, .arg = &a, .n = nc};
    lock(&s->mu);
    flor__ht_clear(&s->inflight);
    unlock(&s->mu);
    rc = flor__job_run(s, &j);
    flor__cache_settle(s);
    if (!rc)
        rc = resolve_deferred(s, &a);
    if (!rc) {
        a.st.logical = n;
        a.st.chunks = (uint32_t)nc;
        a.st.seconds = flor__mono() - t0;
        s->st.put_objects++;
        s->st.put_logical += n;
        s->st.put_stored += a.st.stored;
        s->st.put_chunks += nc;
        s->st.put_dedup += a.st.dedup;
        for (int c = 0; c < FLOR__CODEC_COUNT; c++)
            s->st.put_by_codec[c] += a.st.by_codec[c];
        if (stats)
            *stats = a.st;
    }
    unlock(&s->opmu);
    if (rc)
        flor__obj_release(out);
    return rc;
}

int flor__store_sync(flor__store *s)
{
    int rc = flor__store_check_pid(s);
    if (rc)
        return rc;
    lock(&s->opmu);
    lock(&s->wmu);
    rc = flor__writer_sync(s, &s->w, 1);
    if (!rc && s->lost)
        rc = flor__err(FLOR_EIO, "chunks put since the last sync were lost: %s", s->lost_msg);
    s->lost = 0;
    unlock(&s->wmu);
    flor__cache_settle(s);
    unlock(&s->opmu);
    return rc;
}
