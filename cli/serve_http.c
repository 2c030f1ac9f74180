/*
 * serve_http.c -- one request of flor serve: who may ask (a local Host
 * header, or the access token), which methods (GET and HEAD: the server
 * changes nothing), and what it gets: /api/... from serve_api.c, anything
 * else a file of the page's directory, never a path that could leave it.
 */
#include "cli.h"
#include "serve.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOKEN_COOKIE "flor_token"

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *type,
                                 char *text, size_t len, const char *cookie,
                                 const char *cache, const char *encoding)
{
    struct MHD_Response *res =
        MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!res) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(res, "Content-Type", type);
    MHD_add_response_header(res, "Cache-Control", "no-store");
    MHD_add_response_header(res, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(res, "Content-Security-Policy",
                            "default-src 'self'; style-src 'self' 'unsafe-inline'");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(res, "Allow", "GET, HEAD");
    if (cookie)
        MHD_add_response_header(res, "Set-Cookie", cookie);
    if (cache)
        MHD_add_response_header(res, "X-Flor-Cache", cache);
    if (encoding)
        MHD_add_response_header(res, "Content-Encoding", encoding);
    if (cache) /* a kept answer may be compressed for one client and not another */
        MHD_add_response_header(res, "Vary", "Accept-Encoding");
    enum MHD_Result rc = MHD_queue_response(c, status, res);
    MHD_destroy_response(res);
    return rc;
}

static enum MHD_Result refuse(struct MHD_Connection *c, unsigned status, const char *why)
{
    char *text = cli_printf("%s\n", why);
    return text ? send_text(c, status, "text/plain; charset=utf-8", text, strlen(text), NULL, NULL, NULL)
                : MHD_NO;
}

/* Compares without stopping at the first difference, so that the time an
 * answer takes says nothing about the token. */
static bool same_secret(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    unsigned char d = na != nb;
    for (size_t i = 0; i < na; i++)
        d |= (unsigned char)(a[i] ^ b[i % (nb ? nb : 1)]);
    return d == 0 && nb;
}

/* The value of cookie NAME in the Cookie header, or NULL. */
static const char *cookie(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_COOKIE_KIND, name);
}

/* Whether HOST (the Host header) names this machine's loopback: a page of
 * another site that a DNS record points at 127.0.0.1 sends its own name,
 * and is refused. */
static bool local_host(const char *host, unsigned port)
{
    static const char *const names[] = {"127.0.0.1", "localhost", "[::1]"};
    if (!host)
        return false;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        size_t n = strlen(names[i]);
        if (strncmp(host, names[i], n) != 0)
            continue;
        if (host[n] == '\0')
            return true;
        char *end;
        if (host[n] == ':' && strtoul(host + n + 1, &end, 10) == port && !*end)
            return true;
    }
    return false;
}

static const char *content_type(const char *path)
{
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},   {".svg", "image/svg+xml"},
        {".png", "image/png"},                 {".json", "application/json"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof *types; i++)
        if (strcmp(dot, types[i][0]) == 0)
            return types[i][1];
    return "application/octet-stream";
}

/* Whether URL may name a file of the page: letters, digits, '-', '_', '.'
 * and '/', no empty segment and no segment that starts with a dot (so no
 * "..", no hidden file). */
static bool safe_path(const char *url)
{
    if (url[0] != '/' || strlen(url) > 200)
        return false;
    for (const char *s = url; *s; s++) {
        bool ok = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                  (*s >= '0' && *s <= '9') || strchr("-_./", *s);
        if (!ok || (s[0] == '/' && (s[1] == '/' || s[1] == '.')))
            return false;
    }
    return true;
}

static enum MHD_Result send_file(serve_ctx *ctx, struct MHD_Connection *c, const char *url,
                                 const char *set_cookie)
{
    if (!safe_path(url))
        return refuse(c, MHD_HTTP_FORBIDDEN, "forbidden: not a file of the page");
    if (strcmp(url, "/") == 0)
        url = "/index.html";
    char *path = cli_printf("%s%s", ctx->root, url);
    char *real = path ? realpath(path, NULL) : NULL;
    free(path);
    size_t nroot = strlen(ctx->root);
    struct stat st;
    int fd = -1;
    /* the file must still be inside the root once links are followed */
    if (real && strncmp(real, ctx->root, nroot) == 0 && real[nroot] == '/')
        fd = open(real, O_RDONLY | O_CLOEXEC);
    free(real);
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        return refuse(c, MHD_HTTP_NOT_FOUND, "not found");
    }
    struct MHD_Response *res = MHD_create_response_from_fd((size_t)st.st_size, fd);
    if (!res) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(res, "Content-Type", content_type(url));
    MHD_add_response_header(res, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(res, "Content-Security-Policy",
                            "default-src 'self'; style-src 'self' 'unsafe-inline'");
    if (set_cookie)
        MHD_add_response_header(res, "Set-Cookie", set_cookie);
    enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_OK, res);
    MHD_destroy_response(res);
    return rc;
}

/* Whether the Accept-Encoding header lists zstd, and not with q=0. */
static bool accepts_zstd(struct MHD_Connection *c)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept-Encoding");
    while (h && *h) {
        h += strspn(h, " \t,");
        size_t item = strcspn(h, ","), name = strcspn(h, " \t;,");
        if (name == 4 && strncasecmp(h, "zstd", 4) == 0) {
            const char *q = h + name;
            q += strspn(q, " \t");
            if (*q != ';')
                return true;
            q++;
            q += strspn(q, " \t");
            return !(q[0] == 'q' && q[1] == '=' && strtod(q + 2, NULL) == 0);
        }
        h += item;
    }
    return false;
}

static const char *get_param(void *req, const char *key)
{
    return MHD_lookup_connection_value(req, MHD_GET_ARGUMENT_KIND, key);
}

enum MHD_Result serve_request(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    serve_ctx *ctx = cls;
    (void)version, (void)upload, (void)state;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        *upload_size = 0;
        return refuse(c, MHD_HTTP_METHOD_NOT_ALLOWED,
                      "method not allowed: flor serve is read-only (GET and HEAD only)");
    }
    const char *set_cookie = NULL;
    char *cookie_text = NULL;
    if (ctx->token) {
        const char *given = get_param(c, "token");
        const char *kept = cookie(c, TOKEN_COOKIE);
        if (given && same_secret(given, ctx->token)) {
            cookie_text = cli_printf(TOKEN_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict",
                                     ctx->token);
            set_cookie = cookie_text;
        } else if (!kept || !same_secret(kept, ctx->token)) {
            return refuse(c, MHD_HTTP_UNAUTHORIZED,
                          "unauthorized: open the address flor serve printed, with its "
                          "?token=");
        }
    } else if (!local_host(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host"),
                           ctx->port)) {
        return refuse(c, MHD_HTTP_FORBIDDEN,
                      "forbidden: the Host header is not this machine's loopback address");
    }
    enum MHD_Result rc;
    if (strncmp(url, "/api/", 5) == 0) {
        serve_reply r = {.accepts_zstd = accepts_zstd(c)};
        serve_api(ctx, url, get_param, c, &r);
        size_t len;
        char *body = cli_buf_take(&r.body, &len);
        rc = body ? send_text(c, r.status, r.type ? r.type : "application/json", body, len,
                              set_cookie, r.cache, r.encoding)
                  : refuse(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    } else {
        rc = send_file(ctx, c, url, set_cookie);
    }
    free(cookie_text);
    return rc;
}
