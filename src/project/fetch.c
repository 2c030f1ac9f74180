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

struct flor__fetch {
    flor__store *store;
    flor__catalog *cat;
    flor__remote *r;
    struct want *v;
    size_t n, cap;
    flor__buf got, batch;
    struct flor__fetch_stats st;
};

int flor__fetch_open(flor__store *store, flor__catalog *cat, flor__remote *r,
                     flor__fetch **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return flor__err(FLOR_ENOMEM, "out of memory");
    (*out)->store = store;
    (*out)->cat = cat;
    (*out)->r = r;
    return 0;
}

void flor__fetch_close(flor__fetch *f)
{
    if (!f)
        return;
    free(f->v);
    flor__buf_release(&f->got);
    flor__buf_release(&f->batch);
    free(f);
}

const struct flor__fetch_stats *flor__fetch_stats(const flor__fetch *f) { return &f->st; }
size_t flor__fetch_pending(const flor__fetch *f) { return f->n; }

int flor__fetch_want(void *ctx, const flor__hash *h)
{
    flor__fetch *f = ctx;
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 256;
        struct want *v = realloc(f->v, cap * sizeof *v);
        if (!v)
            return flor__err(FLOR_ENOMEM, "out of memory");
        f->v = v;
        f->cap = cap;
    }
    f->v[f->n++].hash = *h;
    return 0;
}

static int by_place(const void *a, const void *b)
{
    const struct want *x = a, *y = b;
    int c = strcmp(x->at.key, y->at.key);
    if (!c)
        c = x->at.off < y->at.off ? -1 : x->at.off > y->at.off;
    if (!c)
        c = memcmp(&x->hash, &y->hash, sizeof x->hash);
    return c;
}

/* Reads V[I..J) (one object, by offset, no chunk twice) with one ranged
 * GET, checks that each record there is the chunk the catalogue says, and
 * adds them to the store together (one sync). */
static int fetch_range(flor__fetch *f, size_t i, size_t j, flor_progress_fn progress, void *arg)
{
    const flor__remote *r = f->r;
    const char *name = f->v[i].at.key + strlen(r->prefix);
    uint64_t from = f->v[i].at.off, to = f->v[j - 1].at.off + f->v[j - 1].at.len;
    f->got.len = 0;
    int rc = flor__s3_get_range(r->s3, f->v[i].at.key, from, to - from, &f->got);
    if (rc)
        return rc;
    if (f->got.len != to - from)
        return flor__err(FLOR_ECORRUPT, "%s/%s: %zu bytes came back for bytes %llu-%llu",
                         r->url, name, f->got.len, (unsigned long long)from,
                         (unsigned long long)to - 1);
    f->batch.len = 0;
    char what[1200];
    for (size_t k = i; k < j && !rc; k++) {
        const struct want *w = &f->v[k];
        const uint8_t *rec = (const uint8_t *)f->got.p + (w->at.off - from);
        snprintf(what, sizeof what, "%s/%s", r->url, name);
        rc = flor__store_check_records(rec, (size_t)w->at.len, w->at.off, what);
        if (!rc && (w->at.len < 32 || memcmp(rec + 16, w->hash.b, sizeof w->hash.b) != 0)) {
            char hex[33];
            flor__hash_hex(&w->hash, hex);
            rc = flor__err(FLOR_ECORRUPT, "%s: at byte %llu: the record there is not chunk %s "
                                          "(the object was changed on the server)",
                           what, (unsigned long long)w->at.off, hex);
        }
        if (!rc)
            rc = flor__buf_add(&f->batch, rec, (size_t)w->at.len);
        f->st.bytes_fetched += w->at.len;
    }
    uint32_t added = 0;
    if (!rc)
        rc = flor__store_add_records(f->store, f->batch.p, f->batch.len, what, &added);
    f->st.chunks_fetched += added;
    if (progress)
        progress(arg, f->st.bytes_fetched, f->st.bytes_total);
    return rc;
}

