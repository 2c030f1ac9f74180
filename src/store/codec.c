/*
 * codec.c -- how one chunk of a checkpoint is encoded, and how a manifest is
 * serialized.
 *
 * A chunk is stored in one of four ways (enum flor__codec_id): raw, one zstd
 * frame, or as byte planes ("shuffle": byte k of every element goes to plane
 * k), optionally after XOR with the same chunk of the previous version.  The
 * choice is made per chunk by measuring a sample: the byte histogram of each
 * plane gives its order-0 entropy, which predicts what zstd can do with it;
 * repeats beyond what the histogram explains predict LZ matches.  Planes
 * that look incompressible are stored as they are, which is what keeps the
 * writer fast on float mantissas.  Planes are compressed with one of two zstd
 * setups: level 1 for run-rich data, and a literals-only setup (match search
 * off, Huffman on) for skewed but structureless bytes such as exponents,
 * which is four times faster than level 1 on them and compresses as well.
 */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_c_literalCompressionMode */
#include "internal.h"
#include "store.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#if defined(__x86_64__) && defined(__has_include)
#if __has_include(<xxh_x86dispatch.h>)
/* XXH3 through libxxhash's run-time dispatch to its AVX2/AVX-512 kernels:
 * three times the SSE2 speed here, and the same hashes. */
#include <xxh_x86dispatch.h>
#endif
#endif
#include <zstd.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <tmmintrin.h>
#define NIB_SSSE3 1 /* the nibble decoder's pshufb kernel, chosen at run time */
#endif

/* A plane (or chunk) is compressed only if that saves at least 5%. */
#define WORTH(n) ((n) - (n) / 20)

enum plane_mode { PLANE_RAW = 0, PLANE_ZSTD = 1, PLANE_CONST = 2, PLANE_NIB = 3 };

/* A nibble plane (PLANE_NIB) holds: the dictionary size D (1..15), D
 * values, the escape count (u32), the codes two per byte (element 2i in the
 * low nibble), then one byte per escape (code 15), in order. */
#define NIB_ESC 15
#define NIB_HDR(d) (1 + (size_t)(d) + 4)

struct flor__codec {
    ZSTD_CCtx *lz;    /* level 1 */
    ZSTD_CCtx *huf;   /* literals only */
    ZSTD_DCtx *dc;
    uint8_t *planes;  /* shuffled planes / decoded planes */
    uint8_t *out;     /* compressed planes */
    uint8_t *exc;     /* a nibble plane's escaped bytes, while encoding */
    size_t cap;       /* bytes in each of planes, out and exc */
    uint8_t table[1 + 5 * 8];
    uint8_t consts[8];
};

/* ---- element types and names --------------------------------------------- */

size_t flor__elem_size(int t)
{
    static const size_t sizes[FLOR__ELEM_COUNT] = {1, 4, 2, 2, 8, 4, 8};
    return t >= 0 && t < FLOR__ELEM_COUNT ? sizes[t] : 0;
}

const char *flor__elem_name(int t)
{
    static const char *names[FLOR__ELEM_COUNT] = {"raw", "f32", "bf16", "f16",
                                                  "f64", "i32", "i64"};
    return t >= 0 && t < FLOR__ELEM_COUNT ? names[t] : "?";
}

const char *flor__codec_name(int c)
{
    static const char *names[FLOR__CODEC_COUNT] = {"raw", "zstd", "shuffle+zstd",
                                                   "xor+shuffle+zstd"};
    return c >= 0 && c < FLOR__CODEC_COUNT ? names[c] : "?";
}

void flor__hash_hex(const flor__hash *h, char out[33])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[h->b[i] >> 4];
        out[2 * i + 1] = hex[h->b[i] & 15];
    }
    out[32] = 0;
}

flor__hash flor__hash_of(const void *data, size_t n)
{
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits(data, n));
    flor__hash h;
    memcpy(h.b, c.digest, 16);
    return h;
}

/* ---- contexts ------------------------------------------------------------ */

/* A chunk's encoding is planned from SAMPLE_WINDOWS windows of SAMPLE_ELEMS
 * elements (below). */
#define SAMPLE_WINDOWS 16
#define SAMPLE_ELEMS 256

/* c * log2(c) for every count a sample can hold, so that planning a chunk
 * costs no logarithms (it was a tenth of a put's time). */
static float clogc[SAMPLE_WINDOWS * SAMPLE_ELEMS + 1];
static pthread_once_t clogc_once = PTHREAD_ONCE_INIT;

static void clogc_init(void)
{
    for (size_t c = 1; c < sizeof clogc / sizeof *clogc; c++)
        clogc[c] = (float)((double)c * log2((double)c));
}


