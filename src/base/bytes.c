/*
 * bytes.c -- content hashes (base/bytes.h): the XXH3-128 that names a chunk,
 * and its hex form for messages and listings.
 */
#include "base/bytes.h"
#include "base/xxh.h"

#include <string.h>

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
