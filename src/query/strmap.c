/*
 * strmap.c -- a string map for the dataframe: names to dense ids, in
 * order of first insertion, the keys copied into an arena.  Open
 * addressing over a power-of-two table, kept at most half full.
 */
#include "query/query.h"

#include <stdlib.h>
#include <string.h>

long flor__strmap_find(const strmap *m, const char *s)
{
    if (!m->nslots)
        return -1;
    for (size_t j = flor__hash_str(s) & (m->nslots - 1);; j = (j + 1) & (m->nslots - 1)) {
        uint32_t id = m->slots[j];
        if (!id)
            return -1;
        if (strcmp(m->keys[id - 1], s) == 0)
            return (long)id - 1;
    }
}

static int strmap_rehash(strmap *m, size_t nslots)
{
    uint32_t *slots = calloc(nslots, sizeof *slots);
    if (!slots)
        return flor__df_oom();
    for (size_t id = 0; id < m->n; id++) {
        size_t j = flor__hash_str(m->keys[id]) & (nslots - 1);
        while (slots[j])
            j = (j + 1) & (nslots - 1);
        slots[j] = (uint32_t)id + 1;
    }
    free(m->slots);
    m->slots = slots;
    m->nslots = nslots;
    return 0;
}

/* Finds S, adding it (a copy in A) when missing; *ID is its id. */
int flor__strmap_add(strmap *m, arena *a, const char *s, size_t *id)
{
    long found = flor__strmap_find(m, s);
    if (found >= 0) {
        *id = (size_t)found;
        return 0;
    }
    if (m->n >= UINT32_MAX - 1)
        return flor__df_oom();
    if ((m->n + 1) * 2 > m->nslots && strmap_rehash(m, flor__df_pow2((m->n + 1) * 4)) != 0)
        return FLOR_ENOMEM;
    if (flor__df_grow(&m->keys, &m->cap, m->n + 1, sizeof *m->keys) != 0)
        return FLOR_ENOMEM;
    const char *copy = flor__arena_copy(a, s, strlen(s));
    if (!copy)
        return flor__df_oom();
    size_t j = flor__hash_str(s) & (m->nslots - 1);
    while (m->slots[j])
        j = (j + 1) & (m->nslots - 1);
    m->keys[m->n] = copy;
    m->slots[j] = (uint32_t)m->n + 1;
    *id = m->n++;
    return 0;
}

void flor__strmap_release(strmap *m)
{
    free(m->keys);
    free(m->slots);
    memset(m, 0, sizeof *m);
}