flor__codec *flor__codec_new(void)
{
    pthread_once(&clogc_once, clogc_init);
    flor__codec *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->lz = ZSTD_createCCtx();
    c->huf = ZSTD_createCCtx();
    c->dc = ZSTD_createDCtx();
    if (!c->lz || !c->huf || !c->dc) {
        flor__codec_free(c);
        return NULL;
    }
    ZSTD_CCtx_setParameter(c->lz, ZSTD_c_compressionLevel, 1);
    ZSTD_CCtx_setParameter(c->lz, ZSTD_c_checksumFlag, 0);
    /* The most negative level turns match search nearly off; forcing
     * Huffman literals back on leaves an entropy coder.  Should a libzstd
     * refuse the experimental parameter, level -1 still works. */
    ZSTD_CCtx_setParameter(c->huf, ZSTD_c_checksumFlag, 0);
    if (ZSTD_isError(ZSTD_CCtx_setParameter(c->huf, ZSTD_c_compressionLevel, -1000)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(c->huf, ZSTD_c_literalCompressionMode,
                                            ZSTD_ps_enable)))
        ZSTD_CCtx_setParameter(c->huf, ZSTD_c_compressionLevel, 1);
    return c;
}

void flor__codec_free(flor__codec *c)
{
    if (!c)
        return;
    ZSTD_freeCCtx(c->lz);
    ZSTD_freeCCtx(c->huf);
    ZSTD_freeDCtx(c->dc);
    free(c->planes);
    free(c->out);
    free(c->exc);
    free(c);
}

/* Grows the work buffers to hold a chunk of LEN bytes; no-op in steady state. */
static int reserve(flor__codec *c, size_t len)
{
    if (len <= c->cap)
        return 0;
    uint8_t *p = malloc(len), *o = malloc(len), *x = malloc(len);
    if (!p || !o || !x) {
        free(p);
        free(o);
        free(x);
        return flor__err(FLOR_ENOMEM, "out of memory for a %zu-byte chunk", len);
    }
    free(c->planes);
    free(c->out);
    free(c->exc);
    c->planes = p;
    c->out = o;
    c->exc = x;
    c->cap = len;
    return 0;
}

/* ---- byte planes --------------------------------------------------------- */

/* Elements [FROM, NE) of any width; plane b still starts at dst + b * ne. */
static void shuffle_any(const uint8_t *src, const uint8_t *base, size_t from, size_t ne,
                        size_t es, uint8_t *dst)
{
    size_t i = from;
    for (; i + 8 <= ne; i += 8)
        for (size_t b = 0; b < es; b++) {
            uint8_t t[8];
            for (size_t k = 0; k < 8; k++)
                t[k] = src[(i + k) * es + b] ^ (base ? base[(i + k) * es + b] : 0);
            memcpy(dst + b * ne + i, t, 8);
        }
    for (; i < ne; i++)
        for (size_t b = 0; b < es; b++)
            dst[b * ne + i] = src[i * es + b] ^ (base ? base[i * es + b] : 0);
}

static void unshuffle_any(const uint8_t *const *pl, size_t ne, size_t es, uint8_t *dst,
                          int xor)
{
    for (size_t i = 0; i < ne; i++)
        for (size_t b = 0; b < es; b++) {
            uint8_t v = pl[b][i];
            dst[i * es + b] = xor ? dst[i * es + b] ^ v : v;
        }
}

#ifdef __SSE2__
static inline __m128i load(const uint8_t *p) { return _mm_loadu_si128((const __m128i *)p); }
static inline void store(uint8_t *p, __m128i v) { _mm_storeu_si128((__m128i *)p, v); }
static inline __m128i load_x(const uint8_t *p, const uint8_t *base, size_t off)
{
    __m128i v = load(p + off);
    return base ? _mm_xor_si128(v, load(base + off)) : v;
}
static inline void store_x(uint8_t *p, __m128i v, int xor)
{
    store(p, xor ? _mm_xor_si128(v, load(p)) : v);
}

/* The 4-byte transpose of 16 elements held in A..D (four per vector): three
 * rounds of byte interleaving give the four planes. */
