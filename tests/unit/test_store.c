/*
 * test_store.c -- the checkpoint store: round trips for every element type
 * and codec, dedup, delta chains, manifests, corruption, crashes (truncated
 * packs and indexes, unsynced writes), concurrent writers, gc, and failing
 * writes injected one at a time.
 */
#include "check.h"
#include "internal.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

/* ---- helpers ------------------------------------------------------------- */

static char root[64];
static int ndirs;

/* A fresh store directory under the test's temporary root. */
static const char *new_dir(void)
{
    static char dir[128];
    snprintf(dir, sizeof dir, "%s/s%d/objects", root, ++ndirs);
    return dir;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(p);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_u64(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static double next_unit(void) { return (double)(next_u64() >> 11) / 9007199254740992.0; }
static double next_gauss(void)
{
    double u = next_unit() + 1e-300, v = next_unit();
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

static void fill_random(void *p, size_t n)
{
    uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)next_u64();
}

static void fill_weights(float *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        w[i] = (float)(0.05 * next_gauss());
}

/* One Adam-like epoch: every weight moves by about 1e-3 of the weights' scale. */
static void drift(float *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        w[i] += (float)(5e-5 * next_gauss());
}

static flor__store *open_store(const char *dir, size_t chunk)
{
    flor__store *s = NULL;
    int rc = flor__store_open(&s, dir);
    if (rc)
        printf("  open: %s\n", flor_errmsg());
    if (s && chunk)
        flor__store_set_chunk_size(s, chunk);
    return s;
}

static int put_sync(flor__store *s, const void *p, size_t n, int type,
                    const struct flor__obj *prev, struct flor__obj *o)
{
    int rc = flor__store_put(s, p, n, type, prev, o, NULL);
    if (!rc)
        rc = flor__store_sync(s);
    if (rc)
        printf("  put: %s\n", flor_errmsg());
    return rc;
}

/* Restores O and compares with WANT. */
static int restores(flor__store *s, const struct flor__obj *o, const void *want, size_t n)
{
    void *buf = malloc(n ? n : 1);
    int rc = flor__store_get(s, o, buf, n);
    if (rc)
        printf("  get: %s\n", flor_errmsg());
    int ok = !rc && (n == 0 || memcmp(buf, want, n) == 0);
    free(buf);
    return ok;
}

static char *path_in(const char *dir, const char *name)
{
    static char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

static off_t fsize(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

static int count_files(const char *dir, const char *ext)
{
    int n = 0;
    for (int id = 1; id < 200; id++) {
        char name[32];
        snprintf(name, sizeof name, "pack-%06d.%s", id, ext);
        n += fsize(path_in(dir, name)) >= 0;
    }
    return n;
}

/* ---- codec --------------------------------------------------------------- */

static void test_elem_types(void)
{
    CHECK_EQ_INT(flor__elem_size(FLOR__ELEM_RAW), 1);
    CHECK_EQ_INT(flor__elem_size(FLOR__ELEM_F32), 4);
    CHECK_EQ_INT(flor__elem_size(FLOR__ELEM_BF16), 2);
    CHECK_EQ_INT(flor__elem_size(FLOR__ELEM_F16), 2);
    CHECK_EQ_INT(flor__elem_size(FLOR__ELEM_F64), 8);
    CHECK_EQ_INT(flor__elem_size(FLOR__ELEM_I32), 4);
    CHECK_EQ_INT(flor__elem_size(FLOR__ELEM_I64), 8);
    CHECK_EQ_INT(flor__elem_size(99), 0);
    CHECK_EQ_STR(flor__elem_name(FLOR__ELEM_BF16), "bf16");
    CHECK_EQ_STR(flor__codec_name(FLOR__CODEC_XOR), "xor+shuffle+zstd");
}

/* The vector transposes agree with the definition, with and without XOR. */
static void test_shuffle_kernels(void)
{
    static const size_t sizes[] = {0, 1, 7, 15, 16, 17, 33, 1000, 4099};
    for (size_t es = 1; es <= 8; es++)
        for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
            size_t ne = sizes[k], n = ne * es;
            uint8_t *src = malloc(n + 1), *base = malloc(n + 1), *pl = malloc(n + 1);
            uint8_t *back = malloc(n + 1);
            fill_random(src, n);
            fill_random(base, n);
            for (int x = 0; x < 2; x++) {
                flor__shuffle(src, x ? base : NULL, ne, es, pl);
                int ok = 1;
                for (size_t i = 0; i < ne; i++)
                    for (size_t b = 0; b < es; b++) {
                        uint8_t want = src[i * es + b] ^ (x ? base[i * es + b] : 0);
                        ok &= pl[b * ne + i] == want;
                    }
                CHECK(ok);
                const uint8_t *planes[8];
                for (size_t b = 0; b < es; b++)
                    planes[b] = pl + b * ne;
                memcpy(back, base, n);
                flor__unshuffle(planes, ne, es, back, x);
                CHECK(n == 0 || memcmp(back, src, n) == 0);
            }
            free(src);
            free(base);
            free(pl);
            free(back);
        }
}

static size_t gather(const struct flor__enc *e, uint8_t *out)
{
    size_t n = 0;
    for (int i = 0; i < e->niov; i++) {
        memcpy(out + n, e->iov[i].p, e->iov[i].n);
        n += e->iov[i].n;
    }
    return n;
}

/* Every data shape, size and element width decodes to what was encoded, and
 * all four codecs are used along the way. */
static void test_codec_round_trip(void)
{
    static const size_t lens[] = {64, 65, 1001, 4096, 65536 + 3};
    flor__codec *c = flor__codec_new();
    int seen[FLOR__CODEC_COUNT] = {0};
    size_t max = 65536 + 3;
    uint8_t *raw = malloc(max), *base = malloc(max), *dst = malloc(max);
    uint8_t *out = malloc(max + 64);
    for (int shape = 0; shape < 5; shape++)
        for (size_t es = 1; es <= 8; es *= 2)
            for (size_t k = 0; k < sizeof lens / sizeof *lens; k++)
                for (int mode = 0; mode < 3; mode++) { /* plain, delta, cheap */
                    size_t len = lens[k];
                    if (shape == 0)
                        fill_random(raw, len);
                    else if (shape == 1)
                        fill_weights((float *)(void *)raw, len / 4), raw[len - 1] = 7;
                    else if (shape == 2)
                        memset(raw, 0, len);
                    else if (shape == 3)
                        for (size_t i = 0; i < len; i++)
                            raw[i] = next_unit() < 0.9 ? 0 : (uint8_t)next_u64();
                    else
                        for (size_t i = 0; i < len; i++)
                            raw[i] = (uint8_t)(i / 7);
                    memcpy(base, raw, len);
                    for (size_t i = 0; i < len; i += 13)
                        base[i] ^= 1;
                    struct flor__enc e;
                    CHECK_EQ_INT(flor__codec_encode(c, raw, len, es, mode == 1 ? base : NULL,
                                                    mode == 2, &e), 0);
                    CHECK(e.stored_len <= len);
                    size_t n = gather(&e, out);
                    CHECK_EQ_INT(n, e.stored_len);
                    seen[e.codec]++;
                    if (e.codec == FLOR__CODEC_XOR)
                        memcpy(dst, base, len);
                    else
                        memset(dst, 0xAA, len);
                    CHECK_EQ_INT(flor__codec_decode(c, e.codec, e.esize, out, n, dst, len), 0);
                    CHECK(memcmp(dst, raw, len) == 0);
                    if (mode == 2)
                        CHECK_EQ_INT(e.codec, FLOR__CODEC_RAW);
                }
    for (int k = 0; k < FLOR__CODEC_COUNT; k++)
        CHECK(seen[k] > 0);
    free(raw);
    free(base);
    free(out);
    free(dst);
    flor__codec_free(c);
}

/* Decoding checks its input instead of trusting it. */
static void test_codec_rejects_garbage(void)
{
    flor__codec *c = flor__codec_new();
    uint8_t junk[4096], dst[4096];
    for (int round = 0; round < 200; round++) {
        fill_random(junk, sizeof junk);
        size_t n = 1 + next_u64() % sizeof junk;
        int codec = 1 + (int)(next_u64() % 3);
        size_t es = (size_t)1 << (next_u64() % 4);
        if (codec >= FLOR__CODEC_SHUF)
            junk[0] = (uint8_t)es; /* get past the first check */
        int rc = flor__codec_decode(c, codec, es, junk, n, dst, sizeof dst);
        CHECK(rc == FLOR_ECORRUPT);
    }
    CHECK_EQ_INT(flor__codec_decode(c, 9, 4, junk, 10, dst, 10), FLOR_ECORRUPT);
    flor__codec_free(c);
}

/* The exponent plane of fp32 weights takes the nibble code (plane mode 3),
 * which marks the record version 2; values outside its dictionary are
 * escaped, odd plane lengths round-trip, and a damaged nibble plane is
 * refused, never read past its end. */
static void test_codec_nibble(void)
{
    flor__codec *c = flor__codec_new();
    size_t max = 4 * 40001 + 3;
    uint8_t *raw = malloc(max), *dst = malloc(max), *out = malloc(max + 64);
    static const size_t lens[] = {4 * 40000, 4 * 40001, 4 * 40001 + 3, 4 * 20001 + 1};
    for (size_t k = 0; k < sizeof lens / sizeof *lens; k++)
        for (int outliers = 0; outliers < 3; outliers++) {
            size_t len = lens[k], ne = len / 4;
            float *w = (float *)(void *)raw;
            fill_weights(w, ne);
            /* a few weights far outside the sample's exponents: escapes */
            for (size_t i = 0; outliers && i < ne; i += outliers == 1 ? 997 : 4999)
                w[i] = (float)(1e-30 * (double)(i % 7 + 1) * (i & 1 ? 1 : -1));
            w[ne - 1] = 1e30f; /* the last element, odd or even: an escape */
            struct flor__enc e;
            CHECK_EQ_INT(flor__codec_encode(c, raw, len, 4, NULL, 0, &e), 0);
            CHECK_EQ_INT(e.codec, FLOR__CODEC_SHUF);
            size_t n = gather(&e, out);
            CHECK_EQ_INT(out[1 + 5 * 3], 3); /* the exponent plane */
            CHECK_EQ_INT(e.version, 2);
            CHECK(n < len * 9 / 10);
            memset(dst, 0xAA, len);
            CHECK_EQ_INT(flor__codec_decode(c, e.codec, e.esize, out, n, dst, len), 0);
            CHECK(memcmp(dst, raw, len) == 0);
            /* damage: dictionary size, escape count, codes, length */
            size_t p3 = 1 + 5 * 4 + 3 * ne; /* the nibble plane's offset */
            size_t d = out[p3];
            for (int damage = 0; damage < 5; damage++) {
                uint8_t *f = malloc(n);
                memcpy(f, out, n);
                size_t fl = n;
                if (damage == 0)
                    f[p3] = 16;
                else if (damage == 1)
                    f[p3] = 0;
                else if (damage == 2)
                    f[p3 + 1 + d] ^= 1; /* the escape count */
                else if (damage == 3)
                    memset(f + p3 + 5 + d, 0xff, 64); /* codes: all escapes */
                else
                    fl = n - 1;
                int rc = flor__codec_decode(c, e.codec, e.esize, f, fl, dst, len);
                CHECK_EQ_INT(rc, FLOR_ECORRUPT);
                free(f);
            }
            if (d < 15) { /* a code outside the dictionary */
                uint8_t *f = malloc(n);
                memcpy(f, out, n);
                f[p3 + 5 + d] = (uint8_t)(d | d << 4);
                CHECK_EQ_INT(flor__codec_decode(c, e.codec, e.esize, f, n, dst, len),
                             FLOR_ECORRUPT);
                free(f);
            }
        }
    /* random bytes: no nibble plane, a version 1 record */
    fill_random(raw, 4096);
    struct flor__enc e;
    CHECK_EQ_INT(flor__codec_encode(c, raw, 4096, 4, NULL, 0, &e), 0);
    CHECK_EQ_INT(e.version, 1);
    free(raw);
    free(dst);
    free(out);
    flor__codec_free(c);
}

/* ---- manifests ----------------------------------------------------------- */

static void test_manifest_round_trip(void)
{
    struct flor__chunk_ref refs[3];
    memset(refs, 0, sizeof refs);
    for (int i = 0; i < 3; i++)
        fill_random(&refs[i].hash, 16);
    refs[1].depth = 3;
    fill_random(&refs[1].base, 16);
    struct flor__obj o = {.nbytes = 2 * 1024 + 5, .chunk_size = 1024,
                          .elemtype = FLOR__ELEM_BF16, .nchunks = 3, .chunks = refs};
    flor__buf b = {0};
    CHECK_EQ_INT(flor__obj_encode(&o, &b), 0);
    CHECK_EQ_INT(b.len, 24 + 17 + 33 + 17 + 8);
    struct flor__obj d;
    CHECK_EQ_INT(flor__obj_decode(b.p, b.len, &d), 0);
    CHECK_EQ_INT(d.nbytes, o.nbytes);
    CHECK_EQ_INT(d.chunk_size, 1024);
    CHECK_EQ_INT(d.elemtype, FLOR__ELEM_BF16);
    CHECK_EQ_INT(d.nchunks, 3);
    CHECK(memcmp(d.chunks, refs, sizeof refs) == 0);
    flor__obj_release(&d);
    CHECK(d.chunks == NULL);
    flor__obj_release(NULL);

    /* every single-byte flip, and every truncation, is refused */
    int refused = 0;
    for (size_t i = 0; i < b.len; i++) {
        b.p[i] ^= 0x20;
        refused += flor__obj_decode(b.p, b.len, &d) == FLOR_ECORRUPT;
        b.p[i] ^= 0x20;
    }
    CHECK_EQ_INT(refused, b.len);
    refused = 0;
    for (size_t n = 0; n < b.len; n++)
        refused += flor__obj_decode(b.p, n, &d) == FLOR_ECORRUPT;
    CHECK_EQ_INT(refused, b.len);
    CHECK_EQ_INT(flor__obj_decode("hello", 5, &d), FLOR_ECORRUPT);
    CHECK(strstr(flor_errmsg(), "manifest") != NULL);
    flor__buf_release(&b);
}

/* ---- round trips through the store --------------------------------------- */

static void test_round_trip_every_type(void)
{
    const char *dir = new_dir();
    flor__store *s = open_store(dir, 64 * 1024);
    CHECK(s != NULL);
    size_t n = 300 * 1024 + 5; /* five chunks, the last one short and odd */
    float *w = malloc(n + 8);
    struct flor__obj objs[FLOR__ELEM_COUNT];
    uint64_t seed = rng;
    for (int t = 0; t < FLOR__ELEM_COUNT; t++) {
        fill_weights(w, (n + 3) / 4);
        struct flor__put_stats st;
        CHECK_EQ_INT(flor__store_put(s, w, n, t, NULL, &objs[t], &st), 0);
        CHECK_EQ_INT(st.chunks, 5);
        CHECK_EQ_INT(objs[t].nchunks, 5);
        CHECK_EQ_INT(objs[t].elemtype, t);
        CHECK(restores(s, &objs[t], w, n));
    }
    CHECK_EQ_INT(flor__store_sync(s), 0);
    CHECK_EQ_INT(flor__store_close(s), 0);
    s = open_store(dir, 0);
    rng = seed; /* regenerate the same data */
    for (int t = 0; t < FLOR__ELEM_COUNT; t++) {
        fill_weights(w, (n + 3) / 4);
        CHECK(restores(s, &objs[t], w, n));
        flor__obj_release(&objs[t]);
    }
    flor__store_close(s);
    free(w);
}

/* Typed data takes the plane codecs, bytes take zstd, noise stays raw,
 * cheap mode is raw, a next version is a delta. */
static void test_every_codec_in_store(void)
{
    flor__store *s = open_store(new_dir(), 64 * 1024);
    size_t n = 256 * 1024;
    uint8_t *a = malloc(n), *b = malloc(n);
    struct flor__obj o[6];
    struct flor__put_stats st;
    fill_weights((float *)(void *)a, n / 4);
    CHECK_EQ_INT(flor__store_put(s, a, n, FLOR__ELEM_F32, NULL, &o[0], &st), 0);
    CHECK_EQ_INT(st.by_codec[FLOR__CODEC_SHUF], 4);
    memcpy(b, a, n);
    drift((float *)(void *)b, n / 4);
    CHECK_EQ_INT(flor__store_put(s, b, n, FLOR__ELEM_F32, &o[0], &o[1], &st), 0);
    CHECK_EQ_INT(st.by_codec[FLOR__CODEC_XOR], 4);
    CHECK(st.stored < n * 6 / 10);
    for (size_t i = 0; i < n; i++)
        a[i] = (uint8_t)"a text with some repetition in i"[i % 32];
    CHECK_EQ_INT(flor__store_put(s, a, n, FLOR__ELEM_RAW, NULL, &o[2], &st), 0);
    CHECK_EQ_INT(st.by_codec[FLOR__CODEC_ZSTD], 1); /* four identical chunks */
    CHECK_EQ_INT(st.dedup, 3);
    fill_random(a, n);
    CHECK_EQ_INT(flor__store_put(s, a, n, FLOR__ELEM_F32, NULL, &o[3], &st), 0);
    CHECK_EQ_INT(st.by_codec[FLOR__CODEC_RAW], 4);
    fill_weights((float *)(void *)a, n / 4);
    int cheap = FLOR__ELEM_F32 | FLOR__PUT_CHEAP;
    CHECK_EQ_INT(flor__store_put(s, a, n, cheap, NULL, &o[4], &st), 0);
    CHECK_EQ_INT(st.by_codec[FLOR__CODEC_RAW], 4);
    CHECK(restores(s, &o[4], a, n));
    CHECK(restores(s, &o[1], b, n));
    CHECK_EQ_INT(flor__store_put(s, a, n, 77, NULL, &o[5], &st), FLOR_EINVAL);
    CHECK(strstr(flor_errmsg(), "element type") != NULL);
    for (int i = 0; i < 5; i++)
        flor__obj_release(&o[i]);
    flor__store_close(s);
    free(a);
    free(b);
}

static void test_dedup(void)
{
    flor__store *s = open_store(new_dir(), 64 * 1024);
    size_t n = 200 * 1024;
    float *w = malloc(n);
    fill_weights(w, n / 4);
    struct flor__obj o1, o2;
    struct flor__put_stats st;
    CHECK_EQ_INT(flor__store_put(s, w, n, FLOR__ELEM_F32, NULL, &o1, &st), 0);
    CHECK_EQ_INT(st.dedup, 0);
    CHECK(st.stored > 0);
    CHECK_EQ_INT(flor__store_sync(s), 0);
    struct flor__store_stats before, after;
    CHECK_EQ_INT(flor__store_stats(s, &before), 0);
    CHECK_EQ_INT(flor__store_put(s, w, n, FLOR__ELEM_F32, NULL, &o2, &st), 0);
    CHECK_EQ_INT(st.dedup, 4);
    CHECK_EQ_INT(st.stored, 0);
    CHECK_EQ_INT(flor__store_sync(s), 0);
    CHECK_EQ_INT(flor__store_stats(s, &after), 0);
    CHECK_EQ_INT(after.chunks, before.chunks);
    CHECK_EQ_INT(after.file_bytes, before.file_bytes);
    CHECK_EQ_INT(after.put_dedup, 4);
    CHECK_EQ_INT(after.put_objects, 2);
    CHECK(memcmp(o1.chunks, o2.chunks, 4 * sizeof *o1.chunks) == 0);
    CHECK(restores(s, &o2, w, n));
    flor__obj_release(&o1);
    flor__obj_release(&o2);
    flor__store_close(s);
    free(w);
}

static void test_empty_object(void)
{
    const char *dir = new_dir();
    flor__store *s = open_store(dir, 0);
    struct flor__obj o;
    CHECK_EQ_INT(put_sync(s, NULL, 0, FLOR__ELEM_F32, NULL, &o), 0);
    CHECK_EQ_INT(o.nchunks, 0);
    CHECK(o.chunks == NULL);
    CHECK_EQ_INT(flor__store_get(s, &o, NULL, 0), 0);
    flor__buf b = {0};
    CHECK_EQ_INT(flor__obj_encode(&o, &b), 0);
    struct flor__obj d;
    CHECK_EQ_INT(flor__obj_decode(b.p, b.len, &d), 0);
    CHECK_EQ_INT(d.nbytes, 0);
    CHECK_EQ_INT(flor__store_get(s, &d, NULL, 0), 0);
    CHECK_EQ_INT(flor__store_get(s, &d, NULL, 1), FLOR_EINVAL);
    CHECK_EQ_INT(count_files(dir, "pack"), 0); /* nothing was written */
    flor__buf_release(&b);
    flor__store_close(s);
}

/* Sizes that are not a multiple of the element size, around chunk edges. */
static void test_odd_sizes(void)
{
    flor__store *s = open_store(new_dir(), 4096);
    static const size_t sizes[] = {1, 3, 7, 4095, 4097, 8191, 12289, 40963};
    uint8_t *p = malloc(40963 + 8);
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++)
        for (int t = 0; t < FLOR__ELEM_COUNT; t++) {
            fill_weights((float *)(void *)p, (sizes[k] + 3) / 4);
            struct flor__obj o;
            CHECK_EQ_INT(flor__store_put(s, p, sizes[k], t, NULL, &o, NULL), 0);
            CHECK(restores(s, &o, p, sizes[k]));
            void *small = malloc(sizes[k]);
            CHECK_EQ_INT(flor__store_get(s, &o, small, sizes[k] - 1), FLOR_EINVAL);
            free(small);
            flor__obj_release(&o);
        }
    flor__store_close(s);
    free(p);
}

/* ---- delta chains -------------------------------------------------------- */

/* Ten drifting versions, each a delta against the one before; every version
 * restores bit-exactly, before and after reopening. */
static void test_delta_chain(void)
{
    const char *dir = new_dir();
    flor__store *s = open_store(dir, 64 * 1024);
    enum { V = 10 };
    size_t nf = 100 * 1024, n = nf * 4;
    float *ver[V];
    struct flor__obj o[V];
    uint64_t stored = 0;
    for (int v = 0; v < V; v++) {
        ver[v] = malloc(n);
        if (v == 0)
            fill_weights(ver[v], nf);
        else {
            memcpy(ver[v], ver[v - 1], n);
            drift(ver[v], nf);
        }
        struct flor__put_stats st;
        CHECK_EQ_INT(flor__store_put(s, ver[v], n, FLOR__ELEM_F32, v ? &o[v - 1] : NULL, &o[v],
                                     &st), 0);
        stored += st.stored;
        for (uint32_t c = 0; c < o[v].nchunks; c++)
            CHECK_EQ_INT(o[v].chunks[c].depth, v <= 8 ? v : v - 9);
        if (v)
            CHECK(memcmp(&o[v].chunks[0].base, &o[v - 1].chunks[0].hash, 16) == 0 || v == 9);
    }
    printf("  delta chain: stored/logical %.3f\n", (double)stored / ((double)V * n));
    CHECK(stored < (uint64_t)V * n * 7 / 10); /* the target is 0.75 */
    for (int v = 0; v < V; v++)
        CHECK(restores(s, &o[v], ver[v], n));
    CHECK_EQ_INT(flor__store_close(s), 0);
    s = open_store(dir, 64 * 1024);
    for (int v = V; v-- > 0;)
        CHECK(restores(s, &o[v], ver[v], n));
    /* a new handle has no cached bases: the next version starts a new chain */
    float *next = malloc(n);
    memcpy(next, ver[V - 1], n);
    drift(next, nf);
    struct flor__obj on;
    CHECK_EQ_INT(put_sync(s, next, n, FLOR__ELEM_F32, &o[V - 1], &on), 0);
    CHECK_EQ_INT(on.chunks[0].depth, 0);
    CHECK(restores(s, &on, next, n));
    flor__obj_release(&on);
    free(next);
    for (int v = 0; v < V; v++) {
        flor__obj_release(&o[v]);
        free(ver[v]);
    }
    flor__store_close(s);
}

/* A chain never grows past 8: the ninth delta is stored whole instead. */
static void test_chain_depth_bound(void)
{
    flor__store *s = open_store(new_dir(), 4096);
    size_t nf = 1024, n = nf * 4;
    float *w = malloc(n);
    fill_weights(w, nf);
    struct flor__obj prev = {0}, cur;
    int maxd = 0, resets = 0;
    for (int v = 0; v < 30; v++) {
        drift(w, nf);
        CHECK_EQ_INT(flor__store_put(s, w, n, FLOR__ELEM_F32, v ? &prev : NULL, &cur, NULL), 0);
        int d = cur.chunks[0].depth;
        maxd = d > maxd ? d : maxd;
        resets += v > 0 && d == 0;
        CHECK(restores(s, &cur, w, n));
        flor__obj_release(&prev);
        prev = cur;
    }
    CHECK_EQ_INT(maxd, 8);
    CHECK(resets >= 3);
    flor__obj_release(&prev);
    flor__store_close(s);
    free(w);
}

/* Without a cache there are no deltas, and everything still restores. */
static void test_no_cache(void)
{
    flor__store *s = open_store(new_dir(), 4096);
    flor__store_set_cache(s, 0);
    size_t nf = 4096, n = nf * 4;
    float *w = malloc(n);
    fill_weights(w, nf);
    struct flor__obj a, b;
    CHECK_EQ_INT(flor__store_put(s, w, n, FLOR__ELEM_F32, NULL, &a, NULL), 0);
    drift(w, nf);
    struct flor__put_stats st;
    CHECK_EQ_INT(flor__store_put(s, w, n, FLOR__ELEM_F32, &a, &b, &st), 0);
    CHECK_EQ_INT(st.by_codec[FLOR__CODEC_XOR], 0);
    CHECK(restores(s, &b, w, n));
    flor__obj_release(&a);
    flor__obj_release(&b);
    flor__store_close(s);
    free(w);
}

/* ---- damage -------------------------------------------------------------- */

static void flip_byte(const char *path, off_t off)
{
    int fd = open(path, O_RDWR);
    uint8_t c;
    CHECK(pread(fd, &c, 1, off) == 1);
    c ^= 0x10;
    CHECK(pwrite(fd, &c, 1, off) == 1);
    close(fd);
}

static void test_corruption_detected(void)
{
    const char *dir = new_dir();
    flor__store *s = open_store(dir, 64 * 1024);
    size_t n = 64 * 1024;
    uint8_t *p = malloc(n);
    fill_random(p, n); /* stored raw: a flipped byte reaches the data */
    struct flor__obj o;
    CHECK_EQ_INT(put_sync(s, p, n, FLOR__ELEM_RAW, NULL, &o), 0);
    flor__store_close(s);
    const char *pack = path_in(dir, "pack-000001.pack");

    flip_byte(pack, 16 + 64 + 1000); /* stored bytes */
    s = open_store(dir, 0);
    uint8_t *buf = malloc(n);
    CHECK_EQ_INT(flor__store_get(s, &o, buf, n), FLOR_ECORRUPT);
    CHECK(strstr(flor_errmsg(), "pack-000001.pack") != NULL);
    CHECK(strstr(flor_errmsg(), "checksum mismatch") != NULL);
    char hex[33];
    flor__hash_hex(&o.chunks[0].hash, hex);
    CHECK(strstr(flor_errmsg(), hex) != NULL);
    CHECK(strstr(flor_errmsg(), "offset 16") != NULL);
    flor__store_close(s);
    flip_byte(pack, 16 + 64 + 1000);

    flip_byte(pack, 16 + 9); /* the record header */
    s = open_store(dir, 0);
    CHECK_EQ_INT(flor__store_get(s, &o, buf, n), FLOR_ECORRUPT);
    CHECK(strstr(flor_errmsg(), "header") != NULL);
    flor__store_close(s);
    flip_byte(pack, 16 + 9);

    s = open_store(dir, 0);
    CHECK(restores(s, &o, p, n));
    /* a manifest naming a chunk the store never had */
    o.chunks[0].hash.b[0] ^= 1;
    CHECK_EQ_INT(flor__store_get(s, &o, buf, n), FLOR_ENOTFOUND);
    CHECK(strstr(flor_errmsg(), "not found") != NULL);
    CHECK_EQ_INT(flor__store_has(s, &o), 0);
    o.chunks[0].hash.b[0] ^= 1;
    CHECK_EQ_INT(flor__store_has(s, &o), 1);
    flor__store_close(s);
    flor__obj_release(&o);
    free(p);
    free(buf);
}

/* A compressed chunk with a flipped byte: checksum first, never a bad decode. */
static void test_corruption_compressed(void)
{
    const char *dir = new_dir();
    flor__store *s = open_store(dir, 64 * 1024);
    size_t n = 64 * 1024;
    float *w = malloc(n);
    fill_weights(w, n / 4);
    struct flor__obj o;
    CHECK_EQ_INT(put_sync(s, w, n, FLOR__ELEM_F32, NULL, &o), 0);
    flor__store_close(s);
    off_t sz = fsize(path_in(dir, "pack-000001.pack"));
    int bad = 0;
    for (off_t off = 16; off < sz; off += 997) {
        flip_byte(path_in(dir, "pack-000001.pack"), off);
        s = open_store(dir, 0);
        void *buf = malloc(n);
        bad += flor__store_get(s, &o, buf, n) == FLOR_ECORRUPT;
        free(buf);
        flor__store_close(s);
        flip_byte(path_in(dir, "pack-000001.pack"), off);
    }
    CHECK_EQ_INT(bad, (sz - 16 + 996) / 997);
    flor__obj_release(&o);
    free(w);
}

/* A record whose checksums are right but whose content is not (a bug, or a
 * forged file) is refused by the decoder or the content hash, never
 * restored wrong. */
static void test_forged_record(void)
{
    const char *dir = new_dir();
    flor__store *s = open_store(dir, 64 * 1024);
    size_t n = 64 * 1024;
    float *w = malloc(n);
    fill_weights(w, n / 4);
    struct flor__obj o;
    struct flor__put_stats st;
    CHECK_EQ_INT(flor__store_put(s, w, n, FLOR__ELEM_F32, NULL, &o, &st), 0);
    CHECK_EQ_INT(st.by_codec[FLOR__CODEC_SHUF], 1);
    CHECK_EQ_INT(flor__store_sync(s), 0);
    flor__store_close(s);
    int fd = open(path_in(dir, "pack-000001.pack"), O_RDWR);
    uint8_t h[64];
    CHECK(pread(fd, h, 64, 16) == 64);
    uint32_t slen = flor__get_le32(h + 12);
    uint8_t *stored = malloc(slen);
    CHECK(pread(fd, stored, slen, 80) == (ssize_t)slen);
    for (int forgery = 0; forgery < 3; forgery++) {
        uint8_t *f = malloc(slen);
        memcpy(f, stored, slen);
        if (forgery == 0)
            f[1] = 9; /* an unknown plane mode */
        else if (forgery == 1)
            f[2] ^= 1; /* a plane length that does not add up */
        else
            f[1 + 5 * 4] ^= 1; /* inside a raw plane: decodes, to other bytes */
        flor__put_le64(h + 48, XXH3_64bits(f, slen));
        flor__put_le64(h + 56, XXH3_64bits(h, 56));
        CHECK(pwrite(fd, h, 64, 16) == 64 && pwrite(fd, f, slen, 80) == (ssize_t)slen);
        s = open_store(dir, 0);
        float *buf = malloc(n);
        CHECK_EQ_INT(flor__store_get(s, &o, buf, n), FLOR_ECORRUPT);
        CHECK(strstr(flor_errmsg(), "pack-000001.pack") != NULL);
        if (forgery < 2)
            CHECK(strstr(flor_errmsg(), "malformed chunk data") != NULL);
        else
            CHECK(strstr(flor_errmsg(), "does not match its hash") != NULL);
        if (check_failed_now)
            printf("  forgery %d: %s\n", forgery, flor_errmsg());
        flor__store_close(s);
        free(buf);
        free(f);
    }
    close(fd);
    flor__obj_release(&o);
    free(stored);
    free(w);
}

/* Records without a nibble plane keep version 1, which older flor reads;
 * those with one are version 2; both restore, and a later version is
 * refused by name. */
static void test_record_versions(void)
{
    const char *dir = new_dir();
    flor__store *s = open_store(dir, 64 * 1024);
    size_t n = 64 * 1024;
    uint8_t *r = malloc(n);
    float *w = malloc(n);
    fill_random(r, n);
    fill_weights(w, n / 4);
    struct flor__obj or, ow;
    CHECK_EQ_INT(put_sync(s, r, n, FLOR__ELEM_F32, NULL, &or), 0);
    CHECK_EQ_INT(put_sync(s, w, n, FLOR__ELEM_F32, NULL, &ow), 0);
    flor__store_close(s);
    int fd = open(path_in(dir, "pack-000001.pack"), O_RDWR);
    uint8_t h1[64], h2[64];
    CHECK(pread(fd, h1, 64, 16) == 64);
    CHECK_EQ_INT(h1[4], 1);
    CHECK_EQ_INT(h1[5], FLOR__CODEC_RAW);
    CHECK(pread(fd, h2, 64, 16 + 64 + (off_t)flor__get_le32(h1 + 12)) == 64);
    CHECK_EQ_INT(h2[4], 2);
    s = open_store(dir, 0);
    CHECK(restores(s, &or, r, n));
    CHECK(restores(s, &ow, w, n));
    flor__store_close(s);
    h1[4] = 3;
    flor__put_le64(h1 + 56, XXH3_64bits(h1, 56));
    CHECK(pwrite(fd, h1, 64, 16) == 64);
    close(fd);
    s = open_store(dir, 0);
    void *buf = malloc(n);
    CHECK_EQ_INT(flor__store_get(s, &or, buf, n), FLOR_ECORRUPT);
    CHECK(strstr(flor_errmsg(), "unknown record version") != NULL);
    CHECK(restores(s, &ow, w, n));
    flor__store_close(s);
    flor__obj_release(&or);
    flor__obj_release(&ow);
    free(buf);
    free(r);
    free(w);
}

/* A crash in the middle of a pack record: older objects restore, the torn
 * one reports a truncated pack. */
static void test_truncated_pack(void)
{
    const char *dir = new_dir();
    flor__store *s = open_store(dir, 64 * 1024);
    size_t n = 128 * 1024;
    uint8_t *a = malloc(n), *b = malloc(n);
    fill_random(a, n);
    fill_random(b, n);
    struct flor__obj oa, ob;
    CHECK_EQ_INT(put_sync(s, a, n, FLOR__ELEM_RAW, NULL, &oa), 0);
    off_t mid = fsize(path_in(dir, "pack-000001.pack"));
    CHECK_EQ_INT(put_sync(s, b, n, FLOR__ELEM_RAW, NULL, &ob), 0);
    flor__store_close(s);
    CHECK(truncate(path_in(dir, "pack-000001.pack"), mid + 100) == 0);
    s = open_store(dir, 0);
    CHECK(restores(s, &oa, a, n));
    uint8_t *buf = malloc(n);
    CHECK_EQ_INT(flor__store_get(s, &ob, buf, n), FLOR_ECORRUPT);
    CHECK(strstr(flor_errmsg(), "truncated") != NULL);
    CHECK(strstr(flor_errmsg(), "pack-000001.pack") != NULL);
    flor__store_close(s);
    flor__obj_release(&oa);
    flor__obj_release(&ob);
    free(a);
    free(b);
    free(buf);
}

/* A crash in the middle of an index record: the record is ignored, its chunk
 * is unknown, and putting the object again stores it again. */
static void test_truncated_index(void)
{
    const char *dir = new_dir();
    flor__store *s = open_store(dir, 64 * 1024);
    size_t n = 128 * 1024;
    uint8_t *a = malloc(n), *b = malloc(n);
    fill_random(a, n);
    fill_random(b, n);
    struct flor__obj oa, ob, ob2;
    CHECK_EQ_INT(put_sync(s, a, n, FLOR__ELEM_RAW, NULL, &oa), 0);
    CHECK_EQ_INT(put_sync(s, b, n, FLOR__ELEM_RAW, NULL, &ob), 0);
    flor__store_close(s);
    const char *idx = path_in(dir, "pack-000001.idx");
    CHECK_EQ_INT(fsize(idx), 16 + 4 * 64);
    CHECK(truncate(idx, 16 + 3 * 64 + 40) == 0);
    s = open_store(dir, 64 * 1024);
    CHECK(restores(s, &oa, a, n));
    uint8_t *buf = malloc(n);
    CHECK_EQ_INT(flor__store_get(s, &ob, buf, n), FLOR_ENOTFOUND);
    struct flor__put_stats st;
    CHECK_EQ_INT(flor__store_put(s, b, n, FLOR__ELEM_RAW, NULL, &ob2, &st), 0);
    CHECK_EQ_INT(st.dedup, 1);
    CHECK_EQ_INT(flor__store_sync(s), 0);
    CHECK(restores(s, &ob2, b, n));
    CHECK(restores(s, &ob, b, n));
    flor__store_close(s);
    /* the writer that took the pack over cut the torn record off first */
    CHECK_EQ_INT(fsize(idx), 16 + 4 * 64);
    s = open_store(dir, 0);
    CHECK(restores(s, &ob, b, n));
    struct flor__store_stats ss;
    CHECK_EQ_INT(flor__store_stats(s, &ss), 0);
    CHECK_EQ_INT(ss.chunks, 4);
    CHECK_EQ_INT(ss.bad_records, 0);
    CHECK_EQ_INT(ss.packs, 1);
    flor__store_close(s);
    flor__obj_release(&oa);
    flor__obj_release(&ob);
    flor__obj_release(&ob2);
    free(a);
    free(b);
    free(buf);
}

/* A bad record in the middle of an index is skipped; the rest load. */
static void test_bad_index_record(void)
{
    const char *dir = new_dir();
    flor__store *s = open_store(dir, 4096);
    size_t n = 3 * 4096;
    uint8_t *a = malloc(n);
    fill_random(a, n);
    struct flor__obj o;
    CHECK_EQ_INT(put_sync(s, a, n, FLOR__ELEM_RAW, NULL, &o), 0);
    flor__store_close(s);
    flip_byte(path_in(dir, "pack-000001.idx"), 16 + 64 + 5);
    s = open_store(dir, 0);
    struct flor__store_stats ss;
    CHECK_EQ_INT(flor__store_stats(s, &ss), 0);
    CHECK_EQ_INT(ss.chunks, 2);
    CHECK_EQ_INT(ss.bad_records, 1);
    uint8_t *buf = malloc(n);
    CHECK_EQ_INT(flor__store_get(s, &o, buf, n), FLOR_ENOTFOUND);
    flor__store_close(s);
    flor__obj_release(&o);
    free(a);
    free(buf);
}

/* A process that dies before syncing leaves nothing another process can see,
 * and the store stays usable. */
static void test_unsynced_crash(void)
{
    const char *dir = new_dir();
    size_t n = 64 * 1024;
    uint8_t *a = malloc(n);
    fill_random(a, n);
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        flor__store *s = open_store(dir, 4096);
        struct flor__obj o;
        flor__buf b = {0};
        int rc = flor__store_put(s, a, n, FLOR__ELEM_RAW, NULL, &o, NULL);
        if (!rc)
            rc = flor__obj_encode(&o, &b);
        if (!rc && write(fds[1], b.p, b.len) != (ssize_t)b.len)
            rc = -1;
        _exit(rc ? 1 : 0); /* no sync, no close */
    }
    close(fds[1]);
    uint8_t msg[4096];
    ssize_t got = read(fds[0], msg, sizeof msg);
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    struct flor__obj o;
    CHECK_EQ_INT(flor__obj_decode(msg, (size_t)got, &o), 0);
    flor__store *s = open_store(dir, 4096);
    uint8_t *buf = malloc(n);
    CHECK_EQ_INT(flor__store_get(s, &o, buf, n), FLOR_ENOTFOUND);
    struct flor__obj o2;
    CHECK_EQ_INT(put_sync(s, a, n, FLOR__ELEM_RAW, NULL, &o2), 0);
    CHECK(restores(s, &o, a, n));
    flor__store_close(s);
    flor__obj_release(&o);
    flor__obj_release(&o2);
    free(a);
    free(buf);
}

/* ---- several writers ----------------------------------------------------- */

/* Two processes put into one store at once (some objects shared); every
 * object of both restores, and no pack was written by both. */
static void test_concurrent_processes(void)
{
    const char *dir = new_dir();
    enum { P = 2, OBJS = 6 };
    size_t n = 96 * 1024 + 12;
    int fds[P][2];
    pid_t pids[P];
    for (int p = 0; p < P; p++) {
        CHECK(pipe(fds[p]) == 0);
        pids[p] = fork();
        if (pids[p] == 0) {
            close(fds[p][0]);
            flor__store *s = open_store(dir, 16 * 1024);
            float *w = malloc(n);
            int rc = 0;
            for (int k = 0; k < OBJS && !rc; k++) {
                rng = 1000 + (uint64_t)(k % 2 ? k : k * 100 + p); /* odd k: the same in both */
                fill_weights(w, n / 4);
                struct flor__obj o;
                flor__buf b = {0};
                rc = put_sync(s, w, n, FLOR__ELEM_F32, NULL, &o);
                if (!rc)
                    rc = flor__obj_encode(&o, &b);
                uint32_t len = (uint32_t)b.len;
                if (!rc && (write(fds[p][1], &len, 4) != 4 ||
                            write(fds[p][1], b.p, len) != (ssize_t)len))
                    rc = -1;
                flor__buf_release(&b);
                flor__obj_release(&o);
            }
            rc = rc ? rc : flor__store_close(s);
            _exit(rc ? 1 : 0);
        }
        close(fds[p][1]);
    }
    struct flor__obj objs[P][OBJS];
    memset(objs, 0, sizeof objs);
    for (int p = 0; p < P; p++) {
        for (int k = 0; k < OBJS; k++) {
            uint32_t len = 0;
            uint8_t buf[8192];
            CHECK(read(fds[p][0], &len, 4) == 4 && len <= sizeof buf);
            CHECK(read(fds[p][0], buf, len) == (ssize_t)len);
            CHECK_EQ_INT(flor__obj_decode(buf, len, &objs[p][k]), 0);
        }
        close(fds[p][0]);
        int status;
        waitpid(pids[p], &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    flor__store *s = open_store(dir, 0);
    float *w = malloc(n);
    for (int p = 0; p < P; p++)
        for (int k = 0; k < OBJS; k++) {
            rng = 1000 + (uint64_t)(k % 2 ? k : k * 100 + p);
            fill_weights(w, n / 4);
            CHECK(restores(s, &objs[p][k], w, n));
            flor__obj_release(&objs[p][k]);
        }
    flor__store_close(s);
    CHECK(count_files(dir, "pack") >= 1);
    CHECK_EQ_INT(count_files(dir, "pack"), count_files(dir, "idx"));
    free(w);
}

/* Threads inside one put give the same manifest as one thread. */
static void test_threads_agree(void)
{
    size_t n = 2 * 1024 * 1024 + 123;
    float *w = malloc(n);
    fill_weights(w, n / 4);
    struct flor__obj o[2];
    for (int k = 0; k < 2; k++) {
        flor__store *s = open_store(new_dir(), 32 * 1024);
        flor__store_set_threads(s, k ? 4 : 1);
        CHECK_EQ_INT(put_sync(s, w, n, FLOR__ELEM_F32, NULL, &o[k]), 0);
        CHECK(restores(s, &o[k], w, n));
        flor__store_close(s);
    }
    CHECK_EQ_INT(o[0].nchunks, o[1].nchunks);
    CHECK(memcmp(o[0].chunks, o[1].chunks, o[0].nchunks * sizeof *o[0].chunks) == 0);
    flor__obj_release(&o[0]);
    flor__obj_release(&o[1]);
    free(w);
}

/* The thread count may change between jobs, as the checkpoint writer does
 * for a loop's last checkpoint: a pool started after earlier jobs were
 * posted runs only the jobs posted to it (it once ran a stale, freed one). */
static void test_thread_count_changes_between_jobs(void)
{
    size_t n = 2 * 4096; /* two chunks: a job for the pool, done at once */
    float *w = malloc(n);
    fill_weights(w, n / 4);
    flor__store *s = open_store(new_dir(), 4096);
    struct flor__obj o;
    flor__store_set_threads(s, 2);
    CHECK_EQ_INT(put_sync(s, w, n, FLOR__ELEM_F32, NULL, &o), 0);
    int ok = 1;
    for (int k = 0; k < 300 && ok; k++) { /* a new pool each time, after a finished job */
        flor__store_set_threads(s, 1 + k % 3);
        ok = restores(s, &o, w, n);
    }
    CHECK(ok);
    flor__obj_release(&o);
    flor__store_close(s);
    free(w);
}

#if defined(__x86_64__)
#include <cpuid.h>
/* Whether the upper halves of the vector registers are in use on this
 * thread (AVX state or AVX-512's upper ZMM state, XGETBV 1); -1 where the
 * processor cannot say. */
static int vector_upper_in_use(void)
{
    unsigned a, b, c, d;
    if (!__builtin_cpu_supports("avx") || !__get_cpuid_count(0xd, 1, &a, &b, &c, &d) || !(a & 4))
        return -1;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(1));
    return (lo & 0x44) != 0; /* bit 2: YMM upper halves; bit 6: ZMM_Hi256 */
}
static void vector_upper_clear(void) { __asm__ volatile("vzeroupper"); }
#else
static int vector_upper_in_use(void) { return -1; }
static void vector_upper_clear(void) {}
#endif

/* Hashing, putting and getting leave the calling thread's vector state as
 * they found it.  libxxhash's AVX-512 kernels return with the upper halves
 * of the vector registers in use, and every SSE instruction after them
 * then runs slowly: a replayed program's code after a restore ran 3-4
 * times slower than the same code in the record. */
static void test_hashing_leaves_vector_state_clean(void)
{
    if (vector_upper_in_use() < 0) {
        printf("  (skipped: no AVX state to inspect on this processor)\n");
        return;
    }
    size_t n = 2 * 1024 * 1024 + 333;
    float *w = malloc(n), *back = malloc(n);
    fill_weights(w, n / 4);
    vector_upper_clear();
    flor__hash h = flor__hash_of(w, n);
    (void)h;
    CHECK_EQ_INT(vector_upper_in_use(), 0);
    flor__store *s = open_store(new_dir(), 256 * 1024);
    flor__store_set_threads(s, 1); /* every chunk on this thread */
    struct flor__obj o;
    vector_upper_clear();
    CHECK_EQ_INT(put_sync(s, w, n, FLOR__ELEM_F32, NULL, &o), 0);
    CHECK_EQ_INT(vector_upper_in_use(), 0);
    vector_upper_clear();
    CHECK_EQ_INT(flor__store_get(s, &o, back, n), 0);
    CHECK_EQ_INT(vector_upper_in_use(), 0);
    CHECK(memcmp(w, back, n) == 0);
    flor__obj_release(&o);
    flor__store_close(s);
    free(w);
    free(back);
}

/* Packs roll over at the limit; a new handle appends to an idle pack rather
 * than creating one. */
static void test_packs_roll_over_and_are_reused(void)
{
    const char *dir = new_dir();
    flor__store *s = open_store(dir, 16 * 1024);
    flor__store_set_pack_limit(s, 100 * 1024);
    size_t n = 512 * 1024;
    uint8_t *a = malloc(n);
    fill_random(a, n);
    struct flor__obj o;
    CHECK_EQ_INT(put_sync(s, a, n, FLOR__ELEM_RAW, NULL, &o), 0);
    flor__store_close(s);
    int packs = count_files(dir, "pack");
    CHECK(packs >= 5);
    for (int id = 1; id <= packs; id++) {
        char name[32];
        snprintf(name, sizeof name, "pack-%06d.pack", id);
        CHECK(fsize(path_in(dir, name)) <= 100 * 1024);
    }
    s = open_store(dir, 16 * 1024);
    CHECK(restores(s, &o, a, n));
    flor__obj_release(&o);
    fill_random(a, 16 * 1024);
    CHECK_EQ_INT(put_sync(s, a, 16 * 1024, FLOR__ELEM_RAW, NULL, &o), 0);
    flor__store_close(s);
    CHECK_EQ_INT(count_files(dir, "pack"), packs); /* appended to the last one */
    s = open_store(dir, 0);
    CHECK(restores(s, &o, a, 16 * 1024));
    flor__store_close(s);
    flor__obj_release(&o);
    free(a);
}

/* ---- gc ------------------------------------------------------------------ */

struct live_list {
    const struct flor__obj *objs[8];
    int n;
};

static int mark_list(void *ctx, flor__live *live)
{
    struct live_list *l = ctx;
    for (int i = 0; i < l->n; i++) {
        int rc = flor__live_add_obj(live, l->objs[i]);
        if (rc)
            return rc;
    }
    return 0;
}

static void test_gc(void)
{
    const char *dir = new_dir();
    flor__store *s = open_store(dir, 16 * 1024);
    size_t n = 256 * 1024;
    uint8_t *a = malloc(n), *b = malloc(n);
    fill_random(a, n);
    fill_random(b, n);
    struct flor__obj oa, ob;
    CHECK_EQ_INT(put_sync(s, a, n, FLOR__ELEM_RAW, NULL, &oa), 0);
    CHECK_EQ_INT(put_sync(s, b, n, FLOR__ELEM_RAW, NULL, &ob), 0);
    off_t before = fsize(path_in(dir, "pack-000001.pack"));
    struct live_list live = {{&oa}, 1};
    struct flor__gc_stats st;
    CHECK_EQ_INT(flor__store_gc(s, mark_list, NULL, &live, 1, &st), 0); /* dry run */
    CHECK_EQ_INT(st.packs, 1);
    CHECK_EQ_INT(st.packs_rewritten, 1);
    CHECK_EQ_INT(st.chunks_live, 16);
    CHECK_EQ_INT(st.chunks_dead, 16);
    CHECK(st.bytes_freed > n - 4096 && st.bytes_freed < n + 4096);
    CHECK_EQ_INT(fsize(path_in(dir, "pack-000001.pack")), before);
    CHECK(restores(s, &ob, b, n));

    CHECK_EQ_INT(flor__store_gc(s, mark_list, NULL, &live, 0, &st), 0);
    CHECK_EQ_INT(st.packs_rewritten, 1);
    CHECK(st.bytes_freed > n - 4096 && st.bytes_freed < n + 4096);
    CHECK_EQ_INT(fsize(path_in(dir, "pack-000001.pack")), -1);
    CHECK_EQ_INT(count_files(dir, "pack"), 1);
    CHECK(restores(s, &oa, a, n));
    uint8_t *buf = malloc(n);
    CHECK_EQ_INT(flor__store_get(s, &ob, buf, n), FLOR_ENOTFOUND);
    /* the store keeps working: put, reopen, gc with nothing dead */
    flor__obj_release(&ob);
    CHECK_EQ_INT(put_sync(s, b, n, FLOR__ELEM_RAW, NULL, &ob), 0);
    flor__store_close(s);
    s = open_store(dir, 16 * 1024);
    CHECK(restores(s, &oa, a, n));
    CHECK(restores(s, &ob, b, n));
    live.objs[1] = &ob;
    live.n = 2;
    CHECK_EQ_INT(flor__store_gc(s, mark_list, NULL, &live, 0, &st), 0);
    CHECK_EQ_INT(st.chunks_dead, 0);
    CHECK_EQ_INT(st.packs_rewritten, 0);
    CHECK_EQ_INT(st.bytes_freed, 0);
    /* nothing live: everything goes */
    live.n = 0;
    CHECK_EQ_INT(flor__store_gc(s, mark_list, NULL, &live, 0, &st), 0);
    CHECK_EQ_INT(count_files(dir, "pack") + count_files(dir, "idx"), 0);
    flor__store_close(s);
    flor__obj_release(&oa);
    flor__obj_release(&ob);
    free(a);
    free(b);
    free(buf);
}

/* Only the last version of a delta chain is live: gc keeps its bases. */
static void test_gc_keeps_delta_bases(void)
{
    const char *dir = new_dir();
    flor__store *s = open_store(dir, 16 * 1024);
    size_t nf = 16 * 1024, n = nf * 4;
    float *w = malloc(n);
    fill_weights(w, nf);
    struct flor__obj prev = {0}, cur;
    for (int v = 0; v < 5; v++) {
        drift(w, nf);
        CHECK_EQ_INT(put_sync(s, w, n, FLOR__ELEM_F32, v ? &prev : NULL, &cur), 0);
        flor__obj_release(&prev);
        prev = cur;
    }
    CHECK_EQ_INT(cur.chunks[0].depth, 4);
    uint8_t *junk = malloc(n);
    fill_random(junk, n);
    struct flor__obj oj;
    CHECK_EQ_INT(put_sync(s, junk, n, FLOR__ELEM_RAW, NULL, &oj), 0);
    struct live_list live = {{&cur}, 1};
    /* the manifest names only the immediate base; the store finds the rest */
    struct flor__gc_stats st;
    CHECK_EQ_INT(flor__store_gc(s, mark_list, NULL, &live, 0, &st), 0);
    CHECK_EQ_INT(st.chunks_live, 5 * 4);
    CHECK_EQ_INT(st.chunks_dead, 4);
    CHECK_EQ_INT(st.chunks_missing, 0);
    flor__store_close(s);
    s = open_store(dir, 0);
    CHECK(restores(s, &cur, w, n));
    flor__store_close(s);
    flor__obj_release(&cur);
    flor__obj_release(&oj);
    free(w);
    free(junk);
}

/* gc refuses to run while another process writes into the store. */
static void test_gc_busy(void)
{
    const char *dir = new_dir();
    int go[2], done[2];
    CHECK(pipe(go) == 0 && pipe(done) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        flor__store *s = open_store(dir, 0);
        uint8_t a[100] = {1};
        struct flor__obj o;
        int rc = flor__store_put(s, a, sizeof a, FLOR__ELEM_RAW, NULL, &o, NULL);
        char c = rc ? 'x' : 'k';
        if (write(go[1], &c, 1) != 1 || read(done[0], &c, 1) != 1)
            rc = 1;
        flor__store_close(s);
        _exit(rc ? 1 : 0);
    }
    char c = 0;
    CHECK(read(go[0], &c, 1) == 1 && c == 'k');
    flor__store *s = open_store(dir, 0);
    struct live_list live = {{NULL}, 0};
    CHECK_EQ_INT(flor__store_gc(s, mark_list, NULL, &live, 0, NULL), FLOR_EBUSY);
    CHECK(strstr(flor_errmsg(), "in use") != NULL);
    CHECK(write(done[1], "q", 1) == 1);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_EQ_INT(flor__store_gc(s, mark_list, NULL, &live, 0, NULL), 0);
    flor__store_close(s);
    close(go[0]);
    close(go[1]);
    close(done[0]);
    close(done[1]);
}

/* A handle opened before a gc does not trust what it read then: an object
 * whose chunks gc removed is stored again, not deduplicated against them. */
static void test_gc_then_stale_writer(void)
{
    const char *dir = new_dir();
    flor__store *s = open_store(dir, 16 * 1024);
    size_t n = 64 * 1024;
    uint8_t *a = malloc(n);
    fill_random(a, n);
    struct flor__obj o, o2;
    CHECK_EQ_INT(put_sync(s, a, n, FLOR__ELEM_RAW, NULL, &o), 0);
    flor__store_close(s);
    flor__store *stale = open_store(dir, 16 * 1024); /* knows the chunks */
    s = open_store(dir, 0);
    struct live_list live = {{NULL}, 0};
    CHECK_EQ_INT(flor__store_gc(s, mark_list, NULL, &live, 0, NULL), 0);
    flor__store_close(s);
    struct flor__put_stats st;
    CHECK_EQ_INT(flor__store_put(stale, a, n, FLOR__ELEM_RAW, NULL, &o2, &st), 0);
    CHECK_EQ_INT(st.dedup, 0);
    CHECK_EQ_INT(flor__store_sync(stale), 0);
    flor__store_close(stale);
    s = open_store(dir, 0);
    CHECK(restores(s, &o2, a, n));
    flor__store_close(s);
    flor__obj_release(&o);
    flor__obj_release(&o2);
    free(a);
}

/* gc on a damaged live chunk stops before removing anything. */
static void test_gc_stops_on_corruption(void)
{
    const char *dir = new_dir();
    flor__store *s = open_store(dir, 16 * 1024);
    size_t n = 64 * 1024;
    uint8_t *a = malloc(n), *b = malloc(n);
    fill_random(a, n);
    fill_random(b, n);
    struct flor__obj oa, ob;
    CHECK_EQ_INT(put_sync(s, a, n, FLOR__ELEM_RAW, NULL, &oa), 0);
    CHECK_EQ_INT(put_sync(s, b, n, FLOR__ELEM_RAW, NULL, &ob), 0);
    flor__store_close(s);
    flip_byte(path_in(dir, "pack-000001.pack"), 16 + 64 + 10);
    s = open_store(dir, 0);
    struct live_list live = {{&oa}, 1};
    CHECK_EQ_INT(flor__store_gc(s, mark_list, NULL, &live, 0, NULL), FLOR_ECORRUPT);
    CHECK(strstr(flor_errmsg(), "pack-000001.pack") != NULL);
    CHECK(fsize(path_in(dir, "pack-000001.pack")) > 0);
    CHECK_EQ_INT(count_files(dir, "pack"), 1);
    CHECK(restores(s, &ob, b, n));
    flor__store_close(s);
    flor__obj_release(&oa);
    flor__obj_release(&ob);
    free(a);
    free(b);
}

/* gc with a pack whose index is gone: it refuses, changes nothing, and
 * says to run fsck --repair; the check rebuilds the index from the pack,
 * after which every object restores and gc proceeds. */
static int count_problems(void *ctx, const struct flor__store_problem *pr)
{
    (void)pr;
    (*(int *)ctx)++;
    return 0;
}

struct gc_ctx {
    struct live_list live; /* first: mark_list reads it */
    int commits;
};

static int commit_called(void *ctx)
{
    ((struct gc_ctx *)ctx)->commits++;
    return 0;
}

static void test_gc_refuses_without_index_and_check_rebuilds(void)
{
    const char *dir = new_dir();
    flor__store *s = open_store(dir, 16 * 1024);
    size_t n = 64 * 1024;
    uint8_t *a = malloc(n), *b = malloc(n);
    fill_random(a, n);
    fill_random(b, n);
    struct flor__obj oa, ob;
    CHECK_EQ_INT(put_sync(s, a, n, FLOR__ELEM_RAW, NULL, &oa), 0);
    CHECK_EQ_INT(put_sync(s, b, n, FLOR__ELEM_RAW, NULL, &ob), 0);
    flor__store_close(s);
    off_t size = fsize(path_in(dir, "pack-000001.pack"));
    CHECK(unlink(path_in(dir, "pack-000001.idx")) == 0);
    s = open_store(dir, 0);
    struct gc_ctx g = {{{&oa}, 1}, 0};
    CHECK_EQ_INT(flor__store_gc(s, mark_list, NULL, &g, 1, NULL), FLOR_ECORRUPT);
    CHECK(strstr(flor_errmsg(), "pack-000001.pack' has no index") != NULL);
    CHECK(strstr(flor_errmsg(), "flor fsck --repair") != NULL);
    CHECK_EQ_INT(flor__store_gc(s, mark_list, commit_called, &g, 0, NULL), FLOR_ECORRUPT);
    CHECK_EQ_INT(g.commits, 0);
    CHECK_EQ_INT(fsize(path_in(dir, "pack-000001.pack")), size);

    int problems = 0;
    struct flor__check_stats st;
    CHECK_EQ_INT(flor__store_check(s, 0, count_problems, NULL, NULL, &problems, &st), 0);
    CHECK_EQ_INT(problems, 1);
    CHECK_EQ_INT(st.records, 8);
    CHECK_EQ_INT(st.indexes_rebuilt, 0);
    problems = 0;
    CHECK_EQ_INT(flor__store_check(s, 1, count_problems, NULL, NULL, &problems, &st), 0);
    CHECK_EQ_INT(problems, 1);
    CHECK_EQ_INT(st.indexes_rebuilt, 1);
    CHECK(restores(s, &oa, a, n));
    CHECK(restores(s, &ob, b, n));
    problems = 0;
    CHECK_EQ_INT(flor__store_check(s, 0, count_problems, NULL, NULL, &problems, &st), 0);
    CHECK_EQ_INT(problems, 0);

    CHECK_EQ_INT(flor__store_gc(s, mark_list, commit_called, &g, 0, NULL), 0);
    CHECK_EQ_INT(g.commits, 1);
    flor__store_close(s);
    s = open_store(dir, 0);
    CHECK(restores(s, &oa, a, n));
    flor__store_close(s);
    flor__obj_release(&oa);
    flor__obj_release(&ob);
    free(a);
    free(b);
}

/* A gc whose rewrite fails at its Nth write or sync, for every N: the
 * caller's commit is not called, and every object still restores. */
static void test_gc_fails_before_commit(void)
{
    size_t n = 64 * 1024;
    uint8_t *a = malloc(n), *b = malloc(n);
    fill_random(a, n);
    fill_random(b, n);
    int succeeded = 0;
    for (long k = 1; k < 40 && !succeeded; k++) {
        const char *dir = new_dir();
        flor__store *s = open_store(dir, 16 * 1024);
        struct flor__obj oa, ob;
        CHECK_EQ_INT(put_sync(s, a, n, FLOR__ELEM_RAW, NULL, &oa), 0);
        CHECK_EQ_INT(put_sync(s, b, n, FLOR__ELEM_RAW, NULL, &ob), 0);
        struct gc_ctx g = {{{&oa}, 1}, 0};
        flor__store_fail_write_after(k);
        int rc = flor__store_gc(s, mark_list, commit_called, &g, 0, NULL);
        flor__store_fail_write_after(0);
        if (rc == 0) {
            succeeded = 1;
            CHECK_EQ_INT(g.commits, 1);
        } else {
            CHECK_EQ_INT(rc, FLOR_EIO);
            CHECK(strstr(flor_errmsg(), "pack-00000") != NULL);
            CHECK_EQ_INT(g.commits, 0);
            CHECK(restores(s, &ob, b, n));
        }
        CHECK(restores(s, &oa, a, n));
        flor__store_close(s);
        s = open_store(dir, 0);
        CHECK(restores(s, &oa, a, n));
        flor__store_close(s);
        flor__obj_release(&oa);
        flor__obj_release(&ob);
    }
    CHECK(succeeded);
    free(a);
    free(b);
}

/* ---- failing writes ------------------------------------------------------ */

/* The Nth write, fsync or file creation fails, for N = 1, 2, ...: the put or
 * the sync reports FLOR_EIO naming the file and the cause, the store still
 * opens, earlier objects still restore, and the object can be put again. */
static void test_failing_writes(void)
{
    size_t n = 200 * 1024;
    uint8_t *a = malloc(n), *b = malloc(n);
    fill_weights((float *)(void *)a, n / 4);
    int fired = 0, completed = 0;
    for (long k = 1; k < 200 && !completed; k++) {
        const char *dir = new_dir();
        flor__store *s = open_store(dir, 32 * 1024);
        flor__store_set_pack_limit(s, 96 * 1024); /* rollovers fail too */
        struct flor__obj oa, ob, prev = {0};
        CHECK_EQ_INT(put_sync(s, a, n, FLOR__ELEM_F32, NULL, &oa), 0);
        memcpy(b, a, n);
        int rc = 0;
        flor__store_fail_write_after(k);
        for (int v = 0; v < 3 && !rc; v++) {
            drift((float *)(void *)b, n / 4);
            rc = flor__store_put(s, b, n, FLOR__ELEM_F32, v ? &prev : &oa, &ob, NULL);
            if (!rc && (rc = flor__store_sync(s)) != 0)
                flor__obj_release(&ob);
            flor__obj_release(&prev);
            if (!rc)
                prev = ob;
        }
        long left = flor__store_fail_write_after(0);
        if (rc) {
            fired++;
            CHECK_EQ_INT(rc, FLOR_EIO);
            CHECK(strstr(flor_errmsg(), "No space left on device") != NULL);
            CHECK(strstr(flor_errmsg(), "pack-") != NULL);
            CHECK(ob.chunks == NULL);
        } else {
            completed = left > 0;
        }
        flor__obj_release(&prev);
        CHECK(restores(s, &oa, a, n));
        /* the same handle recovers; the first sync after a failure says
         * whether puts before it were lost */
        if (rc)
            CHECK(flor__store_sync(s) == 0 || strstr(flor_errmsg(), "were lost"));
        struct flor__obj oc;
        CHECK_EQ_INT(put_sync(s, b, n, FLOR__ELEM_F32, NULL, &oc), 0);
        CHECK(restores(s, &oc, b, n));
        flor__store_close(s);
        s = open_store(dir, 0);
        CHECK(s != NULL);
        CHECK(restores(s, &oa, a, n));
        CHECK(restores(s, &oc, b, n));
        flor__store_close(s);
        flor__obj_release(&oa);
        flor__obj_release(&oc);
    }
    CHECK(completed);
    CHECK(fired >= 10);
    free(a);
    free(b);
}

/* A failed sync drops what it could not make durable, and says so once. */
static void test_failed_sync_is_reported(void)
{
    const char *dir = new_dir();
    flor__store *s = open_store(dir, 16 * 1024);
    size_t n = 64 * 1024;
    uint8_t *a = malloc(n);
    fill_random(a, n);
    struct flor__obj o;
    CHECK_EQ_INT(flor__store_put(s, a, n, FLOR__ELEM_RAW, NULL, &o, NULL), 0);
    flor__store_fail_write_after(1); /* the pack's fdatasync */
    CHECK_EQ_INT(flor__store_sync(s), FLOR_EIO);
    CHECK(strstr(flor_errmsg(), "cannot sync") != NULL);
    CHECK_EQ_INT(flor__store_sync(s), 0);
    uint8_t *buf = malloc(n);
    CHECK_EQ_INT(flor__store_get(s, &o, buf, n), FLOR_ENOTFOUND);
    flor__obj_release(&o);
    CHECK_EQ_INT(put_sync(s, a, n, FLOR__ELEM_RAW, NULL, &o), 0);
    CHECK(restores(s, &o, a, n));
    flor__store_close(s);
    flor__obj_release(&o);
    free(a);
    free(buf);
}

/* A handle is refused in a forked child; a new one works there. */
static void test_fork_needs_new_handle(void)
{
    const char *dir = new_dir();
    flor__store *s = open_store(dir, 0);
    pid_t pid = fork();
    if (pid == 0) {
        uint8_t a[10] = {0};
        struct flor__obj o;
        int ok = flor__store_put(s, a, 10, FLOR__ELEM_RAW, NULL, &o, NULL) == FLOR_EUSAGE &&
                 strstr(flor_errmsg(), "fork") != NULL;
        flor__store *t = open_store(dir, 0);
        ok = ok && put_sync(t, a, 10, FLOR__ELEM_RAW, NULL, &o) == 0;
        _exit(ok ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    flor__store_close(s);
}

static void test_open_errors(void)
{
    flor__store *s = (flor__store *)1;
    CHECK_EQ_INT(flor__store_open(&s, "/proc/no/such/dir"), FLOR_EIO);
    CHECK(s == NULL);
    CHECK(strstr(flor_errmsg(), "/proc/no/such/dir") != NULL);
    CHECK_EQ_INT(flor__store_open(&s, ""), FLOR_EINVAL);
    CHECK_EQ_INT(flor__store_close(NULL), 0);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress survives a crash */
    snprintf(root, sizeof root, "/tmp/flor-test-store-XXXXXX");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_elem_types);
    RUN(test_shuffle_kernels);
    RUN(test_codec_round_trip);
    RUN(test_codec_rejects_garbage);
    RUN(test_codec_nibble);
    RUN(test_manifest_round_trip);
    RUN(test_round_trip_every_type);
    RUN(test_every_codec_in_store);
    RUN(test_dedup);
    RUN(test_empty_object);
    RUN(test_odd_sizes);
    RUN(test_delta_chain);
    RUN(test_chain_depth_bound);
    RUN(test_no_cache);
    RUN(test_corruption_detected);
    RUN(test_corruption_compressed);
    RUN(test_forged_record);
    RUN(test_record_versions);
    RUN(test_truncated_pack);
    RUN(test_truncated_index);
    RUN(test_bad_index_record);
    RUN(test_unsynced_crash);
    RUN(test_concurrent_processes);
    RUN(test_threads_agree);
    RUN(test_thread_count_changes_between_jobs);
    RUN(test_hashing_leaves_vector_state_clean);
    RUN(test_packs_roll_over_and_are_reused);
    RUN(test_gc);
    RUN(test_gc_keeps_delta_bases);
    RUN(test_gc_busy);
    RUN(test_gc_then_stale_writer);
    RUN(test_gc_stops_on_corruption);
    RUN(test_gc_refuses_without_index_and_check_rebuilds);
    RUN(test_gc_fails_before_commit);
    RUN(test_failing_writes);
    RUN(test_failed_sync_is_reported);
    RUN(test_fork_needs_new_handle);
    RUN(test_open_errors);
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return check_summary();
}