int flor__fetch_run(flor__fetch *f, flor_progress_fn progress, void *arg)
{
    int rc = 0;
    /* where each chunk is; a chunk asked for twice goes once */
    for (size_t k = 0; k < f->n && !rc; k++) {
        rc = flor__catalog_find(f->cat, f->v[k].hash.b, sizeof f->v[k].hash.b, &f->v[k].at);
        if (rc == FLOR_ENOTFOUND) {
            char hex[33];
            flor__hash_hex(&f->v[k].hash, hex);
            rc = flor__err(FLOR_ENOTFOUND, "chunk %s is neither in the local store nor on %s; "
                                           "'flor fsck' names the checkpoints that need it",
                           hex, f->r->url);
        }
    }
    if (rc) {
        f->n = 0;
        return rc;
    }
    qsort(f->v, f->n, sizeof *f->v, by_place);
    size_t w = 0;
    for (size_t k = 0; k < f->n; k++)
        if (!w || memcmp(&f->v[w - 1].hash, &f->v[k].hash, sizeof f->v[k].hash))
            f->v[w++] = f->v[k];
    f->n = w;
    for (size_t k = 0; k < f->n; k++)
        f->st.bytes_total += f->v[k].at.len;
    for (size_t i = 0; i < f->n && !rc;) {
        size_t j = i + 1;
        while (j < f->n && strcmp(f->v[j].at.key, f->v[i].at.key) == 0 &&
               f->v[j].at.off >= f->v[j - 1].at.off + f->v[j - 1].at.len &&
               f->v[j].at.off - (f->v[j - 1].at.off + f->v[j - 1].at.len) <= GAP_MAX &&
               f->v[j].at.off + f->v[j].at.len - f->v[i].at.off <= RANGE_MAX)
            j++;
        rc = fetch_range(f, i, j, progress, arg);
        i = j;
    }
    f->n = 0;
    return rc;
}

/* ---- flor_project_pull ------------------------------------------------------ */

struct pull {
    flor_project *p;
    flor__fetch *f;
    const int64_t *runs;
    size_t nruns;
    int64_t last_ckpt, ckpts;
    uint64_t chunks_local;
};

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
    size_t before = flor__fetch_pending(pl->f);
    rc = flor__store_missing(pl->p->store, &o, flor__fetch_want, pl->f);
    size_t lacked = flor__fetch_pending(pl->f) - before;
    pl->chunks_local += o.nchunks - (lacked < o.nchunks ? lacked : o.nchunks);
    flor__obj_release(&o);
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
    flor__catalog *cat = NULL;
    rc = flor__remote_open(p->db, &r);
    if (!rc)
        rc = flor__catalog_open(p->db, r->url, &cat);
    if (!rc)
        rc = flor__fetch_open(p->store, cat, r, &pl.f);
    int64_t ckpts = 0;
    uint64_t local = 0;
    /* a round fetches what the checkpoints lack; a fetched delta may lack
     * its base: another round, until nothing is missing */
    for (int k = 0; !rc && k <= 64; k++) {
        pl.ckpts = 0;
        pl.last_ckpt = -1;
        pl.chunks_local = 0;
        rc = flor__checkpoints_scan_objects(p->db, scan_object, &pl);
        if (k == 0) { /* the first round saw every checkpoint as it was */
            ckpts = pl.ckpts;
            local = pl.chunks_local;
        }
        if (rc || !flor__fetch_pending(pl.f))
            break;
        rc = flor__fetch_run(pl.f, progress, arg);
    }
    if (!rc) /* what was fetched is durable here before pull says so */
        rc = flor__store_sync(p->store);
    struct flor__fetch_stats fs = {0};
    if (pl.f)
        fs = *flor__fetch_stats(pl.f);
    flor__fetch_close(pl.f);
    flor__catalog_close(cat);
    flor__remote_close(r);
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
    int64_t v[5] = {n ? (int64_t)n : -1, ckpts, (int64_t)fs.chunks_fetched,
                    (int64_t)fs.bytes_fetched, (int64_t)local};
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