static inline void planes4(__m128i a, __m128i b, __m128i c, __m128i d, __m128i p[4])
{
    __m128i ab0 = _mm_unpacklo_epi8(a, b), ab1 = _mm_unpackhi_epi8(a, b);
    __m128i cd0 = _mm_unpacklo_epi8(c, d), cd1 = _mm_unpackhi_epi8(c, d);
    __m128i x0 = _mm_unpacklo_epi8(ab0, ab1), x1 = _mm_unpackhi_epi8(ab0, ab1);
    __m128i x2 = _mm_unpacklo_epi8(cd0, cd1), x3 = _mm_unpackhi_epi8(cd0, cd1);
    __m128i y0 = _mm_unpacklo_epi8(x0, x1), y1 = _mm_unpackhi_epi8(x0, x1);
    __m128i y2 = _mm_unpacklo_epi8(x2, x3), y3 = _mm_unpackhi_epi8(x2, x3);
    p[0] = _mm_unpacklo_epi64(y0, y2);
    p[1] = _mm_unpackhi_epi64(y0, y2);
    p[2] = _mm_unpacklo_epi64(y1, y3);
    p[3] = _mm_unpackhi_epi64(y1, y3);
}

/* The inverse: four planes of 16 bytes to 16 elements of 4 bytes in E. */
static inline void elems4(__m128i a, __m128i b, __m128i c, __m128i d, __m128i e[4])
{
    __m128i ab0 = _mm_unpacklo_epi8(a, b), ab1 = _mm_unpackhi_epi8(a, b);
    __m128i cd0 = _mm_unpacklo_epi8(c, d), cd1 = _mm_unpackhi_epi8(c, d);
    e[0] = _mm_unpacklo_epi16(ab0, cd0);
    e[1] = _mm_unpackhi_epi16(ab0, cd0);
    e[2] = _mm_unpacklo_epi16(ab1, cd1);
    e[3] = _mm_unpackhi_epi16(ab1, cd1);
}

static size_t shuffle4(const uint8_t *src, const uint8_t *base, size_t ne, uint8_t *dst)
{
    size_t i = 0;
    for (; i + 16 <= ne; i += 16) {
        __m128i p[4];
        planes4(load_x(src, base, 4 * i), load_x(src, base, 4 * i + 16),
                load_x(src, base, 4 * i + 32), load_x(src, base, 4 * i + 48), p);
        for (int k = 0; k < 4; k++)
            store(dst + k * ne + i, p[k]);
    }
    return i;
}

static size_t unshuffle4(const uint8_t *const *pl, size_t ne, uint8_t *dst, int xor)
{
    size_t i = 0;
    for (; i + 16 <= ne; i += 16) {
        __m128i e[4];
        elems4(load(pl[0] + i), load(pl[1] + i), load(pl[2] + i), load(pl[3] + i), e);
        for (int k = 0; k < 4; k++)
            store_x(dst + 4 * i + 16 * k, e[k], xor);
    }
    return i;
}

/* 16 elements of 8 bytes per step: split each element into its low and high
 * 4-byte words, then transpose each half as 4-byte elements. */
static size_t shuffle8(const uint8_t *src, const uint8_t *base, size_t ne, uint8_t *dst)
{
    size_t i = 0;
    for (; i + 16 <= ne; i += 16) {
        __m128i lo[4], hi[4], p[4];
        for (int k = 0; k < 4; k++) {
            /* two vectors = four elements: [e0lo e0hi e1lo e1hi] -> [e0lo e1lo e0hi e1hi] */
            __m128i a = _mm_shuffle_epi32(load_x(src, base, 8 * i + 32 * k), 0xd8);
            __m128i b = _mm_shuffle_epi32(load_x(src, base, 8 * i + 32 * k + 16), 0xd8);
            lo[k] = _mm_unpacklo_epi64(a, b);
            hi[k] = _mm_unpackhi_epi64(a, b);
        }
        planes4(lo[0], lo[1], lo[2], lo[3], p);
        for (int k = 0; k < 4; k++)
            store(dst + k * ne + i, p[k]);
        planes4(hi[0], hi[1], hi[2], hi[3], p);
        for (int k = 0; k < 4; k++)
            store(dst + (4 + k) * ne + i, p[k]);
    }
    return i;
}

static size_t unshuffle8(const uint8_t *const *pl, size_t ne, uint8_t *dst, int xor)
{
    size_t i = 0;
    for (; i + 16 <= ne; i += 16) {
        __m128i lo[4], hi[4];
        elems4(load(pl[0] + i), load(pl[1] + i), load(pl[2] + i), load(pl[3] + i), lo);
        elems4(load(pl[4] + i), load(pl[5] + i), load(pl[6] + i), load(pl[7] + i), hi);
        for (int k = 0; k < 4; k++) {
            store_x(dst + 8 * i + 32 * k, _mm_unpacklo_epi32(lo[k], hi[k]), xor);
            store_x(dst + 8 * i + 32 * k + 16, _mm_unpackhi_epi32(lo[k], hi[k]), xor);
        }
    }
    return i;
}

