/*
 * base/xxh.h -- includes xxhash the way flor's hot paths want it.
 *
 * On x86-64, when libxxhash ships its run-time dispatcher, XXH3 goes through
 * it to the AVX2/AVX-512 kernels: three times the SSE2 speed here, and the
 * same hashes.  Include this instead of <xxhash.h> in every file that hashes
 * chunk-sized data (the store's records, chunk names, codec checksums).
 */
#ifndef FLOR_BASE_XXH_H
#define FLOR_BASE_XXH_H

#include <xxhash.h>
#if defined(__x86_64__) && defined(__has_include)
#if __has_include(<xxh_x86dispatch.h>)
#include <xxh_x86dispatch.h>
#endif
#endif

#endif
