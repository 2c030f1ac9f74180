/*
 * remote/remote.h -- an S3 client (private to libflor): the layer above
 * base/ and below project/ that will carry the checkpoint store's packs to
 * an S3-compatible object store (AWS, Ceph RGW, MinIO, ...).  docs/remote.md
 * is its design note.
 *
 * HTTP and the AWS Signature Version 4 are libcurl's (CURLOPT_AWS_SIGV4);
 * this layer builds the URLs (path-style or virtual-hosted), finds the
 * credentials, retries, and turns S3's XML answers into flor's error codes.
 *
 * Conventions: every int function returns 0 or a negative FLOR_E* code and
 * sets the thread's message (flor_errmsg()), which names the bucket and key,
 * the HTTP status and the server's error code ("s3://b/k: GET: 404
 * NoSuchKey: ...") and never a secret.  The codes:
 *
 *   FLOR_ENOTFOUND  no such key, no such bucket, no such upload (404)
 *   FLOR_EINVAL     the request or the configuration is wrong: bad
 *                   credentials (SignatureDoesNotMatch, InvalidAccessKeyId,
 *                   AccessDenied: 403), no credentials at all, a malformed
 *                   endpoint, an invalid part list (400)
 *   FLOR_EIO        the server could not be reached or kept failing (5xx,
 *                   503 SlowDown, a refused or dropped connection, a timeout)
 *                   after the configured retries
 *   FLOR_ECORRUPT   an answer that does not parse, or a ranged GET that
 *                   returned other bytes than asked
 *   FLOR_ENOMEM
 *
 * flor__s3_errcode() gives the server's code of the last failure ("NoSuchKey",
 * "" when none), for callers that must tell cases apart.
 *
 * A client (flor__s3) holds one libcurl handle and its connection: use it
 * from one thread at a time; open one per thread.
 */
#ifndef FLOR_REMOTE_H
#define FLOR_REMOTE_H

#include <stddef.h>
#include <stdint.h>

struct flor__buf; /* base/base.h */

typedef struct flor__s3 flor__s3;

enum { FLOR__S3_AUTO = 0, FLOR__S3_PATH = 1, FLOR__S3_VHOST = 2 };

/* What a client talks to.  Every field may be 0/NULL: the default in the
 * comment applies.  The strings are copied by flor__s3_open(). */
typedef struct flor__s3_config {
    /* "http://127.0.0.1:9000" or "https://s3.example.com" (no path).  NULL:
     * the profile's endpoint_url, else https://s3.REGION.amazonaws.com. */
    const char *endpoint;
    const char *bucket;       /* required */
    /* NULL: AWS_REGION, AWS_DEFAULT_REGION, the profile's region, else
     * "us-east-1". */
    const char *region;
    /* FLOR__S3_PATH: http://host/bucket/key; FLOR__S3_VHOST:
     * http://bucket.host/key; FLOR__S3_AUTO (0): virtual-hosted for AWS's
     * own endpoints, path-style for any other (MinIO, RGW, localhost). */
    int path_style;
    /* Credentials.  Explicit keys win; else the profile named here; else
     * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN); else
     * the profile AWS_PROFILE names, or "default", in the shared files
     * (AWS_SHARED_CREDENTIALS_FILE, default ~/.aws/credentials, then
     * AWS_CONFIG_FILE, default ~/.aws/config). */
    const char *access_key, *secret_key, *session_token;
    const char *profile;
    /* Retries of a request that met a 5xx, a 429 or a connection error
     * (not of a 4xx): at most RETRIES more tries (default 4; -1 for none),
     * sleeping BACKOFF_S * 2^i seconds (default 0.2), capped at 10 s, with
     * jitter.  CONNECT_TIMEOUT_S: per try (default 10). */
    int retries;
    double backoff_s;
    double connect_timeout_s;
    /* Keys per LIST page (max-keys); 0: the server's default (1000). */
    int list_page;
} flor__s3_config;

/* Opens a client: resolves the region, the credentials and the endpoint
 * (no request is made).  FLOR_EINVAL when no credentials are found, a
 * profile named is missing, or the endpoint is not http(s)://HOST[:PORT].
 * @param[out] out  the client; flor__s3_free() it. */
int flor__s3_open(flor__s3 **out, const flor__s3_config *cfg);
void flor__s3_free(flor__s3 *c);  /* NULL is fine */

