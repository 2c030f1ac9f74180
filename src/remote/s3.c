/*
 * s3.c -- the S3 client's requests: URLs, libcurl (which signs them with
 * AWS SigV4), retries with backoff, and S3's XML errors as flor's codes.
 * Credentials and settings are resolved in config.c.
 */
#include "remote/remote_int.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;
static void global_init(void) { global_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

int flor__s3_curl_init(void)
{
    pthread_once(&global_once, global_init);
    return global_rc == CURLE_OK ? 0
        : flor__err(FLOR_EIO, "libcurl could not be initialized: %s", curl_easy_strerror(global_rc));
}

/* ---- URLs ----------------------------------------------------------------- */

/* Appends S percent-encoded as SigV4 wants it: unreserved bytes as they are,
 * '/' kept when KEEP_SLASH, everything else %XX (upper case). */
static int add_encoded(flor__buf *b, const char *s, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' ||
                    *p == '~' || (keep_slash && *p == '/');
        char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
        if (plain ? flor__buf_add(b, p, 1) : flor__buf_add(b, e, 3))
            return FLOR_ENOMEM;
    }
    return 0;
}

/* The URL of KEY (NULL: the bucket) with QUERY, a list of NAME, VALUE
 * pairs ending in NULL, which the caller gives sorted by name (libcurl
 * 7.88 signs the query string as it is, and SigV4 wants it sorted); a
 * NULL value is written "name=" as the canonical form has it. */
static char *make_url(flor__s3 *c, const char *key, const char *const *query)
{
    flor__buf b = {0};
    int rc = 0;
    if (c->path_style) {
        rc = flor__buf_printf(&b, "%s://%s/", c->scheme, c->hostport) ||
             add_encoded(&b, c->bucket, 0) || flor__buf_puts(&b, "/");
    } else {
        rc = flor__buf_printf(&b, "%s://%s.%s/", c->scheme, c->bucket, c->hostport);
    }
    if (!rc && key)
        rc = add_encoded(&b, key, 1);
    for (int i = 0; !rc && query && query[i]; i += 2) {
        rc = flor__buf_puts(&b, i == 0 ? "?" : "&") || add_encoded(&b, query[i], 0) ||
             flor__buf_puts(&b, "=") || (query[i + 1] && add_encoded(&b, query[i + 1], 0));
    }
    if (rc || flor__buf_add(&b, "", 1)) {
        flor__buf_release(&b);
        return NULL;
    }
    return b.p;
}

/* ---- the XML of S3's answers -------------------------------------------- */

/* The text of the first <TAG>...</TAG> in [P, END), entities decoded, into
 * OUT (OUT_SIZE bytes, truncated); returns a pointer past the closing tag,
 * or NULL when there is none. */
