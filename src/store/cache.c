/*
 * cache.c -- the delta-base cache: raw bytes of recently put chunks, by
 * hash, so that the next version of an object can be XOR'ed against them
 * without reading the store back.  mu held.
 */
#include "store_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

/* Raw bytes of recently put chunks, by hash, so that the next version of an
 * object can be XOR'ed against them without reading the store.  Buffers are
 * handed from the version they held to the version that replaces it, so a
 * steady stream of checkpoints allocates nothing.  When the cache is full,
 * new chunks are simply not cached (no eviction: a cyclic stream of objects
 * larger than the cache would otherwise never hit). */

/* Clears the cache if a failed sync made it stale; no task may be running. */
void flor__cache_settle(flor__store *s)
{
    lock(&s->mu);
    if (s->cache_stale)
        flor__cache_clear(s);
    s->cache_stale = 0;
    unlock(&s->mu);
}

void flor__cache_clear(flor__store *s)
{
    for (size_t i = 0; i < s->nslabs; i++)
        munmap(s->slabs[i].buf, s->slabs[i].len);
    free(s->slabs);
    free(s->cbufs);
    free(s->cfree);
    s->slabs = NULL;
    s->cbufs = NULL;
    s->cfree = NULL;
    s->nslabs = s->capslabs = s->slab_used = 0;
    s->ncbufs = s->capcbufs = s->nfree = s->cache_bytes = 0;
    flor__ht_free(&s->cache);
}

/* Takes the buffer holding H out of the map; -1 when not cached. */
int32_t flor__cache_claim(flor__store *s, const flor__hash *h)
{
    struct cmap *m = flor__ht_find(&s->cache, h);
    if (!m)
        return -1;
    int32_t b = m->buf;
    flor__ht_del(&s->cache, h);
    return b;
}

#define SLAB_BYTES ((size_t)32 << 20)

/* A new chunk-sized buffer, carved from large mappings that may use huge
 * pages: a first checkpoint fills the whole cache at once, and faulting
 * it in 4 KiB at a time would cost more than compressing. */
static uint8_t *slab_carve(flor__store *s)
{
    size_t cs = s->chunk_size;
    if (!s->nslabs || s->slab_used + cs > s->slabs[s->nslabs - 1].len) {
        size_t room = (s->cache_limit - s->cache_bytes) / cs * cs;
        size_t len = cs >= SLAB_BYTES ? cs : SLAB_BYTES / cs * cs;
        len = len < room ? len : room;
        if (s->nslabs == s->capslabs) {
            size_t cap = s->capslabs ? 2 * s->capslabs : 16;
            struct cbuf *p = realloc(s->slabs, cap * sizeof *p);
            if (!p)
                return NULL;
            s->slabs = p;
            s->capslabs = cap;
        }
        void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return NULL;
#ifdef MADV_HUGEPAGE
        madvise(m, len, MADV_HUGEPAGE);
#endif
        s->slabs[s->nslabs++] = (struct cbuf){m, len};
        s->slab_used = 0;
    }
    uint8_t *b = s->slabs[s->nslabs - 1].buf + s->slab_used;
    s->slab_used += cs;
    return b;
}

/* A free buffer of chunk_size bytes, or -1 when the cache is full. */
int32_t flor__cache_alloc(flor__store *s)
{
    if (s->nfree)
        return s->cfree[--s->nfree];
    if (s->cache_bytes + s->chunk_size > s->cache_limit || s->ncbufs >= INT32_MAX)
        return -1;
    if (s->ncbufs == s->capcbufs) {
        size_t cap = s->capcbufs ? 2 * s->capcbufs : 256;
        struct cbuf *nb = realloc(s->cbufs, cap * sizeof *nb);
        if (nb)
            s->cbufs = nb;
        int32_t *nf = realloc(s->cfree, cap * sizeof *nf);
        if (nf)
            s->cfree = nf;
        if (!nb || !nf)
            return -1;
        s->capcbufs = cap;
    }
    uint8_t *buf = slab_carve(s);
    if (!buf)
        return -1;
    s->cbufs[s->ncbufs] = (struct cbuf){buf, 0};
    s->cache_bytes += s->chunk_size;
    return (int32_t)s->ncbufs++;
}

void flor__cache_release(flor__store *s, int32_t b)
{
    if (b >= 0)
        s->cfree[s->nfree++] = b;
}

/* Files buffer B (now holding LEN bytes of chunk H) under H. */
void flor__cache_insert(flor__store *s, int32_t b, const flor__hash *h, size_t len)
{
    int fresh;
    struct cmap *m = flor__ht_put(&s->cache, h, &fresh);
    if (!m || !fresh) {
        flor__cache_release(s, b);
        return;
    }
    m->buf = b;
    s->cbufs[b].len = len;
}
