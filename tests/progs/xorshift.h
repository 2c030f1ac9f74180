/*
 * xorshift.h -- the random numbers of the test programs: a 64-bit
 * xorshift generator whose whole state is one uint64_t, so that a
 * program registers it and a replay or a resume draws what the record
 * drew, bit for bit.
 */
#ifndef FLOR_TEST_XORSHIFT_H
#define FLOR_TEST_XORSHIFT_H

#include <stdint.h>

static inline uint64_t next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Uniform in [-0.5, 0.5). */
static inline double uniform(uint64_t *s)
{
    return (double)(next(s) >> 11) / 9007199254740992.0 - 0.5;
}

#endif
