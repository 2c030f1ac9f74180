/*
 * htab.c -- the store's hash tables keyed by chunk hash: open addressing
 * with linear probing, an entry starting with its 16-byte key.  Used for the
 * index (struct ient), the cache map (struct cmap), gc's live set and
 * fsck's findings.  Not thread-safe: the caller holds the lock that guards
 * the table.
 */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

static size_t ht_home(const struct htab *t, const flor__hash *k)
{
    uint64_t v;
    memcpy(&v, k->b, 8);
    return (size_t)(v ^ (v >> 31)) & (t->cap - 1);
}

void *flor__ht_find(const struct htab *t, const flor__hash *k)
{
    if (!t->cap)
        return NULL;
    for (size_t i = ht_home(t, k);; i = (i + 1) & (t->cap - 1)) {
        if (!t->used[i])
            return NULL;
        if (memcmp(flor__ht_at(t, i), k, 16) == 0)
            return flor__ht_at(t, i);
    }
}

static int ht_grow(struct htab *t)
{
    size_t cap = t->cap ? t->cap * 2 : 1024;
    struct htab n = {calloc(cap, t->esz), calloc(cap, 1), t->esz, cap, 0};
    if (!n.e || !n.used) {
        free(n.e);
        free(n.used);
        return flor__err(FLOR_ENOMEM, "out of memory for the chunk index");
    }
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->used[i])
            continue;
        size_t j = ht_home(&n, (const flor__hash *)flor__ht_at(t, i));
        while (n.used[j])
            j = (j + 1) & (cap - 1);
        memcpy(flor__ht_at(&n, j), flor__ht_at(t, i), t->esz);
        n.used[j] = 1;
        n.n++;
    }
    free(t->e);
    free(t->used);
    *t = n;
    return 0;
}

/* The entry for K, created (zeroed but for the key) when missing.  *FRESH
 * says which.  NULL on ENOMEM.  Invalidates pointers into the table. */
void *flor__ht_put(struct htab *t, const flor__hash *k, int *fresh)
{
    if ((t->n + 1) * 10 > t->cap * 7 && ht_grow(t))
        return NULL;
    size_t i = ht_home(t, k);
    for (; t->used[i]; i = (i + 1) & (t->cap - 1))
        if (memcmp(flor__ht_at(t, i), k, 16) == 0) {
            *fresh = 0;
            return flor__ht_at(t, i);
        }
    memset(flor__ht_at(t, i), 0, t->esz);
    memcpy(flor__ht_at(t, i), k, 16);
    t->used[i] = 1;
    t->n++;
    *fresh = 1;
    return flor__ht_at(t, i);
}

/* Removes K, shifting back the entries of its probe run. */
void flor__ht_del(struct htab *t, const flor__hash *k)
{
    uint8_t *e = flor__ht_find(t, k);
    if (!e)
        return;
    size_t hole = (size_t)(e - t->e) / t->esz, mask = t->cap - 1;
    for (size_t j = (hole + 1) & mask; t->used[j]; j = (j + 1) & mask) {
        size_t home = ht_home(t, (const flor__hash *)flor__ht_at(t, j));
        /* Entry j may fill the hole unless its home lies after the hole. */
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            memcpy(flor__ht_at(t, hole), flor__ht_at(t, j), t->esz);
            hole = j;
        }
    }
    t->used[hole] = 0;
    t->n--;
}

void flor__ht_clear(struct htab *t)
{
    if (t->cap)
        memset(t->used, 0, t->cap);
    t->n = 0;
}

void flor__ht_free(struct htab *t)
{
    free(t->e);
    free(t->used);
    t->e = t->used = NULL;
    t->cap = t->n = 0;
}
