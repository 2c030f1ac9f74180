/*
 * fuzz_manifest -- the manifest reader (flor__obj_decode): the BLOB a
 * checkpoint row keeps in flor.db, which a damaged or hostile database hands
 * to the restore path as it is.
 *
 * Each input is decoded twice: as given (almost always refused by its
 * checksum), and with its trailing XXH3-64 recomputed, so the mutations
 * reach the header and chunk-list checks behind it.  Contract checked:
 * decode either fails with FLOR_ECORRUPT/FLOR_ENOMEM and leaves *out
 * zeroed, or succeeds with a manifest that encodes back to exactly the
 * input bytes (the format has one spelling per manifest) and whose header
 * is consistent (chunk count = ceil(bytes / chunk size)).
 */
#include <xxhash.h>

#include "flor.h"
#include "fuzz.h"
#include "internal.h"
#include "store.h"

static void check_one(const uint8_t *p, size_t n)
{
    struct flor__obj o;
    int rc = flor__obj_decode(p, n, &o);
    if (rc) {
        FUZZ_CHECK(rc == FLOR_ECORRUPT || rc == FLOR_ENOMEM, "rc %d", rc);
        FUZZ_CHECK(!o.chunks && !o.nchunks && !o.nbytes, "failed decode left a manifest");
        const char *msg = flor_errmsg();
        FUZZ_CHECK(msg && strncmp(msg, "manifest: ", 10) == 0, "message '%s'", msg ? msg : "");
        return;
    }
    FUZZ_CHECK(o.chunk_size > 0 && o.elemtype < FLOR__ELEM_COUNT, "bad header accepted");
    FUZZ_CHECK(o.nchunks == o.nbytes / o.chunk_size + (o.nbytes % o.chunk_size != 0),
               "chunk count %u for %llu bytes of %u", o.nchunks, (unsigned long long)o.nbytes,
               o.chunk_size);
    flor__buf b = {0};
    FUZZ_CHECK(flor__obj_encode(&o, &b) == 0, "encode failed");
    FUZZ_CHECK(b.len == n && memcmp(b.p, p, n) == 0, "decode/encode changed the manifest");
    flor__buf_release(&b);
    flor__obj_release(&o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_one(data, size);
    if (size >= 8) {
        uint8_t *fixed = malloc(size);
        memcpy(fixed, data, size);
        flor__put_le64(fixed + size - 8, XXH3_64bits(fixed, size - 8));
        check_one(fixed, size);
        free(fixed);
    }
    return 0;
}
