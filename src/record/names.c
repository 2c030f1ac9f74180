/*
 * names.c -- interned names: every log, loop and arg name becomes a small
 * id on the training thread; the writer thread turns ids back into
 * strings.  The lowest file of the record path: it calls nothing above
 * base.
 */
#include "record/record.h"

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
