/*
 * test_s3.c -- the S3 client (src/remote/) against a real S3 server: Ceph's
 * RADOS Gateway, started by tests/s3/server.sh on 127.0.0.1 (or the one
 * FLOR_TEST_S3_ENDPOINT, _KEY, _SECRET name).  Round trips of real bytes
 * (put, get, ranged get, head, list, delete), a 20 MB multipart upload,
 * wrong credentials, a missing bucket, an unreachable endpoint, and
 * credentials from a profile in the shared files.  Skipped, saying why,
 * only when radosgw is not installed; a server that is installed and does
 * not start fails the test.
 */
#include "check.h"
#include "servers.h"
#include "internal.h"
#include "remote/remote.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char server_dir[64];
static const char *endpoint, *key_id, *secret;
static const char *bucket = "flor-test";

static uint64_t rng = 0x2545f4914f6cdd1dull;
static void fill(unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        p[i] = (unsigned char)rng;
    }
}

static flor__s3 *open_client(const char *bkt, const char *sec)
{
    flor__s3_config cfg = {.endpoint = endpoint, .bucket = bkt, .access_key = key_id,
                           .secret_key = sec, .retries = 2, .backoff_s = 0.05};
    flor__s3 *c = NULL;
    if (flor__s3_open(&c, &cfg) != 0)
        printf("  open: %s\n", flor_errmsg());
    return c;
}

/* ---- round trips ----------------------------------------------------------- */

struct listed { int n; uint64_t bytes; int saw_odd; };
static int on_key(void *ctx, const char *key, uint64_t size, const char *etag)
{
    struct listed *l = ctx;
    l->n++, l->bytes += size;
    if (strcmp(key, "rt/odd name+&=%.bin") == 0 && etag[0])
        l->saw_odd = 1;
    return 0;
}

static void test_round_trip(void)
{
    flor__s3 *c = open_client(bucket, secret);
    CHECK(c != NULL);
    if (!c)
        return;
    size_t n = 1000003;
    unsigned char *data = malloc(n);
    fill(data, n);
    CHECK_EQ_INT(flor__s3_put(c, "rt/a.bin", data, n), 0);
    CHECK_EQ_INT(flor__s3_put(c, "rt/odd name+&=%.bin", data, 10), 0);
    CHECK_EQ_INT(flor__s3_put(c, "rt/empty", "", 0), 0);
    CHECK_EQ_INT(flor__s3_put(c, "other/b", data, 5), 0);

    flor__buf b = {0};
    CHECK_EQ_INT(flor__s3_get(c, "rt/a.bin", &b), 0);
    CHECK(b.len == n && memcmp(b.p, data, n) == 0);
    b.len = 0;
    CHECK_EQ_INT(flor__s3_get(c, "rt/odd name+&=%.bin", &b), 0);
    CHECK(b.len == 10 && memcmp(b.p, data, 10) == 0);
    b.len = 0;
    CHECK_EQ_INT(flor__s3_get(c, "rt/empty", &b), 0);
    CHECK_EQ_INT(b.len, 0);

    /* Ranged GETs append: a middle range, then one that runs past the end. */
    b.len = 0;
    CHECK_EQ_INT(flor__s3_get_range(c, "rt/a.bin", 4097, 65536, &b), 0);
    CHECK(b.len == 65536 && memcmp(b.p, data + 4097, 65536) == 0);
    CHECK_EQ_INT(flor__s3_get_range(c, "rt/a.bin", n - 3, 100, &b), 0);
    CHECK(b.len == 65539 && memcmp(b.p + 65536, data + n - 3, 3) == 0);
    CHECK_EQ_INT(flor__s3_get_range(c, "rt/a.bin", n + 10, 5, &b), FLOR_EINVAL);
    CHECK_EQ_INT(b.len, 65539);
    CHECK_EQ_STR(flor__s3_errcode(c), "InvalidRange");

    flor__s3_stat st;
    CHECK_EQ_INT(flor__s3_head(c, "rt/a.bin", &st), 0);
    CHECK_EQ_INT(st.size, n);
    CHECK(strlen(st.etag) == 32); /* a single PUT's ETag is its MD5, unquoted */

    struct listed l = {0};
    CHECK_EQ_INT(flor__s3_list(c, "rt/", on_key, &l), 0);
    CHECK_EQ_INT(l.n, 3);
    CHECK_EQ_INT(l.bytes, n + 10);
    CHECK(l.saw_odd);

    /* Pages of 2 keys: the listing follows the continuation token. */
    flor__s3_config cfg = {.endpoint = endpoint, .bucket = bucket, .access_key = key_id,
                           .secret_key = secret, .list_page = 2};
    flor__s3 *paged = NULL;
    CHECK_EQ_INT(flor__s3_open(&paged, &cfg), 0);
    l = (struct listed){0};
    if (paged)
        CHECK_EQ_INT(flor__s3_list(paged, "rt/", on_key, &l), 0);
    CHECK_EQ_INT(l.n, 3);
    CHECK(l.saw_odd);
    flor__s3_free(paged);

    CHECK_EQ_INT(flor__s3_delete(c, "rt/a.bin"), 0);
    CHECK_EQ_INT(flor__s3_delete(c, "rt/a.bin"), 0); /* absent: still fine */
    CHECK_EQ_INT(flor__s3_head(c, "rt/a.bin", &st), FLOR_ENOTFOUND);
    b.len = 0;
    CHECK_EQ_INT(flor__s3_get(c, "rt/a.bin", &b), FLOR_ENOTFOUND);
    CHECK_EQ_INT(b.len, 0);
    CHECK_EQ_STR(flor__s3_errcode(c), "NoSuchKey");
    CHECK(strstr(flor_errmsg(), "s3://flor-test/rt/a.bin") != NULL);
    CHECK(strstr(flor_errmsg(), "404 NoSuchKey") != NULL);
    l = (struct listed){0};
    CHECK_EQ_INT(flor__s3_list(c, "rt/", on_key, &l), 0);
    CHECK_EQ_INT(l.n, 2);

    flor__buf_release(&b);
    free(data);
    flor__s3_free(c);
}

