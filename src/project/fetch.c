/*
 * fetch.c -- bringing checkpoints back from the remote (flor_project_pull):
 * the chunks that the runs' checkpoints need and the local store lacks
 * (with the bases of their delta chains), found in the catalogue, read with
 * ranged GETs -- records next to each other in one object in one request --
 * and added to the store once their checksums hold.
 */
#include "project/project.h"

#include <stdlib.h>
#include <string.h>

#define GAP_MAX ((uint64_t)1 << 20)    /* bytes between two records read in one GET */
#define RANGE_MAX ((uint64_t)64 << 20) /* the most one GET reads */

struct want {
    flor__hash hash;
    flor__chunk_place at;
};

struct pull {
    flor_project *p;
    flor__catalog *cat;
    const int64_t *runs;
    size_t nruns;
    struct want *v;
    size_t n, cap;
    int64_t last_ckpt, ckpts;
    uint64_t chunks_local, chunks_fetched, bytes_fetched, bytes_total;
    flor__buf got;
};

static int want_add(void *ctx, const flor__hash *h)
{
    struct pull *pl = ctx;
    if (pl->n == pl->cap) {
        size_t cap = pl->cap ? pl->cap * 2 : 256;
        struct want *v = realloc(pl->v, cap * sizeof *v);
        if (!v)
            return flor__err(FLOR_ENOMEM, "out of memory");
        pl->v = v;
        pl->cap = cap;
    }
    pl->v[pl->n++].hash = *h;
    return 0;
}

/* One object of a checkpoint (flor__checkpoints_scan_objects' row): what
 * of it the store lacks. */
static int scan_object(void *ctx, sqlite3_stmt *row)
{
    struct pull *pl = ctx;
    int64_t run = sqlite3_column_int64(row, 1);
    int wanted = pl->nruns == 0;
    for (size_t i = 0; i < pl->nruns && !wanted; i++)
        wanted = pl->runs[i] == run;
    if (!wanted)
        return 0;
    int64_t ckpt = sqlite3_column_int64(row, 0);
    if (ckpt != pl->last_ckpt) {
        pl->last_ckpt = ckpt;
        pl->ckpts++;
    }
    struct flor__obj o;
    int rc = flor__obj_decode(sqlite3_column_blob(row, 4), (size_t)sqlite3_column_bytes(row, 4),
                              &o);
    if (rc)
        return flor__err_wrap(rc, "checkpoint %lld of run %lld, object '%s'", (long long)ckpt,
                              (long long)run, (const char *)sqlite3_column_text(row, 3));
    size_t before = pl->n;
    rc = flor__store_missing(pl->p->store, &o, want_add, pl);
    pl->chunks_local += o.nchunks - (pl->n - before < o.nchunks ? pl->n - before : o.nchunks);
    flor__obj_release(&o);
    return rc;
}

static int by_place(const void *a, const void *b)
{
    const struct want *x = a, *y = b;
    int c = strcmp(x->at.url, y->at.url);
    if (!c)
        c = strcmp(x->at.key, y->at.key);
    if (!c)
        c = x->at.off < y->at.off ? -1 : x->at.off > y->at.off;
    if (!c)
        c = memcmp(&x->hash, &y->hash, sizeof x->hash);
    return c;
}

/* Reads WANT[I..J) (one object, by offset) with one ranged GET and adds
 * the records it asked for. */
static int fetch_range(struct pull *pl, flor__remote *r, size_t i, size_t j,
                       flor_progress_fn progress, void *arg)
{
    uint64_t from = pl->v[i].at.off, to = pl->v[j - 1].at.off + pl->v[j - 1].at.len;
    pl->got.len = 0;
    int rc = flor__s3_get_range(r->s3, pl->v[i].at.key, from, to - from, &pl->got);
    if (rc)
        return rc;
    if (pl->got.len != to - from)
        return flor__err(FLOR_ECORRUPT, "%s/%s: %zu bytes came back for bytes %llu-%llu",
                         r->url, pl->v[i].at.key + strlen(r->prefix), pl->got.len,
                         (unsigned long long)from, (unsigned long long)to - 1);
    char what[1200];
    for (size_t k = i; k < j && !rc; k++) {
        const struct want *w = &pl->v[k];
        snprintf(what, sizeof what, "%s/%s at byte %llu", r->url,
                 w->at.key + strlen(r->prefix), (unsigned long long)w->at.off);
        const uint8_t *rec = (const uint8_t *)pl->got.p + (w->at.off - from);
        /* the record must be the chunk the catalogue says it is */
        if (w->at.len < 32 || memcmp(rec + 16, w->hash.b, sizeof w->hash.b) != 0) {
            char hex[33];
            flor__hash_hex(&w->hash, hex);
            rc = flor__err(FLOR_ECORRUPT, "%s: the record there is not chunk %s (the object "
                                          "was changed on the server)", what, hex);
            break;
        }
        uint32_t added = 0;
        rc = flor__store_add_records(pl->p->store, rec, (size_t)w->at.len, what, &added);
        pl->chunks_fetched += added;
        pl->bytes_fetched += w->at.len;
    }
    if (progress)
        progress(arg, pl->bytes_fetched, pl->bytes_total);
    return rc;
}