const char *flor__xml_text(const char *p, const char *end, const char *tag, char *out,
                           size_t out_size)
{
    char open[64], close[66];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    size_t lo = strlen(open), lc = strlen(close);
    if (out_size)
        out[0] = 0;
    for (const char *s = p; s + lo <= end; s++) {
        if (memcmp(s, open, lo) != 0)
            continue;
        const char *v = s + lo;
        for (const char *e = v; e + lc <= end; e++) {
            if (memcmp(e, close, lc) != 0)
                continue;
            size_t o = 0;
            for (const char *q = v; q < e && o + 1 < out_size;) {
                static const struct { const char *ent; char ch; } ents[] = {
                    {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
                int done = 0;
                for (size_t k = 0; *q == '&' && k < sizeof ents / sizeof ents[0]; k++) {
                    size_t n = strlen(ents[k].ent);
                    if ((size_t)(e - q) >= n && memcmp(q, ents[k].ent, n) == 0) {
                        out[o++] = ents[k].ch, q += n, done = 1;
                        break;
                    }
                }
                if (!done && *q == '&' && q + 2 < e && q[1] == '#') {
                    char *stop;
                    long ch = q[2] == 'x' ? strtol(q + 3, &stop, 16) : strtol(q + 2, &stop, 10);
                    if (stop < e && *stop == ';' && ch > 0 && ch < 128)
                        out[o++] = (char)ch, q = stop + 1, done = 1;
                }
                if (!done)
                    out[o++] = *q++;
            }
            if (out_size)
                out[o] = 0;
            return e + lc;
        }
        return NULL;
    }
    return NULL;
}

/* ---- one request ---------------------------------------------------------- */

struct req {
    const char *method;      /* GET PUT HEAD DELETE POST */
    const char *key;         /* NULL: the bucket */
    const char *const *query;
    const void *body;        /* PUT/POST */
    size_t body_len;
    const char *range;       /* "A-B" or NULL */
    flor__buf *out;          /* the answer's body is appended here (2xx) */
    /* filled in */
    long status;
    uint64_t content_length;
    int have_length;
    char etag[80];
};

struct upload { const char *p; size_t left; };

static size_t read_cb(char *dst, size_t size, size_t nitems, void *ud)
{
    struct upload *u = ud;
    size_t n = size * nitems < u->left ? size * nitems : u->left;
    memcpy(dst, u->p, n);
    u->p += n, u->left -= n;
    return n;
}

static size_t write_cb(char *src, size_t size, size_t nmemb, void *ud)
{
    return flor__buf_add(ud, src, size * nmemb) ? 0 : size * nmemb;
}

static size_t header_cb(char *line, size_t size, size_t nitems, void *ud)
{
    struct req *r = ud;
    size_t n = size * nitems;
    if (n > 5 && strncasecmp(line, "etag:", 5) == 0) {
        const char *v = line + 5, *e = line + n;
        while (v < e && (*v == ' ' || *v == '"'))
            v++;
        while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '"'))
            e--;
        size_t k = (size_t)(e - v) < sizeof r->etag - 1 ? (size_t)(e - v) : sizeof r->etag - 1;
        memcpy(r->etag, v, k);
        r->etag[k] = 0;
    } else if (n > 15 && strncasecmp(line, "content-length:", 15) == 0) {
        r->content_length = strtoull(line + 15, NULL, 10);
        r->have_length = 1;
    }
    return n;
}

static int transient_curl(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT: case CURLE_OPERATION_TIMEDOUT: case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR: case CURLE_GOT_NOTHING: case CURLE_PARTIAL_FILE:
    case CURLE_COULDNT_RESOLVE_HOST: case CURLE_SSL_CONNECT_ERROR: case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0;
    }
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* The delay before retry I (0-based): BACKOFF * 2^I, capped at 10 s, times
 * a jitter in [0.5, 1). */
static double backoff(const flor__s3 *c, int i, unsigned *seed)
{
    double d = c->backoff_s;
    for (int k = 0; k < i && d < 10; k++)
        d *= 2;
    if (d > 10)
        d = 10;
    *seed = *seed * 1103515245u + 12345u;
    return d * (0.5 + (double)(*seed >> 16 & 0x7fff) / 65536.0);
}

/* One try of R; 0 when a 2xx came back, else the code with the message set;
 * *TRANSIENT says whether trying again may help. */
