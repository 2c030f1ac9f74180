/*
 * planes.c -- byte planes: the transpose that puts byte k of every element
 * of a chunk into plane k (flor__shuffle), optionally XOR'ed with the same
 * chunk of the previous version, and its inverse (flor__unshuffle).  SSE2
 * kernels for 2-, 4- and 8-byte elements, a portable loop for the rest.
 * The codec (codec.c) compresses the planes; the tests call these directly.
 */
#include "store/codec.h"

#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

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

/* One round of byte interleaving of V[0..3] as two pairs: (lo, hi) of
 * V[0] and V[1], then of V[2] and V[3]. */
static inline void interleave8(__m128i v[4])
{
    __m128i a = v[0], b = v[1], c = v[2], d = v[3];
    v[0] = _mm_unpacklo_epi8(a, b);
    v[1] = _mm_unpackhi_epi8(a, b);
    v[2] = _mm_unpacklo_epi8(c, d);
    v[3] = _mm_unpackhi_epi8(c, d);
}

/* The 4-byte transpose of 16 elements held in A..D (four per vector): three
 * rounds of byte interleaving give the four planes. */
static inline void planes4(__m128i a, __m128i b, __m128i c, __m128i d, __m128i p[4])
{
    __m128i v[4] = {a, b, c, d};
    interleave8(v);
    interleave8(v);
    interleave8(v);
    p[0] = _mm_unpacklo_epi64(v[0], v[2]);
    p[1] = _mm_unpackhi_epi64(v[0], v[2]);
    p[2] = _mm_unpacklo_epi64(v[1], v[3]);
    p[3] = _mm_unpackhi_epi64(v[1], v[3]);
}

/* The inverse: four planes of 16 bytes to 16 elements of 4 bytes in E. */
static inline void elems4(__m128i a, __m128i b, __m128i c, __m128i d, __m128i e[4])
{
    __m128i v[4] = {a, b, c, d};
    interleave8(v);
    e[0] = _mm_unpacklo_epi16(v[0], v[2]);
    e[1] = _mm_unpackhi_epi16(v[0], v[2]);
    e[2] = _mm_unpacklo_epi16(v[1], v[3]);
    e[3] = _mm_unpackhi_epi16(v[1], v[3]);
}

static size_t shuffle4(const uint8_t *src, const uint8_t *base, size_t ne, uint8_t *dst)
{
    size_t i = 0;
    for (; i + 16 <= ne; i += 16) {
        __m128i p[4];
        planes4(load_x(src, base, 4 * i), load_x(src, base, 4 * i + 16),
                load_x(src, base, 4 * i + 32), load_x(src, base, 4 * i + 48), p);
        for (size_t k = 0; k < 4; k++)
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
        for (size_t k = 0; k < 4; k++)
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
        for (size_t k = 0; k < 4; k++) {
            /* two vectors = four elements: [e0lo e0hi e1lo e1hi] -> [e0lo e1lo e0hi e1hi] */
            __m128i a = _mm_shuffle_epi32(load_x(src, base, 8 * i + 32 * k), 0xd8);
            __m128i b = _mm_shuffle_epi32(load_x(src, base, 8 * i + 32 * k + 16), 0xd8);
            lo[k] = _mm_unpacklo_epi64(a, b);
            hi[k] = _mm_unpackhi_epi64(a, b);
        }
        planes4(lo[0], lo[1], lo[2], lo[3], p);
        for (size_t k = 0; k < 4; k++)
            store(dst + k * ne + i, p[k]);
        planes4(hi[0], hi[1], hi[2], hi[3], p);
        for (size_t k = 0; k < 4; k++)
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