/* ---- multipart ------------------------------------------------------------------ */

static void test_multipart_20mb(void)
{
    flor__s3 *c = open_client(bucket, secret);
    CHECK(c != NULL);
    if (!c)
        return;
    size_t n = (size_t)20 << 20;
    unsigned char *data = malloc(n);
    fill(data, n);
    double t0 = flor__mono();
    CHECK_EQ_INT(flor__s3_put_large(c, "mp/big.bin", data, n, (size_t)5 << 20), 0);
    double t1 = flor__mono();
    flor__buf b = {0};
    CHECK_EQ_INT(flor__s3_get(c, "mp/big.bin", &b), 0);
    double t2 = flor__mono();
    CHECK(b.len == n && memcmp(b.p, data, n) == 0);
    printf("  20 MB: multipart upload %.0f MB/s, get %.0f MB/s\n", 20 / (t1 - t0), 20 / (t2 - t1));
    flor__s3_stat st;
    CHECK_EQ_INT(flor__s3_head(c, "mp/big.bin", &st), 0);
    CHECK_EQ_INT(st.size, n);
    CHECK(strstr(st.etag, "-4") != NULL); /* a multipart ETag: MD5-of-MD5s "-PARTS" */

    /* A ranged GET across the boundary of parts 1 and 2. */
    b.len = 0;
    CHECK_EQ_INT(flor__s3_get_range(c, "mp/big.bin", ((size_t)5 << 20) - 100, 200, &b), 0);
    CHECK(b.len == 200 && memcmp(b.p, data + ((size_t)5 << 20) - 100, 200) == 0);

    /* An upload aborted after one part leaves no object. */
    char *id = NULL, etag[80];
    CHECK_EQ_INT(flor__s3_mpu_create(c, "mp/aborted", &id), 0);
    CHECK(id != NULL);
    CHECK_EQ_INT(flor__s3_mpu_part(c, "mp/aborted", id, 1, data, (size_t)5 << 20, etag, sizeof etag), 0);
    CHECK_EQ_INT(flor__s3_mpu_abort(c, "mp/aborted", id), 0);
    CHECK_EQ_INT(flor__s3_head(c, "mp/aborted", &st), FLOR_ENOTFOUND);
    /* ... and a part sent to it after is refused. */
    CHECK_EQ_INT(flor__s3_mpu_part(c, "mp/aborted", id, 2, data, 10, etag, sizeof etag), FLOR_ENOTFOUND);
    CHECK_EQ_STR(flor__s3_errcode(c), "NoSuchUpload");
    free(id);

    /* A completion with a wrong ETag fails and names the cause. */
    CHECK_EQ_INT(flor__s3_mpu_create(c, "mp/badetag", &id), 0);
    CHECK_EQ_INT(flor__s3_mpu_part(c, "mp/badetag", id, 1, data, 100, etag, sizeof etag), 0);
    const char *bad[] = {"00000000000000000000000000000000"};
    CHECK(flor__s3_mpu_complete(c, "mp/badetag", id, bad, 1) != 0);
    CHECK(strstr(flor_errmsg(), "mp/badetag") != NULL);
    CHECK_EQ_INT(flor__s3_mpu_abort(c, "mp/badetag", id), 0);
    free(id);

    flor__buf_release(&b);
    free(data);
    flor__s3_free(c);
}

