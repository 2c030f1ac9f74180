/*
 * base/xxh.h -- includes xxhash the way flor's hot paths want it.
 *
 * On x86-64, when libxxhash ships its run-time dispatcher, XXH3 goes through
 * it to the AVX2/AVX-512 kernels: three times the SSE2 speed here, and the
 * same hashes.  Include this instead of <xxhash.h> in every file that hashes
 * chunk-sized data (the store's records, chunk names, codec checksums).
 *
 * Those kernels (libxxhash 0.8.1) return with the upper halves of the vector
 * registers still in use: no VZEROUPPER.  Until something clears them, every
 * SSE instruction the thread runs afterwards pays for merging with that
 * state; measured here (AMD EPYC, AVX-512), the example's SSE forward pass
 * ran 3.4 times slower on the thread that had restored a checkpoint.  So
 * each dispatched call below is wrapped: it clears the upper halves on
 * return (VZEROUPPER, on a CPU with AVX), leaving the caller's thread, the
 * program's or the store's own, in the state the compiler assumes.
 */
#ifndef FLOR_BASE_XXH_H
#define FLOR_BASE_XXH_H

#include <xxhash.h>
#if defined(__x86_64__) && defined(__has_include)
#if __has_include(<xxh_x86dispatch.h>)
#define XXH_DISPATCH_DISABLE_REPLACE /* the names are mapped below, with the wrappers */
#include <xxh_x86dispatch.h>
#define FLOR__XXH_DISPATCH 1
#endif
#endif

#ifdef FLOR__XXH_DISPATCH
/* Marks the upper halves of the vector registers unused, on a CPU that has
 * them (VZEROUPPER is an invalid instruction without AVX). */
static inline void flor__vector_upper_clear(void)
{
    if (__builtin_cpu_supports("avx"))
        __asm__ volatile("vzeroupper");
}

static inline XXH64_hash_t flor__xxh3_64(const void *p, size_t n)
{
    XXH64_hash_t h = XXH3_64bits_dispatch(p, n);
    flor__vector_upper_clear();
    return h;
}

static inline XXH128_hash_t flor__xxh3_128(const void *p, size_t n)
{
    XXH128_hash_t h = XXH3_128bits_dispatch(p, n);
    flor__vector_upper_clear();
    return h;
}

static inline XXH_errorcode flor__xxh3_64_update(XXH3_state_t *st, const void *p, size_t n)
{
    XXH_errorcode rc = XXH3_64bits_update_dispatch(st, p, n);
    flor__vector_upper_clear();
    return rc;
}

#undef XXH3_64bits
#define XXH3_64bits flor__xxh3_64
#undef XXH3_128bits
#define XXH3_128bits flor__xxh3_128
#undef XXH3_64bits_update
#define XXH3_64bits_update flor__xxh3_64_update
#endif

#endif
