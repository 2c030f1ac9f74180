/*
 * serve_cache.c -- the answers flor serve keeps while the project is
 * unchanged, and the page's first answers read ahead.
 *
 * An answer of /api/... depends only on the project's records and the
 * request's parameters, so it is kept under its key (the path and the
 * parameters the API reads) with flor_project_version() as it was before
 * the answer was read, and given again while the version is the same.
 * The cache holds at most `max` bytes (--cache-mb), dropping the least
 * recently used answers first and every answer of an older version.
 * An answer of 64 KB or more is kept compressed with zstd (level 1: 80 ms
 * for the 8 MB of a million values, which become ~5 MB) when that saves a
 * tenth, and sent so to a browser that takes Content-Encoding: zstd (any
 * recent one): fewer bytes for it to receive while it loads the page.
 *
 * A thread of the lowest priority reads the page's first answers (the
 * names, the runs, the dataframe, the curves the page draws first) when
 * the server starts, and again once the project has stayed unchanged for
 * a second after a change (a run ended, a replay wrote its values), so
 * that the page opened after training finds them ready.  While runs
 * record, the project changes every second and nothing is read ahead.
 */
#include "cli.h"
#include "serve.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

typedef struct entry {
    char *key;
    uint64_t version;
    const char *type;
    char *body;
    size_t len;      /* of body */
    size_t raw_len;  /* of the answer; > len when body is compressed */
    bool zstd;       /* body is the answer compressed with zstd */
    uint64_t used;   /* the cache's clock when last given */
    struct entry *next;
} entry;

struct serve_cache {
    size_t max, bytes;
    uint64_t clock;
    entry *entries;
    pthread_t warmer;
    bool warming;
    bool stop;
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
};

serve_cache *serve_cache_new(size_t max)
{
    serve_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->max = max;
    pthread_mutex_init(&c->stop_lock, NULL);
    pthread_cond_init(&c->stop_cond, NULL);
    return c;
}

static void drop(serve_cache *c, entry **at)
{
    entry *e = *at;
    *at = e->next;
    c->bytes -= e->len;
    free(e->key);
    free(e->body);
    free(e);
}

/* The answer E holds compressed, as it was read, into B (empty). */
static void inflate(const entry *e, cli_buf *b)
{
    char *raw = malloc(e->raw_len + 1);
    if (!raw || ZSTD_decompress(raw, e->raw_len, e->body, e->len) != e->raw_len) {
        free(raw);
        b->failed = true;
        return;
    }
    raw[e->raw_len] = '\0';
    cli_buf_release(b);
    *b = (cli_buf){raw, e->raw_len, e->raw_len + 1, false};
}

bool serve_cache_get(serve_cache *c, const char *key, uint64_t version, serve_reply *r)
{
    if (!c || !c->max)
        return false;
    for (entry **at = &c->entries; *at; at = &(*at)->next) {
        entry *e = *at;
        if (strcmp(e->key, key) != 0)
            continue;
        if (e->version != version) {
            drop(c, at);
            return false;
        }
        if (!e->zstd || r->accepts_zstd)
            cli_buf_write(&r->body, e->body, e->len);
        else /* a client that takes no zstd: the answer as it was */
            inflate(e, &r->body);
        if (r->body.failed) { /* out of memory: the caller reads it afresh */
            cli_buf_release(&r->body);
            return false;
        }
        r->status = 200;
        r->type = e->type;
        r->cache = "hit";
        r->encoding = e->zstd && r->accepts_zstd ? "zstd" : NULL;
        e->used = ++c->clock;
        return true;
    }
    return false;
}

/* Large answers are kept compressed when that saves a tenth. */
#define COMPRESS_FROM (64u << 10)