static int try_once(flor__s3 *c, struct req *r, const char *url, flor__buf *resp, int *transient)
{
    CURL *h = c->curl;
    curl_easy_reset(h);
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = NULL, *t;
    int rc = 0;
    /* (No "Expect:" to turn 100-continue off: libcurl 7.88 would sign the
     * empty header it then leaves out, and the server would refuse the
     * signature.)  The payload goes unsigned (its checksum is flor's business: chunks are
     * verified by their hashes); libcurl 7.88 signs with this header's value. */
    if (!(t = curl_slist_append(hdrs, "x-amz-content-sha256: UNSIGNED-PAYLOAD")))
        goto nomem;
    hdrs = t;
    if (c->session_token) {
        char *tok = flor__printf("x-amz-security-token: %s", c->session_token);
        t = tok ? curl_slist_append(hdrs, tok) : NULL;
        free(tok);
        if (!t)
            goto nomem;
        hdrs = t;
    }
    if (r->body && !(t = curl_slist_append(hdrs, "Content-Type: application/octet-stream")))
        goto nomem;
    if (r->body)
        hdrs = t;

    struct upload up = {r->body, r->body_len};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, c->sigv4);
    curl_easy_setopt(h, CURLOPT_USERNAME, c->access_key);
    curl_easy_setopt(h, CURLOPT_PASSWORD, c->secret_key);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(c->connect_timeout_s * 1000));
    /* A transfer slower than 1 KB/s for 60 s is a stalled one. */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (strcmp(r->method, "PUT") == 0) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
        curl_easy_setopt(h, CURLOPT_READDATA, &up);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
    } else if (strcmp(r->method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body ? (const char *)r->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    } else if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(r->method, "DELETE") == 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
    }
    if (r->range)
        curl_easy_setopt(h, CURLOPT_RANGE, r->range);

    r->status = 0, r->have_length = 0, r->etag[0] = 0;
    size_t start = resp->len;
    CURLcode cc = curl_easy_perform(h);
    curl_slist_free_all(hdrs);
    if (cc != CURLE_OK) {
        *transient = transient_curl(cc);
        return flor__err(FLOR_EIO, "%s %s: %s", r->method, c->endpoint,
                         errbuf[0] ? errbuf : curl_easy_strerror(cc));
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->status >= 200 && r->status < 300)
        return 0;

    /* An error: S3's <Error><Code>..</Code><Message>..</Message></Error>. */
    char code[64] = "", msg[256] = "";
    if (resp->p && resp->len > start) {
        const char *body = resp->p + start, *end = resp->p + resp->len;
        flor__xml_text(body, end, "Code", code, sizeof code);
        flor__xml_text(body, end, "Message", msg, sizeof msg);
    }
    if (!code[0]) /* a HEAD has no body: name the status as S3 would */
        snprintf(code, sizeof code, "%s",
                 r->status == 404 ? (r->key ? "NoSuchKey" : "NoSuchBucket")
                 : r->status == 403 ? "Forbidden" : r->status == 416 ? "InvalidRange"
                 : r->status >= 500 ? "ServerError" : "BadRequest");
    snprintf(c->errcode, sizeof c->errcode, "%s", code);
    *transient = r->status >= 500 || r->status == 429 || strcmp(code, "SlowDown") == 0 ||
                 strcmp(code, "RequestTimeout") == 0;
    rc = r->status == 404 ? FLOR_ENOTFOUND
       : r->status == 416 || (r->status >= 400 && r->status < 500 && !*transient) ? FLOR_EINVAL
       : FLOR_EIO;
    const char *hint = strcmp(code, "SignatureDoesNotMatch") == 0
        ? " (the secret access key does not match the key id)"
        : strcmp(code, "InvalidAccessKeyId") == 0 ? " (the access key id is unknown to the server)"
        : "";
    return flor__err(rc, "%s: %ld %s%s%s%s", r->method, r->status, code, msg[0] ? ": " : "",
                     msg, hint);

nomem:
    curl_slist_free_all(hdrs);
    *transient = 0;
    return flor__err(FLOR_ENOMEM, "out of memory");
}

/* R, tried up to 1 + retries times; the message names s3://BUCKET/KEY. */
static int request(flor__s3 *c, struct req *r)
{
    c->errcode[0] = 0;
    char *url = make_url(c, r->key, r->query);
    if (!url)
        return flor__err(FLOR_ENOMEM, "out of memory");
    flor__buf resp = {0};
    unsigned seed = (unsigned)(flor__mono() * 1e6);
    int rc = 0, tries = 0;
    for (;;) {
        resp.len = 0;
        size_t out_len = r->out ? r->out->len : 0;
        int transient = 0;
        rc = try_once(c, r, url, r->out ? r->out : &resp, &transient);
        tries++;
        if (rc && r->out)
            r->out->len = out_len; /* an error's body is no content */
        if (rc == 0 || !transient || tries > c->retries)
            break;
        sleep_s(backoff(c, tries - 1, &seed));
    }
    flor__buf_release(&resp);
    free(url);
    if (rc == 0)
        return 0;
    if (tries > 1)
        return flor__err_wrap(rc, "s3://%s/%s: failed %d times", c->bucket, r->key ? r->key : "",
                              tries);
    return flor__err_wrap(rc, "s3://%s/%s", c->bucket, r->key ? r->key : "");
}

