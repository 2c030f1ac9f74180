/*
 * codec.h -- how the bytes of one chunk are stored: element types, the
 * codec ids written in chunk records, and the encoder/decoder of one chunk
 * (codec.c) with its byte-plane transforms (planes.c).  Depends only on
 * base: the store (put.c, get.c) calls down into it, never the reverse.
 * Internal to libflor; the unit tests and fuzz targets use it through
 * store.h, which includes it.
 */
#ifndef FLOR_STORE_CODEC_H
#define FLOR_STORE_CODEC_H

#include <stddef.h>
#include <stdint.h>

/* ---- element types ------------------------------------------------------ */

/* The element type of an object's bytes: a hint for compression (typed data
 * is split into byte planes before zstd).  Chunk boundaries always fall on
 * element boundaries; a trailing partial element is allowed. */
enum flor__elem {
    FLOR__ELEM_RAW = 0, /* bytes (u8), or unknown */
    FLOR__ELEM_F32 = 1,
    FLOR__ELEM_BF16 = 2,
    FLOR__ELEM_F16 = 3,
    FLOR__ELEM_F64 = 4,
    FLOR__ELEM_I32 = 5,
    FLOR__ELEM_I64 = 6,
    FLOR__ELEM_COUNT
};

/* Size in bytes of one element (1 for RAW); 0 for an unknown type. */
size_t flor__elem_size(int elemtype);
/* "raw", "f32", "bf16", ...; "?" for an unknown type. */
const char *flor__elem_name(int elemtype);

/* ---- codec ids ------------------------------------------------------------ */

/* How a chunk is stored (the codec byte of its record). */
enum flor__codec_id {
    FLOR__CODEC_RAW = 0,  /* the bytes as they are */
    FLOR__CODEC_ZSTD = 1, /* one zstd frame of the bytes */
    FLOR__CODEC_SHUF = 2, /* byte planes (one per byte of an element), each raw,
                             constant or zstd */
    FLOR__CODEC_XOR = 3,  /* as SHUF, of the bytes XOR the base chunk's bytes */
    FLOR__CODEC_COUNT
};
const char *flor__codec_name(int codec); /* "raw", "zstd", "shuffle+zstd", "xor+shuffle+zstd" */

/* ---- codec.c: encoding one chunk ------------------------------------------ */

typedef struct flor__codec flor__codec;
flor__codec *flor__codec_new(void);
void flor__codec_free(flor__codec *c);

#define FLOR__ENC_MAXIOV 12
struct flor__enc {
    uint8_t codec, esize;
    uint8_t version;            /* of the chunk record: 2 when a plane uses the
                                   nibble code, else 1 (readable by older flor) */
    size_t stored_len;          /* sum of the iov lengths */
    int niov;
    struct {
        const void *p;
        size_t n;
    } iov[FLOR__ENC_MAXIOV];    /* point into RAW, BASE-derived buffers of C */
};

/* Chooses and applies an encoding for LEN bytes at RAW made of ESIZE-byte
 * elements.  BASE (LEN bytes, or NULL) allows FLOR__CODEC_XOR; CHEAP forces
 * FLOR__CODEC_RAW.  The result points into RAW and into C's buffers and is
 * valid until C's next use.  @return 0 or FLOR_ENOMEM. */
int flor__codec_encode(flor__codec *c, const uint8_t *raw, size_t len, size_t esize,
                       const uint8_t *base, int cheap, struct flor__enc *out);

/* Decodes STORED (SLEN bytes, codec CODEC) into DST (LEN bytes).  For
 * FLOR__CODEC_XOR, DST must hold the base chunk's bytes on entry.
 * @return 0, FLOR_ECORRUPT (malformed data; message without location),
 *         FLOR_ENOMEM. */
int flor__codec_decode(flor__codec *c, int codec, size_t esize, const uint8_t *stored,
                       size_t slen, uint8_t *dst, size_t len);

/* ---- planes.c ------------------------------------------------------------- */

/* Byte-plane transforms: SRC (NE elements of ES bytes, XOR BASE when not
 * NULL) to ES contiguous planes of NE bytes at DST, and back (XOR into DST
 * when XOR is set).  Exposed for the tests. */
void flor__shuffle(const uint8_t *src, const uint8_t *base, size_t ne, size_t es,
                   uint8_t *dst);
void flor__unshuffle(const uint8_t *const *planes, size_t ne, size_t es, uint8_t *dst,
                     int xor);

#endif /* FLOR_STORE_CODEC_H */
