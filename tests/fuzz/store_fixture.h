/*
 * store_fixture.h -- what fuzz_pack and fuzz_idx share: a small real store
 * (made once per process with flor__store_put: raw, zstd, shuffle and xor
 * records, 4 KiB chunks), and the reads that a damaged pack or index must
 * survive.
 *
 * The oracle is the store's promise (store.h): flor__store_get verifies
 * every header, checksum and chunk hash, so whatever the files hold, a get
 * either fails with one of its documented codes or returns the exact bytes
 * that were put.  A "success" with other bytes is a silently wrong result,
 * and the target aborts.
 */
#ifndef FLOR_STORE_FIXTURE_H
#define FLOR_STORE_FIXTURE_H

#include <xxhash.h>

#include "flor.h"
#include "fuzz.h"
#include "internal.h"
#include "store.h"

#define FIX_NOBJ 4
#define FIX_CHUNK 4096

static struct fixture {
    char dir[300];      /* the store directory */
    char pack[340], idx[340];
    uint8_t *data[FIX_NOBJ];
    size_t n[FIX_NOBJ];
    struct flor__obj obj[FIX_NOBJ];
    uint8_t *packbytes, *idxbytes; /* the files as the store wrote them */
    size_t packlen, idxlen;
} fx;

static uint8_t *fix_slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    FUZZ_CHECK(f, "cannot open '%s'", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)len + 1);
    FUZZ_CHECK(fread(p, 1, (size_t)len, f) == (size_t)len, "cannot read '%s'", path);
    fclose(f);
    *n = (size_t)len;
    return p;
}

/* Makes the store: 0) 6 KiB of f32 (shuffle planes), 1) the same with a few
 * words changed, put with 0 as its previous version (xor deltas), 2) 2 KiB
 * of text (zstd), 3) 300 bytes that do not compress (raw). */
static void fix_init(void)
{
    snprintf(fx.dir, sizeof fx.dir, "%s/objects", fuzz_scratch());
    snprintf(fx.pack, sizeof fx.pack, "%s/pack-000001.pack", fx.dir);
    snprintf(fx.idx, sizeof fx.idx, "%s/pack-000001.idx", fx.dir);
    size_t sizes[FIX_NOBJ] = {6144, 6144, 2048, 300};
    for (int i = 0; i < FIX_NOBJ; i++) {
        fx.n[i] = sizes[i];
        fx.data[i] = malloc(sizes[i]);
    }
    float *f = (float *)fx.data[0];
    for (size_t i = 0; i < 6144 / 4; i++)
        f[i] = 1.0f + (float)(i % 97) / 128.0f;
    memcpy(fx.data[1], fx.data[0], 6144);
    for (size_t i = 0; i < 6144 / 4; i += 50)
        ((float *)fx.data[1])[i] += 0.25f;
    for (size_t i = 0; i < 2048; i++)
        fx.data[2][i] = "epoch step loss accuracy\n"[i % 25];
    uint64_t z = 88172645463325252ull;
    for (size_t i = 0; i < 300; i++) {
        z ^= z << 13, z ^= z >> 7, z ^= z << 17;
        fx.data[3][i] = (uint8_t)z;
    }
    flor__store *s;
    FUZZ_CHECK(flor__store_open(&s, fx.dir) == 0, "store_open: %s", flor_errmsg());
    flor__store_set_chunk_size(s, FIX_CHUNK);
    flor__store_set_threads(s, 1);
    int elem[FIX_NOBJ] = {FLOR__ELEM_F32, FLOR__ELEM_F32, FLOR__ELEM_RAW, FLOR__ELEM_RAW};
    for (int i = 0; i < FIX_NOBJ; i++)
        FUZZ_CHECK(flor__store_put(s, fx.data[i], fx.n[i], elem[i], i == 1 ? &fx.obj[0] : NULL,
                                   &fx.obj[i], NULL) == 0,
                   "put: %s", flor_errmsg());
    FUZZ_CHECK(flor__store_sync(s) == 0 && flor__store_close(s) == 0, "sync: %s", flor_errmsg());
    fx.packbytes = fix_slurp(fx.pack, &fx.packlen);
    fx.idxbytes = fix_slurp(fx.idx, &fx.idxlen);
    unlink(fx.pack);
    unlink(fx.idx);
    /* tests/fuzz/make-seeds.sh takes these files as seeds */
    const char *dump = getenv("FLOR_FUZZ_DUMP");
    if (dump && *dump) {
        char path[512];
        snprintf(path, sizeof path, "%s.pack", dump);
        fuzz_write(path, fx.packbytes, fx.packlen);
        snprintf(path, sizeof path, "%s.idx", dump);
        fuzz_write(path, fx.idxbytes, fx.idxlen);
    }
}

