/*
 * fuzz_codec -- the chunk codec's decoder (flor__codec_decode), which turns
 * the stored bytes of a pack record back into a chunk, and its encoder.
 *
 * Input: byte 0 picks the mode and codec, byte 1 the element size, bytes 2-3
 * the decoded length, the rest is data.
 *   - decode mode: the data is taken as stored bytes of the chosen codec
 *     (raw, zstd, shuffle+zstd, xor+shuffle+zstd) and decoded into a buffer
 *     of the given length (for xor, holding a base first).  It must return 0
 *     or FLOR_ECORRUPT, never read or write out of bounds.
 *   - round-trip mode (zstd's style): the data is encoded, with a base that
 *     differs from it in a few bytes when asked (so xor deltas are chosen),
 *     and decoding what the encoder produced must give the data back exactly.
 */
#include "flor.h"
#include "fuzz.h"
#include "internal.h"
#include "store.h"

static flor__codec *codec;

static void decode_garbage(int id, size_t es, const uint8_t *s, size_t slen, size_t len)
{
    uint8_t *dst = malloc(len ? len : 1);
    for (size_t i = 0; i < len; i++)
        dst[i] = (uint8_t)(i * 131); /* the base, for xor */
    int rc = flor__codec_decode(codec, id, es, s, slen, dst, len);
    FUZZ_CHECK(rc == 0 || rc == FLOR_ECORRUPT || rc == FLOR_ENOMEM, "rc %d", rc);
    free(dst);
}

static void round_trip(size_t es, int with_base, uint8_t twist, const uint8_t *raw, size_t len)
{
    uint8_t *base = NULL;
    if (with_base) {
        base = malloc(len ? len : 1);
        memcpy(base, raw, len);
        for (size_t i = 0; i < len; i += 1 + twist % 61)
            base[i] ^= twist;
    }
    struct flor__enc e;
    FUZZ_CHECK(flor__codec_encode(codec, raw, len, es, base, 0, &e) == 0, "encode failed");
    FUZZ_CHECK(e.codec < FLOR__CODEC_COUNT && e.niov <= FLOR__ENC_MAXIOV, "bad encoding");
    FUZZ_CHECK(e.codec != FLOR__CODEC_XOR || base, "xor without a base");
    uint8_t *stored = malloc(e.stored_len ? e.stored_len : 1);
    size_t off = 0;
    for (int i = 0; i < e.niov; i++) {
        memcpy(stored + off, e.iov[i].p, e.iov[i].n);
        off += e.iov[i].n;
    }
    FUZZ_CHECK(off == e.stored_len, "iov lengths %zu, stored_len %zu", off, e.stored_len);
    uint8_t *dst = malloc(len ? len : 1);
    if (e.codec == FLOR__CODEC_XOR)
        memcpy(dst, base, len);
    int rc = flor__codec_decode(codec, e.codec, e.esize, stored, e.stored_len, dst, len);
    FUZZ_CHECK(rc == 0, "decode of %s (esize %d) failed: %s", flor__codec_name(e.codec), e.esize,
               flor_errmsg());
    FUZZ_CHECK(memcmp(dst, raw, len) == 0, "decode(encode(x)) != x, codec %s esize %d",
               flor__codec_name(e.codec), e.esize);
    free(dst);
    free(stored);
    free(base);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    if (!codec)
        codec = flor__codec_new();
    uint8_t mode = data[0];
    size_t es = (size_t)1 << (data[1] & 3); /* 1, 2, 4, 8 */
    size_t len = (size_t)data[2] | (size_t)data[3] << 8;
    data += 4;
    size -= 4;
    if (mode & 0x80)
        round_trip(es, mode & 1, data[-3] ^ data[-2], data, size);
    else
        decode_garbage(mode % FLOR__CODEC_COUNT, (mode & 0x40) ? data[-3] : es, data, size, len);
    return 0;
}