/* One round: what the checkpoints lack, fetched.  *MORE: something was
 * fetched (a delta's base may now be missing: another round). */
static int round_once(struct pull *pl, flor__remote **r, flor_progress_fn progress, void *arg,
                      int *more)
{
    *more = 0;
    pl->n = 0;
    pl->ckpts = 0;
    pl->last_ckpt = -1;
    pl->chunks_local = 0;
    int rc = flor__checkpoints_scan_objects(pl->p->db, scan_object, pl);
    if (rc || !pl->n)
        return rc;
    for (size_t k = 0; k < pl->n && !rc; k++) {
        rc = flor__catalog_find(pl->cat, pl->v[k].hash.b, sizeof pl->v[k].hash.b, &pl->v[k].at);
        if (rc == FLOR_ENOTFOUND) {
            char hex[33];
            flor__hash_hex(&pl->v[k].hash, hex);
            return flor__err(FLOR_ENOTFOUND, "chunk %s is neither in the local store nor on "
                                             "%s; 'flor fsck' names the checkpoints that need it",
                             hex, (*r)->url);
        }
    }
    if (rc)
        return rc;
    qsort(pl->v, pl->n, sizeof *pl->v, by_place);
    for (size_t k = 0; k < pl->n; k++) {
        if (strcmp(pl->v[k].at.url, (*r)->url) != 0)
            return flor__err(FLOR_ENOTFOUND, "a chunk is on %s, not on the project's remote %s",
                             pl->v[k].at.url, (*r)->url);
        pl->bytes_total += pl->v[k].at.len;
    }
    size_t i = 0;
    while (i < pl->n && !rc) {
        size_t j = i + 1;
        while (j < pl->n && strcmp(pl->v[j].at.key, pl->v[i].at.key) == 0 &&
               pl->v[j].at.off >= pl->v[j - 1].at.off + pl->v[j - 1].at.len &&
               pl->v[j].at.off - (pl->v[j - 1].at.off + pl->v[j - 1].at.len) <= GAP_MAX &&
               pl->v[j].at.off + pl->v[j].at.len - pl->v[i].at.off <= RANGE_MAX)
            j++;
        rc = fetch_range(pl, *r, i, j, progress, arg);
        i = j;
        while (i < pl->n && i > 0 && memcmp(&pl->v[i].hash, &pl->v[i - 1].hash,
                                            sizeof pl->v[i].hash) == 0)
            i++; /* the same chunk asked for twice */
    }
    *more = !rc;
    return rc;
}

int flor_project_pull(flor_project *p, const int64_t *runs, size_t n, flor_progress_fn progress,
                      void *arg, flor_table **out)
{
    *out = NULL;
    flor__err_clear();
    for (size_t i = 0; i < n; i++) {
        int found = 0;
        char *vid = NULL;
        int rc = flor__runs_find_vid(p->db, runs[i], &found, &vid);
        free(vid);
        if (rc)
            return rc;
        if (!found)
            return flor__err(FLOR_ENOTFOUND, "no run %lld", (long long)runs[i]);
    }
    int rc = flor__project_store(p);
    if (rc)
        return rc;
    struct pull pl = {.p = p, .runs = runs, .nruns = n};
    flor__remote *r = NULL;
    rc = flor__remote_open(p->db, &r);
    if (!rc)
        rc = flor__catalog_open(p->db, r->url, &pl.cat);
    int64_t ckpts = 0;
    uint64_t local = 0;
    for (int k = 0, more = 1; !rc && more && k < 70; k++) {
        rc = round_once(&pl, &r, progress, arg, &more);
        if (k == 0) { /* the first round saw every checkpoint */
            ckpts = pl.ckpts;
            local = pl.chunks_local;
        }
    }
    flor__remote_close(r);
    flor__catalog_close(pl.cat);
    free(pl.v);
    flor__buf_release(&pl.got);
    if (rc)
        return rc;
    static const char *const cols[] = {"runs", "checkpoints", "chunks_fetched", "bytes_fetched",
                                       "chunks_local"};
    flor_table *t = flor__table_new(5, cols);
    size_t row = t ? flor__table_add_row(t) : (size_t)-1;
    if (row == (size_t)-1) {
        flor_table_free(t);
        return flor__err(FLOR_ENOMEM, "out of memory");
    }
    int64_t v[5] = {n ? (int64_t)n : -1, ckpts, (int64_t)pl.chunks_fetched,
                    (int64_t)pl.bytes_fetched, (int64_t)local};
    for (int c = 0; c < 5; c++) {
        if (v[c] < 0)
            continue;
        flor__cell *cell = flor__table_cell(t, row, (size_t)c);
        cell->type = FLOR_INTEGER;
        cell->v.i = v[c];
    }
    *out = t;
    return 0;
}