/* ---- failures ---------------------------------------------------------------------- */

static void test_wrong_secret(void)
{
    const char *wrong = "not-the-secret-8c41b2e07f";
    flor__s3 *c = open_client(bucket, wrong);
    CHECK(c != NULL);
    if (!c)
        return;
    CHECK_EQ_INT(flor__s3_put(c, "x", "abc", 3), FLOR_EINVAL);
    CHECK_EQ_STR(flor__s3_errcode(c), "SignatureDoesNotMatch");
    const char *m = flor_errmsg();
    CHECK(strstr(m, "SignatureDoesNotMatch") != NULL);
    CHECK(strstr(m, "s3://flor-test/x") != NULL);
    CHECK(strstr(m, wrong) == NULL);
    CHECK(strstr(m, secret) == NULL);
    printf("  %s\n", m);
    flor__s3_free(c);

    /* An unknown key id. */
    flor__s3_config cfg = {.endpoint = endpoint, .bucket = bucket, .access_key = "NOSUCHKEYID",
                           .secret_key = wrong};
    CHECK_EQ_INT(flor__s3_open(&c, &cfg), 0);
    CHECK_EQ_INT(flor__s3_put(c, "x", "abc", 3), FLOR_EINVAL);
    CHECK_EQ_STR(flor__s3_errcode(c), "InvalidAccessKeyId");
    CHECK(strstr(flor_errmsg(), wrong) == NULL);
    flor__s3_free(c);
}

static void test_missing_bucket(void)
{
    flor__s3 *c = open_client("flor-no-such-bucket", secret);
    CHECK(c != NULL);
    if (!c)
        return;
    flor__buf b = {0};
    CHECK_EQ_INT(flor__s3_get(c, "k", &b), FLOR_ENOTFOUND);
    CHECK_EQ_STR(flor__s3_errcode(c), "NoSuchBucket");
    CHECK(strstr(flor_errmsg(), "s3://flor-no-such-bucket/k") != NULL);
    CHECK(strstr(flor_errmsg(), "NoSuchBucket") != NULL);
    CHECK_EQ_INT(flor__s3_put(c, "k", "abc", 3), FLOR_ENOTFOUND);
    struct listed l = {0};
    CHECK_EQ_INT(flor__s3_list(c, "", on_key, &l), FLOR_ENOTFOUND);
    flor__buf_release(&b);
    flor__s3_free(c);
}

/* A port on 127.0.0.1 that nothing listens on. */
static int closed_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &len) != 0)
        abort();
    close(s);
    return ntohs(a.sin_port);
}