/* 16 elements of 2 bytes per step: mask and pack the low bytes, shift and
 * pack the high bytes. */
static size_t shuffle2(const uint8_t *src, const uint8_t *base, size_t ne, uint8_t *dst)
{
    const __m128i lo = _mm_set1_epi16(0x00ff);
    size_t i = 0;
    for (; i + 16 <= ne; i += 16) {
        __m128i a = load_x(src, base, 2 * i), b = load_x(src, base, 2 * i + 16);
        store(dst + i, _mm_packus_epi16(_mm_and_si128(a, lo), _mm_and_si128(b, lo)));
        store(dst + ne + i, _mm_packus_epi16(_mm_srli_epi16(a, 8), _mm_srli_epi16(b, 8)));
    }
    return i;
}

static size_t unshuffle2(const uint8_t *const *pl, size_t ne, uint8_t *dst, int xor)
{
    size_t i = 0;
    for (; i + 16 <= ne; i += 16) {
        __m128i a = load(pl[0] + i), b = load(pl[1] + i);
        store_x(dst + 2 * i, _mm_unpacklo_epi8(a, b), xor);
        store_x(dst + 2 * i + 16, _mm_unpackhi_epi8(a, b), xor);
    }
    return i;
}
#endif

void flor__shuffle(const uint8_t *src, const uint8_t *base, size_t ne, size_t es,
                   uint8_t *dst)
{
    size_t done = 0;
#ifdef __SSE2__
    if (es == 4)
        done = base ? shuffle4(src, base, ne, dst) : shuffle4(src, NULL, ne, dst);
    else if (es == 8)
        done = base ? shuffle8(src, base, ne, dst) : shuffle8(src, NULL, ne, dst);
    else if (es == 2)
        done = base ? shuffle2(src, base, ne, dst) : shuffle2(src, NULL, ne, dst);
#endif
    shuffle_any(src, base, done, ne, es, dst);
}

void flor__unshuffle(const uint8_t *const *pl, size_t ne, size_t es, uint8_t *dst, int xor)
{
    size_t done = 0;
#ifdef __SSE2__
    if (es == 4)
        done = xor ? unshuffle4(pl, ne, dst, 1) : unshuffle4(pl, ne, dst, 0);
    else if (es == 8)
        done = xor ? unshuffle8(pl, ne, dst, 1) : unshuffle8(pl, ne, dst, 0);
    else if (es == 2)
        done = xor ? unshuffle2(pl, ne, dst, 1) : unshuffle2(pl, ne, dst, 0);
#endif
    if (done == ne)
        return;
    const uint8_t *rest[8];
    for (size_t b = 0; b < es; b++)
        rest[b] = pl[b] + done;
    unshuffle_any(rest, ne - done, es, dst + done * es, xor);
}

/* ---- measuring ----------------------------------------------------------- */

struct plane_stat {
    uint32_t hist[256];
    uint32_t repeats; /* sampled bytes equal to the same plane's previous byte */
    uint32_t n;
};


/* Histograms of each plane of RAW (XOR BASE when not NULL) over a few evenly
 * spaced windows of the chunk. */
static void sample(const uint8_t *raw, const uint8_t *base, size_t ne, size_t es,
                   struct plane_stat *ps)
{
    memset(ps, 0, es * sizeof *ps);
    size_t nwin = ne <= SAMPLE_WINDOWS * SAMPLE_ELEMS ? 1 : SAMPLE_WINDOWS;
    size_t wlen = nwin == 1 ? ne : SAMPLE_ELEMS;
    for (size_t w = 0; w < nwin; w++) {
        size_t start = nwin == 1 ? 0 : (ne - wlen) / (nwin - 1) * w;
        for (size_t b = 0; b < es; b++) {
            struct plane_stat *p = &ps[b];
            const uint8_t *s = raw + start * es + b;
            const uint8_t *x = base ? base + start * es + b : NULL;
            unsigned prev = 256;
            for (size_t j = 0; j < wlen; j++) {
                unsigned v = s[j * es] ^ (x ? x[j * es] : 0);
                p->hist[v]++;
                p->repeats += v == prev;
                prev = v;
            }
            p->n += (uint32_t)wlen;
        }
    }
}

struct plane_plan {
    double bits;      /* order-0 entropy, bits per byte */
    int lz;           /* runs: level 1 rather than literals only */
    int constant;     /* the sample held one value */
    int nib;          /* the nibble code rather than zstd */
    int ndict;        /* the nibble code's dictionary */
    uint8_t dict[NIB_ESC];
    double est;       /* predicted bytes for a plane of NE bytes */
};