/* ---- objects ---------------------------------------------------------------- */

int flor__s3_bucket_create(flor__s3 *c)
{
    struct req r = {.method = "PUT", .body = "", .body_len = 0};
    int rc = request(c, &r);
    if (rc && strcmp(c->errcode, "BucketAlreadyOwnedByYou") == 0)
        rc = 0, flor__err_clear();
    return rc;
}

int flor__s3_put(flor__s3 *c, const char *key, const void *data, size_t n)
{
    struct req r = {.method = "PUT", .key = key, .body = data ? data : "", .body_len = n};
    return request(c, &r);
}

int flor__s3_get(flor__s3 *c, const char *key, flor__buf *out)
{
    struct req r = {.method = "GET", .key = key, .out = out};
    return request(c, &r);
}

int flor__s3_get_range(flor__s3 *c, const char *key, uint64_t off, uint64_t len, flor__buf *out)
{
    if (len == 0)
        return flor__err(FLOR_EINVAL, "s3://%s/%s: ranged GET of 0 bytes at %llu: expected a length > 0",
                         c->bucket, key, (unsigned long long)off);
    char range[64];
    snprintf(range, sizeof range, "%llu-%llu", (unsigned long long)off,
             (unsigned long long)(off + len - 1));
    size_t before = out->len;
    struct req r = {.method = "GET", .key = key, .range = range, .out = out};
    int rc = request(c, &r);
    if (rc)
        return rc;
    size_t got = out->len - before;
    if (r.status == 200) {
        /* The server ignored the range and sent it all: keep the range. */
        if (off >= got) {
            out->len = before;
            return flor__err(FLOR_EINVAL, "s3://%s/%s: range %s starts past the object's %zu bytes",
                             c->bucket, key, range, got);
        }
        size_t keep = got - off < len ? (size_t)(got - off) : (size_t)len;
        memmove(out->p + before, out->p + before + off, keep);
        out->len = before + keep;
        return 0;
    }
    if (got > len) {
        out->len = before;
        return flor__err(FLOR_ECORRUPT, "s3://%s/%s: range %s: expected at most %llu bytes, got %zu",
                         c->bucket, key, range, (unsigned long long)len, got);
    }
    return 0;
}

int flor__s3_head(flor__s3 *c, const char *key, flor__s3_stat *st)
{
    struct req r = {.method = "HEAD", .key = key};
    int rc = request(c, &r);
    if (rc)
        return rc;
    st->size = r.content_length;
    snprintf(st->etag, sizeof st->etag, "%s", r.etag);
    return 0;
}

int flor__s3_delete(flor__s3 *c, const char *key)
{
    struct req r = {.method = "DELETE", .key = key};
    return request(c, &r);
}

