/*
 * base/bytes.h -- byte-level helpers for flor's on-disk formats: little-endian
 * field access and content hashes (a chunk's name).  Used by the store (pack
 * and index records), the codec and the manifest format; depends on nothing
 * of flor's.  Internal to libflor.
 */
#ifndef FLOR_BASE_BYTES_H
#define FLOR_BASE_BYTES_H

#include <stddef.h>
#include <stdint.h>

/* ---- little-endian fields ------------------------------------------------ */

static inline void flor__put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void flor__put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint32_t flor__get_le32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static inline uint64_t flor__get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* ---- bytes.c: content hashes ---------------------------------------------- */

/* A chunk's name: XXH3-128 of its raw bytes, in canonical (big-endian)
 * byte order. */
typedef struct flor__hash {
    uint8_t b[16];
} flor__hash;

/* 32 lowercase hex digits and a NUL. */
void flor__hash_hex(const flor__hash *h, char out[33]);
flor__hash flor__hash_of(const void *data, size_t n);

#endif
