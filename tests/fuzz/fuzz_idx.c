/*
 * fuzz_idx -- the pack index reader (read_idx in src/store.c, reached
 * through flor__store_open/_stats/_get/_has): an idx file that a crash, a
 * bad disk or a hostile hand has damaged.
 *
 * Input: the whole pack-000001.idx file, beside the real pack it indexes
 * (store_fixture.h).  Each input is read as given and, when its records'
 * checksums do not hold, once more with them recomputed, so mutations reach
 * the offsets, lengths, codecs and chains behind the checksum.  Checked (in
 * store_fixture.h): every real object comes back exact or fails with a
 * documented code and a message; every chunk the index names comes back
 * with bytes that hash to its name, or fails.
 */
#include "store_fixture.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fix_init();
    return 0;
}

static void run(const uint8_t *idx, size_t n)
{
    fuzz_write(fx.pack, fx.packbytes, fx.packlen);
    fuzz_write(fx.idx, idx, n);
    size_t ncand = n > 16 ? (n - 16) / 64 : 0;
    struct fix_cand *cand = calloc(ncand ? ncand : 1, sizeof *cand);
    for (size_t i = 0; i < ncand; i++) {
        const uint8_t *r = idx + 16 + 64 * i;
        memcpy(cand[i].hash, r, 16);
        memcpy(cand[i].base, r + 16, 16);
        cand[i].raw = flor__get_le32(r + 44);
        cand[i].depth = r[50];
    }
    fix_read_all(cand, ncand);
    free(cand);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(data, size);
    uint8_t *fixed = malloc(size ? size : 1);
    memcpy(fixed, data, size);
    for (size_t off = 16; off + 64 <= size; off += 64)
        flor__put_le64(fixed + off + 56, XXH3_64bits(fixed + off, 56));
    if (memcmp(fixed, data, size) != 0)
        run(fixed, size);
    free(fixed);
    return 0;
}