int flor__s3_list(flor__s3 *c, const char *prefix, flor__s3_list_fn fn, void *ctx)
{
    char token[1024] = "", page[16];
    snprintf(page, sizeof page, "%d", c->list_page);
    flor__buf body = {0};
    int rc = 0;
    for (;;) {
        /* Sorted by name, as make_url() needs. */
        const char *q[9];
        int n = 0;
        if (token[0])
            q[n++] = "continuation-token", q[n++] = token;
        q[n++] = "list-type", q[n++] = "2";
        if (c->list_page > 0)
            q[n++] = "max-keys", q[n++] = page;
        q[n++] = "prefix", q[n++] = prefix ? prefix : "";
        q[n] = NULL;
        body.len = 0;
        struct req r = {.method = "GET", .query = q, .out = &body};
        if ((rc = request(c, &r)))
            break;
        const char *p = body.p, *end = body.p + body.len;
        char truncated[8] = "";
        if (!p || !memmem(p, body.len, "<ListBucketResult", 17)) {
            rc = flor__err(FLOR_ECORRUPT, "s3://%s: LIST of '%s': the answer is not a ListBucketResult",
                           c->bucket, prefix ? prefix : "");
            break;
        }
        flor__xml_text(p, end, "IsTruncated", truncated, sizeof truncated);
        flor__xml_text(p, end, "NextContinuationToken", token, sizeof token);
        char key[1024], size[32], etag[96];
        const char *s = p;
        while (!rc && (s = strstr(s, "<Contents>")) && s < end) {
            const char *e = strstr(s, "</Contents>");
            if (!e)
                break;
            flor__xml_text(s, e, "Key", key, sizeof key);
            flor__xml_text(s, e, "Size", size, sizeof size);
            flor__xml_text(s, e, "ETag", etag, sizeof etag);
            char *et = etag;
            size_t k = strlen(et);
            if (k >= 2 && et[0] == '"' && et[k - 1] == '"')
                et[k - 1] = 0, et++;
            rc = fn(ctx, key, strtoull(size, NULL, 10), et);
            s = e;
        }
        if (rc || strcmp(truncated, "true") != 0)
            break;
        if (!token[0]) {
            rc = flor__err(FLOR_ECORRUPT, "s3://%s: LIST of '%s': truncated with no continuation token",
                           c->bucket, prefix ? prefix : "");
            break;
        }
    }
    flor__buf_release(&body);
    return rc;
}

/* ---- multipart uploads -------------------------------------------------------- */

int flor__s3_mpu_create(flor__s3 *c, const char *key, char **upload_id)
{
    *upload_id = NULL;
    flor__buf body = {0};
    const char *q[] = {"uploads", NULL, NULL};
    struct req r = {.method = "POST", .key = key, .query = q, .out = &body};
    int rc = request(c, &r);
    char id[512];
    if (!rc && !(body.p && flor__xml_text(body.p, body.p + body.len, "UploadId", id, sizeof id) && id[0]))
        rc = flor__err(FLOR_ECORRUPT, "s3://%s/%s: the answer to CreateMultipartUpload has no UploadId",
                       c->bucket, key);
    if (!rc && !(*upload_id = flor__strdup(id)))
        rc = flor__err(FLOR_ENOMEM, "out of memory");
    flor__buf_release(&body);
    return rc;
}

int flor__s3_mpu_part(flor__s3 *c, const char *key, const char *upload_id, int part,
                      const void *data, size_t n, char *etag, size_t etag_size)
{
    if (part < 1 || part > 10000)
        return flor__err(FLOR_EINVAL, "s3://%s/%s: part %d: expected a part number in 1..10000",
                         c->bucket, key, part);
    char num[16];
    snprintf(num, sizeof num, "%d", part);
    const char *q[] = {"partNumber", num, "uploadId", upload_id, NULL};
    struct req r = {.method = "PUT", .key = key, .query = q, .body = data ? data : "", .body_len = n};
    int rc = request(c, &r);
    if (rc)
        return flor__err_wrap(rc, "part %d", part);
    if (!r.etag[0])
        return flor__err(FLOR_ECORRUPT, "s3://%s/%s: part %d: the answer has no ETag", c->bucket, key, part);
    snprintf(etag, etag_size, "%s", r.etag);
    return 0;
}

