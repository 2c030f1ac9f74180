/*
 * fuzz_pack -- the pack reader (get_chunk in src/store.c and the codec
 * behind it, reached through flor__store_get): a pack file whose records a
 * crash, a bad disk or a hostile hand has damaged.
 *
 * Input: the whole pack-000001.pack file.  The harness indexes it the way
 * the store would have (one idx record per chunk record header it finds,
 * walking header + stored length), so every record is looked up.  Each
 * input is read as given and, when its records' checksums do not hold,
 * once more with them recomputed, so mutations reach the codec and the
 * delta chains behind the checksums.  Checked (in store_fixture.h): every
 * real object comes back exact or fails with a documented code and a
 * message; every chunk comes back with bytes that hash to its name, or
 * fails.
 */
#include "store_fixture.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fix_init();
    return 0;
}

/* Indexes PACK's records; with FIX, first recomputes their checksums in
 * place.  Returns how many records it found, filling CAND. */
static size_t index_pack(uint8_t *pack, size_t n, int fix, struct fix_cand *cand, size_t max,
                         flor__buf *idx)
{
    uint8_t h[16] = "FLORINDX";
    flor__put_le32(h + 8, 1);
    flor__put_le32(h + 12, 64);
    flor__buf_add(idx, h, 16);
    size_t k = 0;
    for (size_t off = 16; off + 64 <= n && k < max;) {
        uint8_t *r = pack + off;
        uint32_t raw = flor__get_le32(r + 8), stored = flor__get_le32(r + 12);
        if (fix && stored <= n - off - 64) {
            flor__put_le64(r + 48, XXH3_64bits(r + 64, stored));
            flor__put_le64(r + 56, XXH3_64bits(r, 56));
        }
        uint8_t e[64] = {0};
        memcpy(e, r + 16, 32); /* hash, base */
        flor__put_le64(e + 32, off);
        flor__put_le32(e + 40, stored);
        flor__put_le32(e + 44, raw);
        e[48] = r[5];
        e[49] = r[6];
        e[50] = r[7];
        flor__put_le64(e + 56, XXH3_64bits(e, 56));
        flor__buf_add(idx, e, 64);
        memcpy(cand[k].hash, r + 16, 16);
        memcpy(cand[k].base, r + 32, 16);
        cand[k].depth = r[7];
        cand[k].raw = raw;
        k++;
        if (stored > n - off - 64)
            break;
        off += 64 + stored;
    }
    return k;
}

static void run(uint8_t *pack, size_t n, int fix)
{
    size_t max = n / 64 + 1;
    struct fix_cand *cand = calloc(max, sizeof *cand);
    flor__buf idx = {0};
    size_t k = index_pack(pack, n, fix, cand, max, &idx);
    fuzz_write(fx.pack, pack, n);
    fuzz_write(fx.idx, idx.p, idx.len);
    fix_read_all(cand, k);
    flor__buf_release(&idx);
    free(cand);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    run(copy, size, 0);
    memcpy(copy, data, size);
    run(copy, size, 1);
    free(copy);
    return 0;
}