/* How much larger than zstd's predicted output a nibble plane may be and
 * still be chosen: 1.5 bits per byte.  zstd's Huffman literals encode at
 * about 0.6 GB/s on one core here, the nibble code at several GB/s; for the
 * exponent plane of fp32 weights (2.6 bits of entropy) the nibble code
 * stores 0.50 of the plane against zstd's 0.33, at a fraction of the time.
 * Planes that need fewer bits, as the XOR deltas' do, keep zstd. */
#define NIB_SLACK (1.5 / 8)

/* The nibble code's dictionary: the sample's 15 most frequent values (all of
 * them when fewer).  Returns how many sampled bytes it covers. */
static uint32_t nib_dict(const struct plane_stat *p, struct plane_plan *pl)
{
    uint8_t taken[256] = {0};
    uint32_t covered = 0;
    pl->ndict = 0;
    while (pl->ndict < NIB_ESC) {
        int best = -1;
        for (int v = 0; v < 256; v++)
            if (!taken[v] && p->hist[v] && (best < 0 || p->hist[v] > p->hist[best]))
                best = v;
        if (best < 0)
            break;
        taken[best] = 1;
        covered += p->hist[best];
        pl->dict[pl->ndict++] = (uint8_t)best;
    }
    return covered;
}

static struct plane_plan plan_plane(const struct plane_stat *p, size_t ne)
{
    struct plane_plan pl = {0};
    if (!p->n) {
        pl.est = (double)ne;
        return pl;
    }
    double n = p->n, sum = 0, coll = 0;
    int distinct = 0;
    for (int v = 0; v < 256; v++) {
        double c = p->hist[v];
        if (c > 0) {
            sum += clogc[p->hist[v]];
            coll += (c / n) * (c / n);
            distinct++;
        }
    }
    pl.bits = log2(n) - sum / n;
    double rep = p->repeats / n, excess = rep - coll;
    pl.constant = distinct == 1;
    pl.lz = pl.bits < 1.0 || rep > 2 * coll + 0.05;
    double frac = pl.bits / 8;
    if (pl.lz && excess > 0)
        frac *= 1 - excess;
    pl.est = pl.constant ? 1 : frac * (double)ne + 16;
    if (!pl.constant && !pl.lz && pl.bits < 4 + 8 * NIB_SLACK) {
        uint32_t covered = nib_dict(p, &pl);
        double nib = (double)NIB_HDR(pl.ndict) + (double)(ne + 1) / 2 +
                     (1 - covered / n) * (double)ne + 16;
        if (nib <= pl.est + NIB_SLACK * (double)ne) {
            pl.nib = 1;
            pl.est = nib;
        }
    }
    return pl;
}

static double plan_total(const struct plane_stat *ps, size_t ne, size_t es,
                         struct plane_plan *plans)
{
    double t = 1 + 5.0 * (double)es;
    for (size_t b = 0; b < es; b++) {
        plans[b] = plan_plane(&ps[b], ne);
        t += plans[b].est;
    }
    return t;
}

/* ---- encoding ------------------------------------------------------------ */

static void add_iov(struct flor__enc *e, const void *p, size_t n)
{
    if (!n)
        return;
    e->iov[e->niov].p = p;
    e->iov[e->niov].n = n;
    e->niov++;
    e->stored_len += n;
}

static void enc_raw(struct flor__enc *e, const uint8_t *raw, size_t len)
{
    e->codec = FLOR__CODEC_RAW;
    e->version = 1;
    e->niov = 0;
    e->stored_len = 0;
    add_iov(e, raw, len);
}

static int all_equal(const uint8_t *p, size_t n)
{
    uint64_t pat;
    memset(&pat, p[0], 8);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        if (v != pat)
            return 0;
    }
    for (; i < n; i++)
        if (p[i] != p[0])
            return 0;
    return 1;
}

/* Codes NE bytes at SRC as a nibble plane with PL's dictionary into OUT (CAP
 * bytes); returns the payload's length, or 0 when it would not fit. */