static int fix_rc_ok(int rc)
{
    return rc == 0 || rc == FLOR_ECORRUPT || rc == FLOR_ENOTFOUND || rc == FLOR_EIO ||
           rc == FLOR_ENOMEM || rc == FLOR_EINVAL;
}

/* A one-chunk manifest for chunk HASH of RAW bytes (its base BASE at DEPTH). */
static void fix_get_chunk(flor__store *s, const uint8_t *hash, const uint8_t *base, int depth,
                          uint32_t raw)
{
    if (raw > (1u << 20))
        return; /* the store refuses larger chunks anyway; keep memory small */
    struct flor__chunk_ref ref = {.depth = (uint8_t)depth};
    memcpy(ref.hash.b, hash, 16);
    if (depth)
        memcpy(ref.base.b, base, 16);
    struct flor__obj o = {.nbytes = raw, .chunk_size = raw ? (raw + 7) / 8 * 8 : 64,
                          .elemtype = FLOR__ELEM_RAW, .nchunks = raw ? 1 : 0, .chunks = &ref};
    if (o.chunk_size < 64)
        o.chunk_size = 64;
    uint8_t *dst = malloc(raw ? raw : 1);
    int rc = flor__store_get(s, &o, dst, raw);
    FUZZ_CHECK(fix_rc_ok(rc), "get rc %d", rc);
    if (rc == 0 && raw) {
        flor__hash h = flor__hash_of(dst, raw);
        FUZZ_CHECK(memcmp(h.b, hash, 16) == 0, "get returned bytes that are not chunk's");
    }
    free(dst);
}

/* A chunk the files the target wrote name: it is asked for by hash. */
struct fix_cand {
    uint8_t hash[16], base[16];
    int depth;
    uint32_t raw;
};

/* Opens the store as it is on disk now and reads everything it can: the
 * stats, every real object (which must come back exact, or fail), and each
 * candidate chunk (which must hash to its name, or fail). */
static void fix_read_all(const struct fix_cand *cand, size_t ncand)
{
    flor__store *s;
    int rc = flor__store_open(&s, fx.dir);
    FUZZ_CHECK(rc == 0, "store_open: %s", flor_errmsg()); /* opening only lists files */
    flor__store_set_threads(s, 1);
    struct flor__store_stats st;
    rc = flor__store_stats(s, &st);
    FUZZ_CHECK(fix_rc_ok(rc), "stats rc %d", rc);
    for (int i = 0; i < FIX_NOBJ; i++) {
        (void)flor__store_has(s, &fx.obj[i]);
        uint8_t *dst = malloc(fx.n[i]);
        rc = flor__store_get(s, &fx.obj[i], dst, fx.n[i]);
        FUZZ_CHECK(fix_rc_ok(rc), "get rc %d", rc);
        FUZZ_CHECK(rc != 0 || memcmp(dst, fx.data[i], fx.n[i]) == 0,
                   "object %d restored with wrong bytes and no error", i);
        FUZZ_CHECK(rc == 0 || *flor_errmsg(), "an error without a message");
        free(dst);
    }
    for (size_t i = 0; i < ncand; i++)
        fix_get_chunk(s, cand[i].hash, cand[i].base, cand[i].depth, cand[i].raw);
    flor__store_close(s);
}

#endif
