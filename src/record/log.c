/*
 * log.c -- the training thread's side of recording: interned names, the
 * append of a record into the current block, and flor_log().
 *
 * The hot path (flor_log_*) hashes the name, copies a fixed-size record
 * (and, for text, the bytes) into the current block, and publishes it
 * with one release store.  It allocates only when a name is new or a
 * block fills up and the writer has no free block to hand back.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- names -------------------------------------------------------------
 * Strings live in segments that never move, so the writer thread can read
 * name N once it has seen a record that uses N.  The lookup table is the
 * training thread's alone. */

#define SEG_BITS 10
#define SEG_SIZE (1u << SEG_BITS)
#define MAX_SEGS 1024

static char **segs[MAX_SEGS];
static uint32_t nnames;
static struct slot {
    uint64_t hash;
    uint32_t id;
} *table;
static uint32_t table_cap; /* power of two */

static uint64_t hash_name(const char *s, size_t *len)
{
    uint64_t h = 1469598103934665603ull;
    const char *p = s;
    for (; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    *len = (size_t)(p - s);
    return h | 1; /* 0 marks an empty slot */
}

const char *flor__name_str(uint32_t id) { return segs[id >> SEG_BITS][id & (SEG_SIZE - 1)]; }

static int grow_table(void)
{
    uint32_t cap = table_cap ? table_cap * 2 : 256;
    struct slot *t = calloc(cap, sizeof *t);
    if (!t)
        return flor__err(FLOR_ENOMEM, "out of memory");
    for (uint32_t i = 0; i < table_cap; i++) {
        if (!table[i].hash)
            continue;
        uint32_t j = (uint32_t)table[i].hash & (cap - 1);
        while (t[j].hash)
            j = (j + 1) & (cap - 1);
        t[j] = table[i];
    }
    free(table);
    table = t;
    table_cap = cap;
    return 0;
}

int flor__name_intern(const char *name, uint32_t *id)
{
    size_t len;
    uint64_t h = hash_name(name, &len);
    if (table_cap) {
        for (uint32_t j = (uint32_t)h & (table_cap - 1);; j = (j + 1) & (table_cap - 1)) {
            if (!table[j].hash)
                break;
            if (table[j].hash == h && strcmp(flor__name_str(table[j].id), name) == 0) {
                *id = table[j].id;
                return 0;
            }
        }
    }
    if (nnames >= (uint32_t)MAX_SEGS * SEG_SIZE)
        return flor__err(FLOR_ENOMEM, "too many distinct names (%u)", nnames);
    if ((nnames + 1) * 2 > table_cap && grow_table() != 0)
        return FLOR_ENOMEM;
    uint32_t seg = nnames >> SEG_BITS;
    if (!segs[seg] && !(segs[seg] = calloc(SEG_SIZE, sizeof(char *))))
        return flor__err(FLOR_ENOMEM, "out of memory");
    char *copy = malloc(len + 1);
    if (!copy)
        return flor__err(FLOR_ENOMEM, "out of memory");
    memcpy(copy, name, len + 1);
    segs[seg][nnames & (SEG_SIZE - 1)] = copy;
    uint32_t j = (uint32_t)h & (table_cap - 1);
    while (table[j].hash)
        j = (j + 1) & (table_cap - 1);
    table[j].hash = h;
    table[j].id = nnames;
    *id = nnames++;
    return 0;
}

/* ---- records ------------------------------------------------------------ */

int flor__emit(const flor__rec *r, const char *text, size_t textlen)
{
    flor__block *b = flor__writer_current(flor__R.writer);
    uint32_t n = atomic_load_explicit(&b->nrec, memory_order_relaxed);
    if (n == FLOR__BLOCK_RECS || (text && b->text_used + textlen + 1 > b->text_cap)) {
        b = flor__writer_rotate(flor__R.writer, text ? textlen + 1 : 0);
        if (!b)
            return FLOR_ENOMEM;
        n = 0;
    }
    flor__rec *slot = &b->recs[n];
    *slot = *r;
    if (text) {
        memcpy(b->text + b->text_used, text, textlen);
        b->text[b->text_used + textlen] = 0;
        slot->v.s.off = b->text_used;
        slot->v.s.len = (uint32_t)textlen;
        b->text_used += (uint32_t)textlen + 1;
    }
    atomic_store_explicit(&b->nrec, n + 1, memory_order_release);
    return 0;
}

static int log_prepare(const char *name, flor__rec *r)
{
    if (!pthread_equal(pthread_self(), flor__R.owner))
        return flor__err(FLOR_EUSAGE, "flor_log('%s') from a thread other than flor_init's",
                         name ? name : "");
    if (!name || !*name)
        return flor__err(FLOR_EINVAL, "flor_log: the name must be a non-empty string");
    r->kind = FLOR__REC_LOG;
    r->aux = (uint16_t)flor__P.phase; /* always 0 when recording */
    r->ctx = flor__R.depth ? flor__loop_context() : 0;
    r->parent = 0;
    return flor__name_intern(name, &r->name);
}

int flor_log_long(const char *name, long long value)
{
    if (!flor__recording())
        return 0;
    flor__rec r;
    int rc = log_prepare(name, &r);
    if (rc)
        return rc;
    r.type = FLOR_INTEGER;
    r.v.i = value;
    return flor__emit(&r, NULL, 0);
}

int flor_log_double(const char *name, double value)
{
    if (!flor__recording())
        return 0;
    flor__rec r;
    int rc = log_prepare(name, &r);
    if (rc)
        return rc;
    r.type = FLOR_REAL;
    r.v.r = value;
    return flor__emit(&r, NULL, 0);
}

int flor_log_text(const char *name, const char *value)
{
    if (!flor__recording())
        return 0;
    flor__rec r;
    int rc = log_prepare(name, &r);
    if (rc)
        return rc;
    if (!value) {
        r.type = FLOR_NULL;
        return flor__emit(&r, NULL, 0);
    }
    r.type = FLOR_TEXT;
    return flor__emit(&r, value, strlen(value));
}