static void test_unreachable(void)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", closed_port());
    flor__s3_config cfg = {.endpoint = url, .bucket = bucket, .access_key = key_id,
                           .secret_key = secret, .retries = 3, .backoff_s = 0.05};
    flor__s3 *c = NULL;
    CHECK_EQ_INT(flor__s3_open(&c, &cfg), 0);
    if (!c)
        return;
    double t0 = flor__mono();
    CHECK_EQ_INT(flor__s3_put(c, "k", "abc", 3), FLOR_EIO);
    double dt = flor__mono() - t0;
    const char *m = flor_errmsg();
    printf("  %s (%.2f s)\n", m, dt);
    CHECK(strstr(m, "s3://flor-test/k: failed 4 times") != NULL);
    CHECK(strstr(m, url) != NULL);
    CHECK(strstr(m, secret) == NULL);
    /* Backoff 0.05, 0.1, 0.2 s (jittered down to half): under 1 s, and not
     * instant either. */
    CHECK(dt < 1.0);
    CHECK(dt > 0.15);
    flor__s3_free(c);

    /* A malformed endpoint is refused when opening. */
    cfg.endpoint = "127.0.0.1:9000";
    CHECK_EQ_INT(flor__s3_open(&c, &cfg), FLOR_EINVAL);
    CHECK(strstr(flor_errmsg(), "'127.0.0.1:9000'") != NULL);
    cfg.endpoint = "http://host/path";
    CHECK_EQ_INT(flor__s3_open(&c, &cfg), FLOR_EINVAL);
}

/* ---- credentials -------------------------------------------------------------------- */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        abort();
}