/* The server's error code of the last failed request ("" when none). */
const char *flor__s3_errcode(const flor__s3 *c);
/* What the client resolved, for messages and `flor remote`: the bucket,
 * the endpoint URL, the region, and where the credentials came from
 * ("environment", "profile NAME", "config") -- never the keys. */
const char *flor__s3_bucket(const flor__s3 *c);
const char *flor__s3_endpoint(const flor__s3 *c);
const char *flor__s3_region(const flor__s3 *c);
const char *flor__s3_cred_source(const flor__s3 *c);

/* Creates the bucket (PUT Bucket, no location constraint: the endpoint's
 * default region).  A bucket this account already owns is not an error. */
int flor__s3_bucket_create(flor__s3 *c);

/* ---- objects ---------------------------------------------------------- */

/* PUT: KEY's content becomes DATA (N bytes), in one request (S3 takes up
 * to 5 GiB so; flor__s3_put_large() cuts larger ones). */
int flor__s3_put(flor__s3 *c, const char *key, const void *data, size_t n);

/* GET: appends KEY's whole content to OUT. */
int flor__s3_get(flor__s3 *c, const char *key, struct flor__buf *out);

/* Ranged GET: appends bytes [OFF, OFF+LEN) of KEY to OUT.  A range that
 * runs past the end gives the bytes up to the end; one that starts past it
 * is FLOR_EINVAL (416 InvalidRange).  LEN > 0. */
int flor__s3_get_range(flor__s3 *c, const char *key, uint64_t off, uint64_t len,
                       struct flor__buf *out);

typedef struct flor__s3_stat {
    uint64_t size;
    char etag[80];   /* as the server quotes it, quotes removed */
} flor__s3_stat;

/* HEAD: KEY's size and ETag.  FLOR_ENOTFOUND when absent. */
int flor__s3_head(flor__s3 *c, const char *key, flor__s3_stat *st);

/* DELETE.  Deleting a key that does not exist succeeds (S3 says 204). */
int flor__s3_delete(flor__s3 *c, const char *key);

/* LIST (ListObjectsV2): calls FN for every key that starts with PREFIX, in
 * the server's (byte) order, following continuation tokens.  FN returns 0
 * to go on; anything else stops the listing and is returned. */
typedef int (*flor__s3_list_fn)(void *ctx, const char *key, uint64_t size, const char *etag);
int flor__s3_list(flor__s3 *c, const char *prefix, flor__s3_list_fn fn, void *ctx);

/* ---- multipart uploads -------------------------------------------------- */
/* S3's parts are 5 MiB to 5 GiB (the last may be smaller), numbered 1..10000.
 * An upload that is neither completed nor aborted keeps its parts (and costs
 * storage) until it is aborted: a caller that stops part-way aborts it, or
 * records UPLOAD_ID to resume or abort later. */

/* Starts an upload of KEY.  @param[out] upload_id  malloc'd; free() it. */
int flor__s3_mpu_create(flor__s3 *c, const char *key, char **upload_id);
/* Uploads part PART (1-based) from DATA (N bytes); ETAG (ETAG_SIZE bytes,
 * 80 is enough) receives the part's ETag, which completion needs. */
int flor__s3_mpu_part(flor__s3 *c, const char *key, const char *upload_id, int part,
                      const void *data, size_t n, char *etag, size_t etag_size);
/* Completes the upload from its NPARTS parts' ETags (ETAGS[i] for part i+1). */
int flor__s3_mpu_complete(flor__s3 *c, const char *key, const char *upload_id,
                          const char *const *etags, int nparts);
int flor__s3_mpu_abort(flor__s3 *c, const char *key, const char *upload_id);
/* ListMultipartUploads: FN(CTX, KEY, UPLOAD_ID) for each upload under way
 * whose key starts with PREFIX (the first 1000; FN's non-zero stops it). */
typedef int (*flor__s3_mpu_fn)(void *ctx, const char *key, const char *upload_id);
int flor__s3_mpu_list(flor__s3 *c, const char *prefix, flor__s3_mpu_fn fn, void *ctx);

/* PUT of a large object: one PUT when N <= PART_SIZE, else a multipart
 * upload of PART_SIZE parts (0: 8 MiB; at least 5 MiB), aborted if a part
 * or the completion fails (after its retries). */
int flor__s3_put_large(flor__s3 *c, const char *key, const void *data, size_t n,
                       size_t part_size);

#endif /* FLOR_REMOTE_H */
