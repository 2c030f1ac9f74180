/*
 * remotes.c -- the project's remote: its settings (the remotes row, under
 * the FLOR_REMOTE and FLOR_S3_* variables), opening an S3 client for it,
 * and the store's hook that fetches a chunk an evicted or foreign pack held
 * (docs/remote.md).  flor_project_remote_* are its public calls.
 */
#include "project/project.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- settings ----------------------------------------------------------- */

int flor__remote_url_parse(const char *url, char **bucket, char **prefix)
{
    *bucket = *prefix = NULL;
    if (!url || strncmp(url, "s3://", 5) != 0 || !url[5] || url[5] == '/')
        return flor__err(FLOR_EINVAL, "remote '%s': expected s3://BUCKET or s3://BUCKET/PREFIX",
                         url ? url : "");
    const char *b = url + 5, *slash = strchr(b, '/');
    size_t bn = slash ? (size_t)(slash - b) : strlen(b);
    for (size_t i = 0; i < bn; i++) {
        char c = b[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
            return flor__err(FLOR_EINVAL,
                             "remote '%s': a bucket name has lowercase letters, digits, '-' and "
                             "'.' only", url);
    }
    if (bn < 3 || bn > 63)
        return flor__err(FLOR_EINVAL, "remote '%s': a bucket name has 3 to 63 characters", url);
    /* the prefix without slashes at its ends, then one slash after it */
    const char *p = slash ? slash : "";
    while (*p == '/')
        p++;
    size_t pn = strlen(p);
    while (pn && p[pn - 1] == '/')
        pn--;
    *bucket = strndup(b, bn);
    *prefix = pn ? flor__printf("%.*s/", (int)pn, p) : strdup("");
    if (!*bucket || !*prefix) {
        free(*bucket);
        free(*prefix);
        *bucket = *prefix = NULL;
        return flor__err(FLOR_ENOMEM, "out of memory");
    }
    return 0;
}

int flor_parse_size(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    double mult = 1;
    switch (*end) {
    case 'k': case 'K': mult = 1024.0; end++; break;
    case 'm': case 'M': mult = 1024.0 * 1024; end++; break;
    case 'g': case 'G': mult = 1024.0 * 1024 * 1024; end++; break;
    case 't': case 'T': mult = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: break;
    }
    if (*end == 'i' || *end == 'B' || *end == 'b')
        end += *end == 'i' ? 1 : 0;
    if (*end == 'B' || *end == 'b')
        end++;
    if (end == s || *end || errno || v < 0 || v * mult > 9e18)
        return flor__err(FLOR_EINVAL, "size '%s': expected a number of bytes, optionally with "
                                      "K, M, G or T (e.g. 50G)", s);
    *out = (int64_t)(v * mult);
    return 0;
}

/* The row, then the environment over it.  *FOUND 0: no remote (none
 * stored, or FLOR_REMOTE set to the empty string). */
int flor__remote_settings(sqlite3 *db, flor__remote_row *r, int *found)
{
    int rc = flor__remote_row_get(db, r, found);
    if (rc)
        return rc;
    const char *env = getenv("FLOR_REMOTE");
    if (env) {
        flor__remote_row_release(r);
        r->cache = -1;
        *found = *env != 0;
        if (*found && !(r->url = strdup(env)))
            return flor__err(FLOR_ENOMEM, "out of memory");
    }
    if (!*found)
        return 0;
    const char *ep = getenv("FLOR_S3_ENDPOINT"), *rg = getenv("FLOR_S3_REGION"),
               *ps = getenv("FLOR_S3_PATH_STYLE"), *cache = getenv("FLOR_REMOTE_CACHE");
    if (ep && *ep) {
        free(r->endpoint);
        r->endpoint = strdup(ep);
    }
    if (rg && *rg) {
        free(r->region);
        r->region = strdup(rg);
    }
    if (ps && *ps)
        r->path_style = strcmp(ps, "0") == 0 ? FLOR__S3_VHOST : FLOR__S3_PATH;
    if (cache && *cache && (rc = flor_parse_size(cache, &r->cache)) != 0)
        return flor__err_wrap(rc, "FLOR_REMOTE_CACHE");
    char *b, *p;
    if ((rc = flor__remote_url_parse(r->url, &b, &p)) != 0)
        return rc;
    free(b);
    free(p);
    return 0;
}

/* ---- an open remote ------------------------------------------------------ */

int flor__remote_open(sqlite3 *db, flor__remote **out)
{
    *out = NULL;
    flor__remote *r = calloc(1, sizeof *r);
    if (!r)
        return flor__err(FLOR_ENOMEM, "out of memory");
    int found = 0;
    int rc = flor__remote_settings(db, &r->row, &found);
    if (!rc && !found)
        rc = flor__err(FLOR_ENOTFOUND, "this project has no remote (see 'flor remote add')");
    if (!rc) {
        r->cache = r->row.cache;
        r->url = r->row.url;
        rc = flor__remote_url_parse(r->url, &r->bucket, &r->prefix);
    }
    if (!rc)
        rc = flor__remote_client(r, &r->s3);
    if (rc) {
        flor__remote_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

int flor__remote_client(const flor__remote *r, flor__s3 **out)
{
    flor__s3_config cfg = {.endpoint = r->row.endpoint, .bucket = r->bucket,
                           .region = r->row.region, .path_style = r->row.path_style,
                           .profile = r->row.profile};
    int rc = flor__s3_open(out, &cfg);
    return rc ? flor__err_wrap(rc, "remote %s", r->url) : 0;
}

void flor__remote_close(flor__remote *r)
{
    if (!r)
        return;
    flor__s3_free(r->s3);
    flor__remote_row_release(&r->row); /* r->url is the row's */
    free(r->bucket);
    free(r->prefix);
    free(r);
}

char *flor__remote_key(const flor__remote *r, const char *name)
{
    return flor__printf("%s%s", r->prefix, name);
}

/* ---- the store's hook: chunks from the remote ------------------------------ */

/* The hook's state: its own connection to the catalogue and, from the first
 * fetch on, a client (the store calls one hook at a time). */
struct flor__fetcher {
    char *datadir;
    flor__store *store;
    sqlite3 *db;
    flor__catalog *cat;
    flor__remote *remote;
    flor__fetch *batch;     /* prefetch's, from its first use */
    int broken; /* the remote could not be opened: said once */
    char why[512];
};

/* The catalogue of the project's remote; FLOR_ENOTFOUND when it has none
 * (or a database without the remote tables). */
static int fetcher_catalog(struct flor__fetcher *f)
{
    if (f->cat)
        return 0;
    int rc = f->db ? 0 : flor__db_open(f->datadir, 0, 1, &f->db);
    flor__remote_row row;
    int found = 0;
    if (!rc)
        rc = flor__remote_settings(f->db, &row, &found);
    if (!rc && !found)
        rc = FLOR_ENOTFOUND;
    if (!rc)
        rc = flor__catalog_open(f->db, row.url, &f->cat);
    if (found)
        flor__remote_row_release(&row);
    return rc;
}

static int hook_has(void *ctx, const flor__hash *h)
{
    struct flor__fetcher *f = ctx;
    int rc = fetcher_catalog(f);
    return rc ? 0 : flor__catalog_has(f->cat, h->b, sizeof h->b);
}

static int hook_fetch(void *ctx, const flor__hash *h, flor__buf *rec)
{
    struct flor__fetcher *f = ctx;
    char hex[33];
    flor__hash_hex(h, hex);
    int rc = fetcher_catalog(f);
    if (rc) /* no remote, or a database without the remote tables */
        return flor__err(FLOR_ENOTFOUND, "chunk %s not found in the local store", hex);
    flor__chunk_place where;
    rc = flor__catalog_find(f->cat, h->b, sizeof h->b, &where);
    if (rc == FLOR_ENOTFOUND)
        return flor__err(FLOR_ENOTFOUND, "chunk %s is neither in the local store nor in the "
                                         "remote catalogue", hex);
    if (rc)
        return rc;
    if (f->broken)
        return flor__err(FLOR_EIO, "chunk %s is on the remote, which cannot be used: %s", hex,
                         f->why);
    if (!f->remote && (rc = flor__remote_open(f->db, &f->remote)) != 0) {
        f->broken = 1;
        snprintf(f->why, sizeof f->why, "%s", flor_errmsg());
        return flor__err(rc, "chunk %s is on the remote, which cannot be used: %s", hex, f->why);
    }
    if (strcmp(where.url, f->remote->url) != 0)
        return flor__err(FLOR_ENOTFOUND, "chunk %s is on %s, not on the project's remote %s",
                         hex, where.url, f->remote->url);
    size_t before = rec->len;
    rc = flor__s3_get_range(f->remote->s3, where.key, where.off, where.len, rec);
    if (rc)
        return flor__err_wrap(rc, "chunk %s", hex);
    /* the store checks it again; this names the object and the byte */
    char what[1200];
    snprintf(what, sizeof what, "chunk %s in %s/%s", hex, f->remote->url,
             where.key + strlen(f->remote->prefix));
    return flor__store_check_records(rec->p + before, rec->len - before, where.off, what);
}

static int count_missing(void *ctx, const flor__hash *h)
{
    (void)h;
    ++*(size_t *)ctx;
    return 0;
}

/* Makes F ready to fetch: the catalogue, the remote, the batch.  0, or 1
 * when there is nothing to fetch from (no remote, or one that cannot be
 * used: FETCH then says why, chunk by chunk), or an error. */
static int fetcher_ready(struct flor__fetcher *f)
{
    if (f->broken || fetcher_catalog(f) != 0)
        return 1;
    int rc = 0;
    if (!f->remote && (rc = flor__remote_open(f->db, &f->remote)) != 0) {
        f->broken = 1;
        snprintf(f->why, sizeof f->why, "%s", flor_errmsg());
        return flor__err(rc, "checkpoint chunks are on the remote, which cannot be used: %s",
                         f->why);
    }
    if (!f->batch)
        rc = flor__fetch_open(f->store, f->cat, f->remote, &f->batch);
    return rc;
}

/* The objects a prefetch is for: every object of a checkpoint. */
struct objs {
    struct flor__fetcher *f;
    sqlite3 *db;
    int64_t ckpt;
    int (*fn)(void *, const flor__hash *);
    void *arg;
};

static int missing_of_row(void *ctx, const flor__ckpt_object *row)
{
    struct objs *x = ctx;
    struct flor__obj o;
    if (flor__obj_decode(row->manifest, row->manifest_len, &o) != 0) {
        flor__err_clear();
        return 0; /* the restore reports it */
    }
    int rc = flor__store_missing(x->f->store, &o, x->fn, x->arg);
    flor__obj_release(&o);
    return rc;
}

static int each_missing(struct objs *x, int (*fn)(void *, const flor__hash *), void *arg)
{
    x->fn = fn;
    x->arg = arg;
    return flor__checkpoint_objects_each(x->db, x->ckpt, missing_of_row, x);
}

/* What the objects lack, fetched in a few ranged GETs before the store
 * reads them (in rounds: a fetched delta may lack its base). */
static int prefetch(struct objs *x)
{
    struct flor__fetcher *f = x->f;
    size_t missing = 0;
    int rc = each_missing(x, count_missing, &missing);
    if (rc || !missing) /* nothing missing: the usual case */
        return rc;
    if ((rc = fetcher_ready(f)) != 0)
        return rc < 0 ? rc : 0;
    for (int round = 0; !rc && round < 8; round++) {
        rc = each_missing(x, flor__fetch_want, f->batch);
        if (rc || !flor__fetch_pending(f->batch))
            break;
        rc = flor__fetch_run(f->batch, NULL, NULL);
    }
    return rc;
}

int flor__project_prefetch(flor_project *p, int64_t ckpt_id)
{
    if (!p->fetcher)
        return 0;
    struct objs x = {.f = p->fetcher, .db = p->db, .ckpt = ckpt_id};
    return prefetch(&x);
}

void flor__fetcher_free(flor__fetcher *f)
{
    if (!f)
        return;
    flor__fetch_close(f->batch);
    flor__catalog_close(f->cat);
    sqlite3_close(f->db);
    flor__remote_close(f->remote);
    free(f->datadir);
    free(f);
}

int flor__fetcher_attach(flor__store *s, const char *datadir, flor__fetcher **out)
{
    *out = NULL;
    flor__fetcher *f = calloc(1, sizeof *f);
    if (!f || !(f->datadir = strdup(datadir))) {
        free(f);
        return flor__err(FLOR_ENOMEM, "out of memory");
    }
    f->store = s;
    struct flor__store_remote hook = {hook_has, hook_fetch, f};
    flor__store_set_remote(s, &hook);
    *out = f;
    return 0;
}

/* ---- flor_project_remote_* ------------------------------------------------- */

int flor_project_remote_set(flor_project *p, const flor_remote_settings *s)
{
    flor__err_clear();
    if (!s || !s->url)
        return flor__err(FLOR_EINVAL, "flor_project_remote_set: no url");
    char *b, *pre;
    int rc = flor__remote_url_parse(s->url, &b, &pre);
    if (rc)
        return rc;
    free(b);
    free(pre);
    if (s->endpoint && *s->endpoint && strncmp(s->endpoint, "http://", 7) != 0 &&
        strncmp(s->endpoint, "https://", 8) != 0)
        return flor__err(FLOR_EINVAL, "endpoint '%s': expected http://HOST[:PORT] or "
                                      "https://HOST[:PORT]", s->endpoint);
    if (s->path_style < 0 || s->path_style > 2)
        return flor__err(FLOR_EINVAL, "path_style %d: expected 0 (auto), 1 (path) or 2 "
                                      "(virtual-hosted)", s->path_style);
    flor__remote_row row = {.url = (char *)s->url, .endpoint = (char *)s->endpoint,
                            .region = (char *)s->region, .profile = (char *)s->profile,
                            .path_style = s->path_style, .cache = s->cache_bytes};
    return flor__remote_row_set(p->db, &row);
}

int flor_project_remote_create_bucket(flor_project *p)
{
    flor__err_clear();
    flor__remote *r = NULL;
    int rc = flor__remote_open(p->db, &r);
    if (!rc && (rc = flor__s3_bucket_create(r->s3)) != 0)
        flor__err_wrap(rc, "cannot create the bucket of %s", r->url);
    flor__remote_close(r);
    return rc;
}

int flor_project_remote_remove(flor_project *p)
{
    flor__err_clear();
    int removed = 0;
    int rc = flor__remote_row_remove(p->db, &removed);
    if (!rc && !removed)
        return flor__err(FLOR_ENOTFOUND, "this project has no remote");
    return rc;
}

int flor_project_remote(flor_project *p, flor_table **out)
{
    *out = NULL;
    flor__err_clear();
    static const char *const cols[] = {"url",     "endpoint", "region", "path_style",
                                       "profile", "cache",    "source", "credentials"};
    flor__remote_row row;
    int found = 0;
    int rc = flor__remote_settings(p->db, &row, &found);
    if (rc)
        return rc;
    flor_table *t = flor__table_new(8, cols);
    if (!t) {
        flor__remote_row_release(&row);
        return flor__err(FLOR_ENOMEM, "out of memory");
    }
    if (found) {
        size_t r = flor__table_add_row(t);
        static const char *const styles[] = {"auto", "path", "virtual-hosted"};
        const char *env = getenv("FLOR_REMOTE");
        flor__remote *open = NULL;
        const char *creds = "none found";
        char credbuf[300];
        if (flor__remote_open(p->db, &open) == 0) {
            snprintf(credbuf, sizeof credbuf, "%s", flor__s3_cred_source(open->s3));
            creds = credbuf;
        }
        flor__err_clear();
        rc = r == (size_t)-1 || flor__table_set_text(t, r, 0, row.url) ||
             flor__table_set_text(t, r, 1, open ? flor__s3_endpoint(open->s3) : row.endpoint) ||
             flor__table_set_text(t, r, 2, open ? flor__s3_region(open->s3) : row.region) ||
             flor__table_set_text(t, r, 3, styles[row.path_style % 3]) ||
             flor__table_set_text(t, r, 4, row.profile) ||
             flor__table_set_text(t, r, 6, env ? "FLOR_REMOTE" : "project") ||
             flor__table_set_text(t, r, 7, creds);
        if (!rc && row.cache >= 0) {
            flor__cell *c = flor__table_cell(t, r, 5);
            c->type = FLOR_INTEGER;
            c->v.i = row.cache;
        }
        flor__remote_close(open);
        if (rc)
            rc = flor__err(FLOR_ENOMEM, "out of memory");
    }
    flor__remote_row_release(&row);
    if (rc) {
        flor_table_free(t);
        return rc;
    }
    *out = t;
    return 0;
}
