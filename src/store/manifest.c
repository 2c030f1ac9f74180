/*
 * manifest.c -- an object's manifest (struct flor__obj: its size, chunk size,
 * element type and the chunk list) serialized for the checkpoints table, and
 * parsed back with every field checked: the BLOB may come from a damaged
 * database.
 */
#include "base/base.h"
#include "base/xxh.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

/*
 *   0  "FLOM"             4  version (1)       5  element type   6  0 (u16)
 *   8  chunk size (u32)  12  chunk count (u32) 16  byte count (u64)
 *  24  per chunk: depth (u8), hash (16), and when depth > 0 the base (16)
 *   …  XXH3-64 of everything before it (u64)
 * All integers little-endian.
 */
#define OBJ_MAGIC "FLOM"
#define OBJ_VERSION 1
#define OBJ_HDR 24

int flor__obj_encode(const struct flor__obj *o, struct flor__buf *b)
{
    size_t start = b->len;
    uint8_t h[OBJ_HDR] = {0};
    memcpy(h, OBJ_MAGIC, 4);
    h[4] = OBJ_VERSION;
    h[5] = o->elemtype;
    flor__put_le32(h + 8, o->chunk_size);
    flor__put_le32(h + 12, o->nchunks);
    flor__put_le64(h + 16, o->nbytes);
    int rc = flor__buf_add(b, h, sizeof h);
    for (uint32_t i = 0; !rc && i < o->nchunks; i++) {
        const struct flor__chunk_ref *r = &o->chunks[i];
        uint8_t rec[33];
        rec[0] = r->depth;
        memcpy(rec + 1, r->hash.b, 16);
        memcpy(rec + 17, r->base.b, 16);
        rc = flor__buf_add(b, rec, r->depth ? 33 : 17);
    }
    if (rc)
        return rc;
    uint8_t sum[8];
    flor__put_le64(sum, XXH3_64bits(b->p + start, b->len - start));
    return flor__buf_add(b, sum, 8);
}

static int bad_manifest(const char *what)
{
    return flor__err(FLOR_ECORRUPT, "manifest: %s", what);
}

int flor__obj_decode(const void *data, size_t n, struct flor__obj *out)
{
    const uint8_t *p = data;
    memset(out, 0, sizeof *out);
    if (!p || n < OBJ_HDR + 8 || memcmp(p, OBJ_MAGIC, 4) != 0)
        return bad_manifest("not a flor object manifest");
    if (p[4] != OBJ_VERSION)
        return flor__err(FLOR_ECORRUPT, "manifest: version %d, expected %d", p[4], OBJ_VERSION);
    if (flor__get_le64(p + n - 8) != XXH3_64bits(p, n - 8))
        return bad_manifest("checksum mismatch");
    uint32_t cs = flor__get_le32(p + 8), nc = flor__get_le32(p + 12);
    uint64_t nb = flor__get_le64(p + 16);
    if (p[5] >= FLOR__ELEM_COUNT || p[6] || p[7] || !cs || cs > (64u << 20) ||
        nb / cs + (nb % cs != 0) != nc)
        return bad_manifest("inconsistent header");
    if (nc > (n - OBJ_HDR - 8) / 17)
        return bad_manifest("truncated chunk list");
    struct flor__chunk_ref *ch = nc ? calloc(nc, sizeof *ch) : NULL;
    if (nc && !ch)
        return flor__err(FLOR_ENOMEM, "out of memory");
    size_t off = OBJ_HDR;
    for (uint32_t i = 0; i < nc; i++) {
        size_t need = off < n - 8 && p[off] ? 33 : 17;
        if (off + need > n - 8) {
            free(ch);
            return bad_manifest("truncated chunk list");
        }
        ch[i].depth = p[off];
        memcpy(ch[i].hash.b, p + off + 1, 16);
        if (ch[i].depth)
            memcpy(ch[i].base.b, p + off + 17, 16);
        off += need;
    }
    if (off != n - 8) {
        free(ch);
        return bad_manifest("trailing bytes");
    }
    out->nbytes = nb;
    out->chunk_size = cs;
    out->elemtype = p[5];
    out->nchunks = nc;
    out->chunks = ch;
    return 0;
}

void flor__obj_release(struct flor__obj *o)
{
    if (!o)
        return;
    free(o->chunks);
    memset(o, 0, sizeof *o);
}