static size_t enc_nib(flor__codec *c, const uint8_t *src, size_t ne,
                      const struct plane_plan *pl, uint8_t *out, size_t cap)
{
    size_t hdr = NIB_HDR(pl->ndict), ncodes = (ne + 1) / 2;
    if (hdr + ncodes > cap)
        return 0;
    size_t room = cap - hdr - ncodes; /* escapes that still fit */
    uint8_t code[256];
    memset(code, NIB_ESC, sizeof code);
    for (int k = 0; k < pl->ndict; k++)
        code[pl->dict[k]] = (uint8_t)k;
    out[0] = (uint8_t)pl->ndict;
    memcpy(out + 1, pl->dict, (size_t)pl->ndict);
    uint8_t *codes = out + hdr, *x = c->exc;
    size_t nx = 0, i = 0;
    for (; i + 2 <= ne; i += 2) {
        unsigned a = code[src[i]], b = code[src[i + 1]];
        codes[i / 2] = (uint8_t)(a | b << 4);
        if ((a == NIB_ESC) | (b == NIB_ESC)) {
            if (a == NIB_ESC)
                x[nx++] = src[i];
            if (b == NIB_ESC)
                x[nx++] = src[i + 1];
            if (nx > room)
                return 0;
        }
    }
    if (i < ne) {
        unsigned a = code[src[i]];
        codes[i / 2] = (uint8_t)a;
        if (a == NIB_ESC && (x[nx++] = src[i], nx > room))
            return 0;
    }
    flor__put_le32(out + 1 + pl->ndict, (uint32_t)nx);
    memcpy(codes + ncodes, x, nx);
    return hdr + ncodes + nx;
}

/* Encodes plane B (NE bytes at SRC) as planned; appends its payload to E and
 * its entry to the table.  *OUTP is where compressed bytes go next. */
static void enc_plane(flor__codec *c, struct flor__enc *e, size_t b, const uint8_t *src,
                      size_t ne, const struct plane_plan *pl, uint8_t **outp)
{
    uint8_t *t = c->table + 1 + 5 * b;
    if (pl->constant && all_equal(src, ne)) {
        c->consts[b] = src[0];
        t[0] = PLANE_CONST;
        flor__put_le32(t + 1, 1);
        add_iov(e, &c->consts[b], 1);
        return;
    }
    if (pl->nib && pl->est < (double)WORTH(ne)) {
        size_t r = enc_nib(c, src, ne, pl, *outp, WORTH(ne));
        if (r) {
            t[0] = PLANE_NIB;
            e->version = 2;
            flor__put_le32(t + 1, (uint32_t)r);
            add_iov(e, *outp, r);
            *outp += r;
            return;
        }
    } else if (pl->est < (double)WORTH(ne)) {
        ZSTD_CCtx *cc = pl->lz ? c->lz : c->huf;
        size_t r = ZSTD_compress2(cc, *outp, WORTH(ne), src, ne);
        if (!ZSTD_isError(r)) {
            t[0] = PLANE_ZSTD;
            flor__put_le32(t + 1, (uint32_t)r);
            add_iov(e, *outp, r);
            *outp += r;
            return;
        }
    }
    t[0] = PLANE_RAW;
    flor__put_le32(t + 1, (uint32_t)ne);
    add_iov(e, src, ne);
}

/* Byte planes of RAW (XOR BASE), each raw, constant or zstd, then the
 * trailing partial element. */
static void enc_planes(flor__codec *c, const uint8_t *raw, size_t len, size_t es,
                       const uint8_t *base, struct plane_plan *plans, struct flor__enc *e)
{
    size_t ne = len / es, tail = len % es;
    e->codec = base ? FLOR__CODEC_XOR : FLOR__CODEC_SHUF;
    e->niov = 0;
    e->stored_len = 0;
    c->table[0] = (uint8_t)es;
    add_iov(e, c->table, 1 + 5 * es);
    const uint8_t *src;
    if (es == 1 && !base) {
        src = raw;
    } else {
        if (es == 1) {
            for (size_t i = 0; i < ne; i++)
                c->planes[i] = raw[i] ^ base[i];
        } else {
            flor__shuffle(raw, base, ne, es, c->planes);
        }
        src = c->planes;
    }
    uint8_t *outp = c->out;
    for (size_t b = 0; b < es; b++)
        enc_plane(c, e, b, src + b * ne, ne, &plans[b], &outp);
    if (tail) {
        uint8_t *t = c->planes + len - tail; /* free: planes use es * ne bytes */
        for (size_t k = 0; k < tail; k++)
            t[k] = raw[ne * es + k] ^ (base ? base[ne * es + k] : 0);
        add_iov(e, t, tail);
    }
}

/* Untyped bytes without a base: one zstd frame at level 1. */
static void enc_zstd(flor__codec *c, const uint8_t *raw, size_t len, struct flor__enc *e)
{
    size_t r = ZSTD_compress2(c->lz, c->out, WORTH(len), raw, len);
    if (ZSTD_isError(r)) {
        enc_raw(e, raw, len);
        return;
    }
    e->codec = FLOR__CODEC_ZSTD;
    e->niov = 0;
    e->stored_len = 0;
    add_iov(e, c->out, r);
}

