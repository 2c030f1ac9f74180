/*
 * serve.h -- what the files of `flor serve` share: cmd_serve.c (options,
 * the daemon's life), serve_http.c (each request: who may ask, which
 * method, static files), serve_api.c (the JSON of /api/...) and
 * serve_cache.c (the answers kept while the project is unchanged).
 */
#ifndef FLOR_CLI_SERVE_H
#define FLOR_CLI_SERVE_H

#include "buf.h"

#include <flor.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <microhttpd.h>

typedef struct serve_cache serve_cache;

typedef struct serve_ctx {
    const char *root;   /* the directory of the page's files (realpath) */
    const char *token;  /* NULL: no token; then only a local Host is answered */
    unsigned port;      /* the port bound */
    pthread_mutex_t lock; /* held around every use of `project` */
    flor_project *project; /* opened at the first request that finds the project */
    serve_cache *cache;    /* NULL: none (--cache-mb 0) */
} serve_ctx;

/* An answer of the API: a status and a body (JSON, or text for errors). */
typedef struct serve_reply {
    unsigned status;
    cli_buf body;
    const char *type; /* its Content-Type; NULL: application/json */
    const char *cache; /* "hit" or "miss" (the X-Flor-Cache header); NULL: no cache */
    const char *encoding; /* "zstd": the body is compressed (Content-Encoding); NULL: not */
    bool accepts_zstd;    /* given: the client takes Content-Encoding: zstd */
} serve_reply;

/* A query parameter of the request; NULL when absent. */
typedef const char *(*serve_param_fn)(void *req, const char *key);

/* Answers GET PATH (a path under /api/) into R, with the project locked. */
void serve_api(serve_ctx *ctx, const char *path, serve_param_fn param, void *req,
               serve_reply *r);

/* Sets *VERSION to the project's flor_project_version(), opening the
 * project if it is not open yet; false when there is none or it cannot
 * be read. */
bool serve_api_version(serve_ctx *ctx, uint64_t *version);

/* A cache of at most MAX bytes of answers (0: keeps none). */
serve_cache *serve_cache_new(size_t max);
/* Fills R with the answer kept under KEY for VERSION; false when none. */
bool serve_cache_get(serve_cache *c, const char *key, uint64_t version, serve_reply *r);
/* Keeps a copy of R (a 200 answer that fits) under KEY for VERSION. */
void serve_cache_put(serve_cache *c, const char *key, uint64_t version, const serve_reply *r);
/* Starts reading the page's first answers ahead (see serve_cache.c). */
void serve_cache_start(serve_ctx *ctx);
/* Stops the reading ahead and frees C. */
void serve_cache_free(serve_cache *c);

/* The libmicrohttpd access handler (serve_http.c); CLS is the serve_ctx. */
enum MHD_Result serve_request(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state);

/* The directory of the page's files: $FLOR_WEB_DIR, else web/ beside the
 * flor binary (the build tree), else ../share/flor/web from it (an
 * install).  NULL with a message on stderr when none has index.html. */
char *serve_find_root(const char *flag);

#endif