int flor__s3_mpu_complete(flor__s3 *c, const char *key, const char *upload_id,
                          const char *const *etags, int nparts)
{
    flor__buf xml = {0}, body = {0};
    int rc = flor__buf_puts(&xml, "<CompleteMultipartUpload>");
    for (int i = 0; !rc && i < nparts; i++)
        rc = flor__buf_printf(&xml, "<Part><PartNumber>%d</PartNumber><ETag>\"%s\"</ETag></Part>",
                              i + 1, etags[i]);
    if (!rc)
        rc = flor__buf_puts(&xml, "</CompleteMultipartUpload>");
    if (rc) {
        flor__buf_release(&xml);
        return flor__err(FLOR_ENOMEM, "out of memory");
    }
    const char *q[] = {"uploadId", upload_id, NULL};
    struct req r = {.method = "POST", .key = key, .query = q, .body = xml.p, .body_len = xml.len,
                    .out = &body};
    rc = request(c, &r);
    /* S3 may answer 200 with an <Error> in the body. */
    char code[64];
    if (!rc && body.p && flor__xml_text(body.p, body.p + body.len, "Code", code, sizeof code)) {
        snprintf(c->errcode, sizeof c->errcode, "%s", code);
        rc = flor__err(FLOR_EIO, "s3://%s/%s: CompleteMultipartUpload: %s", c->bucket, key, code);
    }
    flor__buf_release(&xml);
    flor__buf_release(&body);
    return rc;
}

int flor__s3_mpu_list(flor__s3 *c, const char *prefix, flor__s3_mpu_fn fn, void *ctx)
{
    const char *q[] = {"prefix", prefix ? prefix : "", "uploads", "", NULL};
    flor__buf body = {0};
    struct req r = {.method = "GET", .query = q, .out = &body};
    int rc = request(c, &r);
    const char *p = body.p, *end = body.p + body.len;
    if (!rc && (!p || !memmem(p, body.len, "<ListMultipartUploadsResult", 27)))
        rc = flor__err(FLOR_ECORRUPT, "s3://%s: the list of uploads under '%s' does not parse",
                       c->bucket, prefix ? prefix : "");
    const char *s = p;
    while (!rc && (s = strstr(s, "<Upload>")) && s < end) {
        const char *e = strstr(s, "</Upload>");
        if (!e)
            break;
        char key[1024], id[1024];
        flor__xml_text(s, e, "Key", key, sizeof key);
        flor__xml_text(s, e, "UploadId", id, sizeof id);
        rc = fn(ctx, key, id);
        s = e;
    }
    flor__buf_release(&body);
    return rc;
}

int flor__s3_mpu_abort(flor__s3 *c, const char *key, const char *upload_id)
{
    const char *q[] = {"uploadId", upload_id, NULL};
    struct req r = {.method = "DELETE", .key = key, .query = q};
    return request(c, &r);
}

int flor__s3_put_large(flor__s3 *c, const char *key, const void *data, size_t n, size_t part_size)
{
    if (part_size == 0)
        part_size = (size_t)8 << 20;
    if (part_size < (size_t)5 << 20)
        part_size = (size_t)5 << 20;
    if (n <= part_size)
        return flor__s3_put(c, key, data, n);
    size_t nparts = (n + part_size - 1) / part_size;
    if (nparts > 10000)
        return flor__err(FLOR_EINVAL, "s3://%s/%s: %zu bytes in parts of %zu make %zu parts: "
                         "expected at most 10000", c->bucket, key, n, part_size, nparts);
    char *id;
    int rc = flor__s3_mpu_create(c, key, &id);
    if (rc)
        return rc;
    char (*tags)[80] = calloc(nparts, sizeof *tags);
    const char **ptrs = calloc(nparts, sizeof *ptrs);
    if (!tags || !ptrs)
        rc = flor__err(FLOR_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < nparts; i++) {
        size_t off = i * part_size, len = n - off < part_size ? n - off : part_size;
        rc = flor__s3_mpu_part(c, key, id, (int)i + 1, (const char *)data + off, len, tags[i],
                               sizeof tags[i]);
        ptrs[i] = tags[i];
    }
    if (!rc)
        rc = flor__s3_mpu_complete(c, key, id, ptrs, (int)nparts);
    if (rc) {
        /* Keep the first failure's message; the abort is best effort. */
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", flor_errmsg());
        char code[64];
        snprintf(code, sizeof code, "%s", c->errcode);
        flor__s3_mpu_abort(c, key, id);
        snprintf(c->errcode, sizeof c->errcode, "%s", code);
        flor__err(rc, "%s", msg);
    }
    free(tags);
    free(ptrs);
    free(id);
    return rc;
}
