/*
 * format.c -- the store's on-disk records, byte by byte: the 16-byte header
 * of pack and index files, the 64-byte header of a chunk record in a pack,
 * and the 64-byte index record.  docs/store.md describes the same layouts.
 */
#include "store_int.h"

#include <string.h>

void flor__file_header(uint8_t h[FILE_HDR], const char *magic)
{
    memset(h, 0, FILE_HDR);
    memcpy(h, magic, 8);
    flor__put_le32(h + 8, FORMAT_VERSION);
    flor__put_le32(h + 12, magic[4] == 'I' ? IDX_REC : REC_HDR);
}

int flor__file_header_ok(const uint8_t h[FILE_HDR], const char *magic)
{
    uint8_t want[FILE_HDR];
    flor__file_header(want, magic);
    return memcmp(h, want, FILE_HDR) == 0;
}

/*
 * Chunk record header (64 bytes, little-endian):
 *   0 "FLCK"  4 version  5 codec  6 element size  7 depth
 *   8 raw length (u32)  12 stored length (u32)  16 hash  32 base (zero if none)
 *  48 XXH3-64 of the stored bytes  56 XXH3-64 of bytes 0..55
 */
void flor__rec_header(uint8_t h[REC_HDR], const struct ient *e, int version, uint64_t sum)
{
    memcpy(h, CHUNK_MAGIC, 4);
    h[4] = (uint8_t)version;
    h[5] = e->codec;
    h[6] = e->esize;
    h[7] = e->depth;
    flor__put_le32(h + 8, e->raw_len);
    flor__put_le32(h + 12, e->stored_len);
    memcpy(h + 16, e->hash.b, 16);
    memcpy(h + 32, e->base.b, 16);
    flor__put_le64(h + 48, sum);
    flor__put_le64(h + 56, XXH3_64bits(h, 56));
}

/* Does the record header H describe entry E?  Returns what is wrong, or NULL. */
const char *flor__rec_header_check(const uint8_t h[REC_HDR], const struct ient *e)
{
    if (memcmp(h, CHUNK_MAGIC, 4) != 0)
        return "no chunk record here";
    if (flor__get_le64(h + 56) != XXH3_64bits(h, 56))
        return "record header checksum mismatch";
    if (h[4] < 1 || h[4] > REC_VERSION_MAX)
        return "unknown record version";
    if (memcmp(h + 16, e->hash.b, 16) != 0)
        return "record holds another chunk";
    if (h[5] != e->codec || h[6] != e->esize || h[7] != e->depth ||
        flor__get_le32(h + 8) != e->raw_len || flor__get_le32(h + 12) != e->stored_len ||
        (e->depth && memcmp(h + 32, e->base.b, 16) != 0))
        return "record header disagrees with the index";
    return NULL;
}

/*
 * Index record (64 bytes, little-endian):
 *   0 hash  16 base  32 offset of the chunk record (u64)  40 stored length
 *  44 raw length  48 codec  49 element size  50 depth  51..55 zero
 *  56 XXH3-64 of bytes 0..55
 */
/* Are E's fields within what a record may hold: a known codec, lengths
 * within bounds, a delta (XOR) exactly when it has a base? */
static int entry_sane(const struct ient *e)
{
    return e->codec < FLOR__CODEC_COUNT && e->stored_len <= MAX_STORED &&
           e->raw_len <= MAX_CHUNK && e->depth <= MAX_CHAIN &&
           (e->depth > 0) == (e->codec == FLOR__CODEC_XOR);
}

void flor__idx_record(uint8_t r[IDX_REC], const struct ient *e)
{
    memset(r, 0, IDX_REC);
    memcpy(r, e->hash.b, 16);
    memcpy(r + 16, e->base.b, 16);
    flor__put_le64(r + 32, e->off);
    flor__put_le32(r + 40, e->stored_len);
    flor__put_le32(r + 44, e->raw_len);
    r[48] = e->codec;
    r[49] = e->esize;
    r[50] = e->depth;
    flor__put_le64(r + 56, XXH3_64bits(r, 56));
}

int flor__idx_parse(const uint8_t r[IDX_REC], struct ient *e)
{
    if (flor__get_le64(r + 56) != XXH3_64bits(r, 56))
        return -1;
    memset(e, 0, sizeof *e);
    memcpy(e->hash.b, r, 16);
    memcpy(e->base.b, r + 16, 16);
    e->off = flor__get_le64(r + 32);
    e->stored_len = flor__get_le32(r + 40);
    e->raw_len = flor__get_le32(r + 44);
    e->codec = r[48];
    e->esize = r[49];
    e->depth = r[50];
    return e->off >= FILE_HDR && entry_sane(e) ? 0 : -1;
}

/* Parses a chunk record header found by scanning (no index to compare
 * with): magic, header checksum, version and sane fields. */
int flor__rec_header_parse(const uint8_t h[REC_HDR], struct ient *e)
{
    if (memcmp(h, CHUNK_MAGIC, 4) != 0 || flor__get_le64(h + 56) != XXH3_64bits(h, 56) ||
        h[4] < 1 || h[4] > REC_VERSION_MAX)
        return -1;
    memset(e, 0, sizeof *e);
    e->codec = h[5];
    e->esize = h[6];
    e->depth = h[7];
    e->raw_len = flor__get_le32(h + 8);
    e->stored_len = flor__get_le32(h + 12);
    memcpy(e->hash.b, h + 16, 16);
    memcpy(e->base.b, h + 32, 16);
    return entry_sane(e) ? 0 : -1;
}