int flor__codec_encode(flor__codec *c, const uint8_t *raw, size_t len, size_t es,
                       const uint8_t *base, int cheap, struct flor__enc *e)
{
    if (es < 1 || es > 8)
        es = 1;
    e->esize = (uint8_t)es;
    e->version = 1;
    if (cheap || len < 64) {
        enc_raw(e, raw, len);
        return 0;
    }
    int rc = reserve(c, len);
    if (rc)
        return rc;
    size_t ne = len / es;
    struct plane_stat ps[8];
    struct plane_plan plain[8], delta[8];
    sample(raw, NULL, ne, es, ps);
    double est = plan_total(ps, ne, es, plain);
    double est_delta = -1;
    if (base) {
        sample(raw, base, ne, es, ps);
        est_delta = plan_total(ps, ne, es, delta);
    }
    /* A delta must win clearly: it costs a decode of its base on restore. */
    if (base && est_delta < 0.9 * est) {
        enc_planes(c, raw, len, es, base, delta, e);
    } else if (es == 1) {
        if (est >= (double)WORTH(len) && !plain[0].lz) {
            enc_raw(e, raw, len);
            return 0;
        }
        enc_zstd(c, raw, len, e);
    } else {
        if (est >= (double)WORTH(len)) {
            enc_raw(e, raw, len);
            return 0;
        }
        enc_planes(c, raw, len, es, NULL, plain, e);
    }
    if (e->codec != FLOR__CODEC_RAW && e->stored_len >= WORTH(len))
        enc_raw(e, raw, len);
    return 0;
}

/* ---- decoding ------------------------------------------------------------ */

static int bad(const char *what)
{
    return flor__err(FLOR_ECORRUPT, "malformed chunk data: %s", what);
}

#ifdef NIB_SSSE3
/* Decodes code bytes [I, HALF) 16 at a time (a table lookup per nibble with
 * pshufb) and returns where it stopped: at the first group of 16 holding an
 * escape or a code outside the dictionary, or at the last partial group. */
__attribute__((target("ssse3"))) static size_t nib_ssse3(const uint8_t *codes, size_t i,
                                                         size_t half, const uint8_t dict[16],
                                                         const uint8_t spec[16], uint8_t *dst)
{
    const __m128i tv = _mm_loadu_si128((const __m128i *)dict);
    const __m128i ts = _mm_loadu_si128((const __m128i *)spec);
    const __m128i m = _mm_set1_epi8(0x0f);
    for (; i + 16 <= half; i += 16) {
        __m128i b = _mm_loadu_si128((const __m128i *)(codes + i));
        __m128i lo = _mm_and_si128(b, m), hi = _mm_and_si128(_mm_srli_epi16(b, 4), m);
        __m128i sp = _mm_or_si128(_mm_shuffle_epi8(ts, lo), _mm_shuffle_epi8(ts, hi));
        if (_mm_movemask_epi8(sp))
            break;
        __m128i vl = _mm_shuffle_epi8(tv, lo), vh = _mm_shuffle_epi8(tv, hi);
        _mm_storeu_si128((__m128i *)(dst + 2 * i), _mm_unpacklo_epi8(vl, vh));
        _mm_storeu_si128((__m128i *)(dst + 2 * i + 16), _mm_unpackhi_epi8(vl, vh));
    }
    return i;
}

static int have_ssse3(void)
{
    static _Atomic int v = -1;
    if (v < 0)
        v = __builtin_cpu_supports("ssse3") ? 1 : 0;
    return v;
}
#endif

