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
 *
 * The byte-plane transforms themselves are in planes.c; the declarations in
 * codec.h.  This file uses only base: the store calls it, never the reverse.
 */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_c_literalCompressionMode */
#include "base/base.h"
#include "base/bytes.h"
#include "store/codec.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
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