void serve_cache_put(serve_cache *c, const char *key, uint64_t version, const serve_reply *r)
{
    if (!c || !c->max || r->status != 200 || r->body.failed || r->body.n > c->max)
        return;
    char *body = NULL;
    size_t len = r->body.n;
    bool zstd = false;
    if (len >= COMPRESS_FROM && (body = malloc(ZSTD_compressBound(len))) != NULL) {
        size_t z = ZSTD_compress(body, ZSTD_compressBound(len), r->body.s, len, 1);
        if (!ZSTD_isError(z) && z < len - len / 10) {
            char *q = realloc(body, z);
            body = q ? q : body;
            len = z;
            zstd = true;
        } else {
            free(body);
            body = NULL;
        }
    }
    if (!body && (body = malloc(len ? len : 1)) != NULL)
        memcpy(body, r->body.s, len);
    /* answers of another version will never be given again */
    for (entry **at = &c->entries; *at;) {
        if ((*at)->version != version || strcmp((*at)->key, key) == 0)
            drop(c, at);
        else
            at = &(*at)->next;
    }
    while (c->entries && c->bytes + len > c->max) {
        entry **oldest = &c->entries;
        for (entry **at = &c->entries; *at; at = &(*at)->next)
            if ((*at)->used < (*oldest)->used)
                oldest = at;
        drop(c, oldest);
    }
    entry *e = calloc(1, sizeof *e);
    char *k = strdup(key);
    if (!e || !k || !body) { /* out of memory: the answer is simply not kept */
        free(e);
        free(k);
        free(body);
        return;
    }
    *e = (entry){k, version, r->type, body, len, r->body.n, zstd, ++c->clock, c->entries};
    c->entries = e;
    c->bytes += e->len;
}

/* ---- reading ahead --------------------------------------------------------- */

/* The requests of the page's first load (web/index.html preloads them),
 * each with the parameters it names (an absent name: the server picks). */
typedef struct first_req {
    const char *path;
    const char *params[2][2]; /* key, value */
} first_req;

static const first_req FIRST[] = {
    {"/api/changes", {{NULL}}},
    {"/api/names", {{NULL}}},
    {"/api/runs", {{NULL}}},
    {"/api/dataframe", {{NULL}}},
    {"/api/series", {{"first", "1"}, {"format", "f64"}}},
};

static const char *first_param(void *req, const char *key)
{
    const first_req *f = req;
    for (size_t i = 0; i < 2 && f->params[i][0]; i++)
        if (strcmp(key, f->params[i][0]) == 0)
            return f->params[i][1];
    return NULL;
}

static void read_first(serve_ctx *ctx)
{
    for (size_t i = 0; i < sizeof FIRST / sizeof *FIRST; i++) {
        serve_reply r = {0};
        serve_api(ctx, FIRST[i].path, first_param, (void *)&FIRST[i], &r);
        cli_buf_release(&r.body);
    }
}

/* Waits up to a second for the server to stop; true when it does. */
static bool stopping(serve_cache *c)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 1;
    pthread_mutex_lock(&c->stop_lock);
    while (!c->stop && pthread_cond_timedwait(&c->stop_cond, &c->stop_lock, &until) != ETIMEDOUT)
        ;
    bool stop = c->stop;
    pthread_mutex_unlock(&c->stop_lock);
    return stop;
}

static void *warm(void *arg)
{
    serve_ctx *ctx = arg;
    serve_cache *c = ctx->cache;
    /* the lowest priority: the page's own requests, and training on the
     * same machine, come first (Linux sets it per thread) */
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
    uint64_t read = 0, seen = 0;
    bool any = false;
    do {
        uint64_t v;
        if (!serve_api_version(ctx, &v))
            continue; /* no project yet, or unreadable: the page says why */
        if (!any || (v != read && v == seen)) {
            read_first(ctx);
            read = v;
            any = true;
        }
        seen = v;
    } while (!stopping(c));
    return NULL;
}

void serve_cache_start(serve_ctx *ctx)
{
    serve_cache *c = ctx->cache;
    if (c && c->max && pthread_create(&c->warmer, NULL, warm, ctx) == 0)
        c->warming = true;
}

void serve_cache_free(serve_cache *c)
{
    if (!c)
        return;
    if (c->warming) {
        pthread_mutex_lock(&c->stop_lock);
        c->stop = true;
        pthread_cond_signal(&c->stop_cond);
        pthread_mutex_unlock(&c->stop_lock);
        pthread_join(c->warmer, NULL);
    }
    while (c->entries)
        drop(c, &c->entries);
    pthread_mutex_destroy(&c->stop_lock);
    pthread_cond_destroy(&c->stop_cond);
    free(c);
}