static void test_profile_credentials(void)
{
    char home[64], path[160], text[512];
    check_scratch_dir(home, sizeof home, "s3home", 0);
    snprintf(path, sizeof path, "%s/.aws", home);
    CHECK(mkdir(path, 0700) == 0);
    snprintf(path, sizeof path, "%s/.aws/credentials", home);
    snprintf(text, sizeof text,
             "[default]\naws_access_key_id = DEFAULTKEY\naws_secret_access_key = nope\n\n"
             "# the test's\n[flortest]\naws_access_key_id = %s\naws_secret_access_key = %s\n",
             key_id, secret);
    write_file(path, text);
    snprintf(path, sizeof path, "%s/.aws/config", home);
    snprintf(text, sizeof text, "[default]\nregion = eu-west-3\n\n[profile flortest]\n"
             "region = us-east-1\nendpoint_url = %s\n", endpoint);
    write_file(path, text);
    char *old_home = flor__strdup(getenv("HOME"));
    setenv("HOME", home, 1);

    /* AWS_PROFILE names the profile; its region and endpoint_url apply. */
    setenv("AWS_PROFILE", "flortest", 1);
    flor__s3_config cfg = {.bucket = bucket};
    flor__s3 *c = NULL;
    CHECK_EQ_INT(flor__s3_open(&c, &cfg), 0);
    if (c) {
        CHECK_EQ_STR(flor__s3_cred_source(c), "profile flortest");
        CHECK_EQ_STR(flor__s3_region(c), "us-east-1");
        CHECK_EQ_STR(flor__s3_endpoint(c), endpoint);
        CHECK_EQ_INT(flor__s3_put(c, "prof/k", "hello", 5), 0);
        flor__buf b = {0};
        CHECK_EQ_INT(flor__s3_get(c, "prof/k", &b), 0);
        CHECK(b.len == 5 && memcmp(b.p, "hello", 5) == 0);
        flor__buf_release(&b);
        flor__s3_free(c);
    }

    /* The environment's keys beat AWS_PROFILE's ... */
    setenv("AWS_ACCESS_KEY_ID", "ENVKEY", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
    setenv("AWS_SESSION_TOKEN", "envtoken", 1);
    CHECK_EQ_INT(flor__s3_open(&c, &cfg), 0);
    if (c)
        CHECK_EQ_STR(flor__s3_cred_source(c), "environment");
    flor__s3_free(c);
    /* ... and a profile named in the configuration beats them. */
    cfg.profile = "flortest";
    CHECK_EQ_INT(flor__s3_open(&c, &cfg), 0);
    if (c)
        CHECK_EQ_STR(flor__s3_cred_source(c), "profile flortest");
    flor__s3_free(c);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");

    /* A missing profile is named. */
    cfg.profile = "nosuch";
    CHECK_EQ_INT(flor__s3_open(&c, &cfg), FLOR_EINVAL);
    CHECK(strstr(flor_errmsg(), "no profile 'nosuch'") != NULL);
    /* The default profile: its region, no endpoint_url (so AWS's). */
    cfg.profile = NULL;
    unsetenv("AWS_PROFILE");
    CHECK_EQ_INT(flor__s3_open(&c, &cfg), 0);
    if (c) {
        CHECK_EQ_STR(flor__s3_cred_source(c), "profile default");
        CHECK_EQ_STR(flor__s3_region(c), "eu-west-3");
        CHECK_EQ_STR(flor__s3_endpoint(c), "https://s3.eu-west-3.amazonaws.com");
    }
    flor__s3_free(c);
    /* No files, no environment: no credentials, and the message says where
     * they were looked for. */
    snprintf(path, sizeof path, "%s/.aws/credentials", home);
    remove(path);
    snprintf(path, sizeof path, "%s/.aws/config", home);
    remove(path);
    CHECK_EQ_INT(flor__s3_open(&c, &cfg), FLOR_EINVAL);
    CHECK(strstr(flor_errmsg(), "no credentials") != NULL);

    setenv("HOME", old_home, 1);
    free(old_home);
    snprintf(path, sizeof path, "rm -rf %s", home);
    CHECK(system(path) == 0);
}

/* ---- the server ---------------------------------------------------------------------- */

/* Starts tests/s3/server.sh unless FLOR_TEST_S3_ENDPOINT names a server;
 * 0, or -1 with the reason printed. */
static int start_server(void)
{
    if (getenv("FLOR_TEST_S3_ENDPOINT")) {
        endpoint = getenv("FLOR_TEST_S3_ENDPOINT");
        key_id = getenv("FLOR_TEST_S3_KEY");
        secret = getenv("FLOR_TEST_S3_SECRET");
        if (key_id && secret)
            return 0;
        printf("FAIL test_s3: FLOR_TEST_S3_ENDPOINT is set without FLOR_TEST_S3_KEY and _SECRET\n");
        return -2;
    }
    int rc = test_server_start("s3", "test_s3", "radosgw");
    if (rc != 0)
        return rc;
    snprintf(server_dir, sizeof server_dir, "%s", test_server_dir);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "%s/endpoint", server_dir);
    static char url[128];
    FILE *f = fopen(cmd, "r");
    if (!f || !fgets(url, sizeof url, f)) {
        printf("skip test_s3: no endpoint in %s\n", cmd);
        return -1;
    }
    fclose(f);
    url[strcspn(url, "\n")] = 0;
    endpoint = url;
    /* The keys server.sh gives its user (its `env` command prints them). */
    key_id = "FLORTESTACCESSKEY01";
    secret = "flor-test-secret-0123456789abcdefghijkl";
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *unset[] = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                           "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
                           "AWS_ENDPOINT_URL_S3", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"};
    for (size_t i = 0; i < sizeof unset / sizeof unset[0]; i++)
        unsetenv(unset[i]);
    int started = start_server();
    if (started == -1)
        return check_summary();
    if (started != 0) {
        check_failed++;
        return check_summary();
    }
    flor__s3 *c = open_client(bucket, secret);
    if (!c || flor__s3_bucket_create(c) != 0) {
        printf("FAIL setup: cannot create bucket %s at %s: %s\n", bucket, endpoint, flor_errmsg());
        flor__s3_free(c);
        return 1;
    }
    CHECK_EQ_INT(flor__s3_bucket_create(c), 0); /* again: already ours */
    flor__s3_free(c);
    RUN(test_round_trip);
    RUN(test_multipart_20mb);
    RUN(test_wrong_secret);
    RUN(test_missing_bucket);
    RUN(test_unreachable);
    RUN(test_profile_credentials);
    return check_summary();
}
