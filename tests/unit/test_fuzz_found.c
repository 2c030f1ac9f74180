/*
 * test_fuzz_found.c -- one test per bug the fuzzers in tests/fuzz/ found,
 * each a small hand-made version of the input that showed it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "check.h"
#include "flor.h"
#include "internal.h"
#include "store.h"

static char root[] = "/tmp/flor-fuzz-found-XXXXXX";

static void slurp(const char *path, uint8_t **p, size_t *n)
{
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    *p = malloc(*n);
    if (fread(*p, 1, *n, f) != *n)
        *n = 0;
    fclose(f);
}

static void spit(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    fwrite(p, 1, n, f);
    fclose(f);
}

/* fuzz_idx: an index record (checksum valid) that says a raw chunk is
 * stored in more bytes than the chunk has.  Raw records are read straight
 * into the caller's buffer, so the store wrote past its end before failing
 * on the record header; now it refuses the record first. */
static void test_raw_record_longer_than_its_chunk_is_refused_before_reading(void)
{
    char dir[128], idx[160];
    snprintf(dir, sizeof dir, "%s/raw-overflow", root);
    snprintf(idx, sizeof idx, "%s/pack-000001.idx", dir);
    uint8_t data[2][300];
    for (int i = 0; i < 300; i++) { /* does not compress: stored raw */
        data[0][i] = (uint8_t)(i * 7919 >> 3 ^ i * 31);
        data[1][i] = (uint8_t)(i * 104729 >> 5 ^ i * 17);
    }
    flor__store *s;
    struct flor__obj o[2];
    CHECK(flor__store_open(&s, dir) == 0);
    flor__store_set_threads(s, 1);
    for (int i = 0; i < 2; i++)
        CHECK(flor__store_put(s, data[i], 300, FLOR__ELEM_RAW, NULL, &o[i], NULL) == 0);
    CHECK(flor__store_sync(s) == 0);
    flor__store_close(s);

    uint8_t *p;
    size_t n;
    slurp(idx, &p, &n);
    CHECK(n == 16 + 2 * 64);
    uint8_t *r = p + 16; /* the first object's record: say it is 64 bytes longer */
    CHECK(r[48] == FLOR__CODEC_RAW && flor__get_le32(r + 40) == 300);
    flor__put_le32(r + 40, 300 + 64);
    flor__put_le64(r + 56, XXH3_64bits(r, 56));
    spit(idx, p, n);
    free(p);

    uint8_t dst[300 + 64];
    memset(dst, 0xAB, sizeof dst);
    CHECK(flor__store_open(&s, dir) == 0);
    flor__store_set_threads(s, 1);
    CHECK(flor__store_get(s, &o[0], dst, 300) == FLOR_ECORRUPT);
    CHECK(strstr(flor_errmsg(), "pack-000001.pack") != NULL);
    int untouched = 1;
    for (size_t i = 300; i < sizeof dst; i++)
        untouched &= dst[i] == 0xAB;
    CHECK(untouched); /* nothing written past the 300 bytes asked for */
    CHECK(flor__store_get(s, &o[1], dst, 300) == 0 && memcmp(dst, data[1], 300) == 0);
    flor__store_close(s);
    flor__obj_release(&o[0]);
    flor__obj_release(&o[1]);
}

/* fuzz_manifest: a manifest whose reserved header bytes (6..7, zero in
 * docs/store.md) are not zero, checksum valid, was accepted: a manifest a
 * newer flor might give a meaning to was read as if they did not matter. */
static void test_manifest_with_nonzero_reserved_bytes_is_refused(void)
{
    struct flor__chunk_ref ref = {.hash = flor__hash_of("x", 1)};
    struct flor__obj o = {.nbytes = 1, .chunk_size = 64, .nchunks = 1, .chunks = &ref}, back;
    flor__buf b = {0};
    CHECK(flor__obj_encode(&o, &b) == 0);
    CHECK(flor__obj_decode(b.p, b.len, &back) == 0);
    flor__obj_release(&back);
    for (int at = 6; at <= 7; at++) {
        uint8_t *m = malloc(b.len);
        memcpy(m, b.p, b.len);
        m[at] = 0x3a;
        flor__put_le64(m + b.len - 8, XXH3_64bits(m, b.len - 8));
        CHECK_EQ_INT(flor__obj_decode(m, b.len, &back), FLOR_ECORRUPT);
        CHECK_EQ_STR(flor_errmsg(), "manifest: inconsistent header");
        CHECK(back.chunks == NULL);
        free(m);
    }
    flor__buf_release(&b);
}

int main(void)
{
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_raw_record_longer_than_its_chunk_is_refused_before_reading);
    RUN(test_manifest_with_nonzero_reserved_bytes_is_refused);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0)
        return 1;
    return check_summary();
}