/* Decodes the nibble plane P (N bytes) into DST (NE bytes). */
static int dec_nib(const uint8_t *p, size_t n, uint8_t *dst, size_t ne)
{
    if (n < NIB_HDR(1) || p[0] < 1 || p[0] > NIB_ESC || n < NIB_HDR(p[0]))
        return bad("nibble dictionary");
    size_t d = p[0], hdr = NIB_HDR(d), ncodes = (ne + 1) / 2;
    size_t nx = flor__get_le32(p + 1 + d);
    if (n - hdr < ncodes || n - hdr - ncodes != nx)
        return bad("nibble plane length");
    /* Per code: its value, and whether it is special (an escape, or outside
     * the dictionary: malformed). */
    uint8_t val[16] = {0}, spec[16];
    for (size_t k = 0; k < 16; k++) {
        val[k] = k < d ? p[1 + k] : 0;
        spec[k] = k < d ? 0 : 0xff;
    }
    const uint8_t *codes = p + hdr, *x = codes + ncodes;
    size_t xi = 0, half = ne / 2, i = 0;
#ifdef NIB_SSSE3
    int simd = have_ssse3();
#endif
    while (i < half) {
#ifdef NIB_SSSE3
        if (simd)
            i = nib_ssse3(codes, i, half, val, spec, dst);
#endif
        /* a group with special codes, or the tail, one code byte at a time */
        size_t stop = half - i < 16 ? half : i + 16;
        for (; i < stop; i++) {
            unsigned b = codes[i], lo = b & 15, hi = b >> 4;
            dst[2 * i] = val[lo];
            dst[2 * i + 1] = val[hi];
            if (spec[lo] | spec[hi]) {
                if ((lo != NIB_ESC && spec[lo]) || (hi != NIB_ESC && spec[hi]))
                    return bad("nibble code");
                if (xi + (lo == NIB_ESC) + (hi == NIB_ESC) > nx)
                    return bad("nibble escapes");
                if (lo == NIB_ESC)
                    dst[2 * i] = x[xi++];
                if (hi == NIB_ESC)
                    dst[2 * i + 1] = x[xi++];
            }
        }
    }
    if (ne & 1) {
        unsigned b = codes[half];
        if ((b >> 4) || (b != NIB_ESC && b >= d))
            return bad("nibble code");
        if (b == NIB_ESC && xi == nx)
            return bad("nibble escapes");
        dst[ne - 1] = b == NIB_ESC ? x[xi++] : p[1 + b];
    }
    if (xi != nx)
        return bad("nibble escapes");
    return 0;
}

static int dec_planes(flor__codec *c, int xor, size_t es, const uint8_t *s, size_t slen,
                      uint8_t *dst, size_t len)
{
    size_t ne = len / es, tail = len % es, hdr = 1 + 5 * es;
    if (slen < hdr || s[0] != es)
        return bad("plane table");
    const uint8_t *pl[8];
    size_t off = hdr;
    for (size_t b = 0; b < es; b++) {
        int mode = s[1 + 5 * b];
        size_t n = flor__get_le32(s + 2 + 5 * b);
        if (n > slen - off)
            return bad("plane length");
        const uint8_t *p = s + off;
        uint8_t *plane = c->planes + b * ne;
        if (mode == PLANE_RAW) {
            if (n != ne)
                return bad("raw plane length");
            pl[b] = p;
        } else if (mode == PLANE_CONST) {
            if (n != 1)
                return bad("constant plane length");
            memset(plane, p[0], ne);
            pl[b] = plane;
        } else if (mode == PLANE_NIB) {
            int rc = dec_nib(p, n, plane, ne);
            if (rc)
                return rc;
            pl[b] = plane;
        } else if (mode == PLANE_ZSTD) {
            size_t r = ZSTD_decompressDCtx(c->dc, plane, ne, p, n);
            if (ZSTD_isError(r) || r != ne)
                return bad(ZSTD_isError(r) ? ZSTD_getErrorName(r) : "plane size");
            pl[b] = plane;
        } else {
            return bad("plane mode");
        }
        off += n;
    }
    if (slen - off != tail)
        return bad("length");
    if (es == 1) {
        if (xor)
            for (size_t i = 0; i < ne; i++)
                dst[i] ^= pl[0][i];
        else if (pl[0] != dst)
            memcpy(dst, pl[0], ne);
    } else {
        flor__unshuffle(pl, ne, es, dst, xor);
    }
    for (size_t k = 0; k < tail; k++)
        dst[ne * es + k] = xor ? dst[ne * es + k] ^ s[off + k] : s[off + k];
    return 0;
}

int flor__codec_decode(flor__codec *c, int codec, size_t es, const uint8_t *s, size_t slen,
                       uint8_t *dst, size_t len)
{
    if (codec == FLOR__CODEC_RAW) {
        if (slen != len)
            return bad("raw length");
        if (s != dst)
            memcpy(dst, s, len);
        return 0;
    }
    if (codec == FLOR__CODEC_ZSTD) {
        size_t r = ZSTD_decompressDCtx(c->dc, dst, len, s, slen);
        if (ZSTD_isError(r) || r != len)
            return bad(ZSTD_isError(r) ? ZSTD_getErrorName(r) : "frame size");
        return 0;
    }
    if (codec != FLOR__CODEC_SHUF && codec != FLOR__CODEC_XOR)
        return bad("unknown codec");
    if (es < 1 || es > 8)
        return bad("element size");
    int rc = reserve(c, len);
    return rc ? rc : dec_planes(c, codec == FLOR__CODEC_XOR, es, s, slen, dst, len);
}

/* ---- manifests ----------------------------------------------------------- */

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
