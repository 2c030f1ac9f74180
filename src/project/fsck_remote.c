/*
 * fsck_remote.c -- checking the remote against the catalogue
 * (flor_project_fsck_remote): every uploaded segment is there with its
 * size; with FLOR_FSCK_READ_REMOTE every record in it is read back and
 * checked (header, checksums, the chunk the catalogue says).  With
 * FLOR_FSCK_REPAIR a segment that is missing or damaged is dropped from
 * the catalogue, so that the next push uploads again the chunks that are
 * still local; the rows say which chunks nothing holds any more.
 */
#include "project/project.h"
#include "base/xxh.h"

#include <stdlib.h>
#include <string.h>

enum { C_KIND, C_FILE, C_RUN, C_OBJECT, C_ITER, C_DETAIL, C_REPAIRED, NCOLS };

struct rfsck {
    flor_project *p;
    flor__remote *r;
    unsigned flags;
    flor_table *t;
    flor_progress_fn progress;
    void *arg;
    uint64_t done, total;
    int64_t *bad;      /* segments to drop (repair) */
    size_t nbad, cap;
    flor__buf got;
    /* the segment being read */
    const char *key;
    uint64_t seg_bytes;
    char why[512];
};

static int add_row(struct rfsck *f, const char *file, int repaired, const char *detail)
{
    size_t r = flor__table_add_row(f->t);
    if (r == (size_t)-1 || flor__table_set_text(f->t, r, C_KIND, "remote") ||
        flor__table_set_text(f->t, r, C_FILE, file) ||
        flor__table_set_text(f->t, r, C_DETAIL, detail))
        return flor__err(FLOR_ENOMEM, "out of memory");
    flor__cell *c = flor__table_cell(f->t, r, C_REPAIRED);
    c->type = FLOR_INTEGER;
    c->v.i = repaired;
    return 0;
}

/* One record of the segment read back (flor__catalog_chunks_of's row). */
static int check_record(void *ctx, sqlite3_stmt *row)
{
    struct rfsck *f = ctx;
    if (f->why[0])
        return 0;
    const void *hash = sqlite3_column_blob(row, 0);
    uint64_t off = (uint64_t)sqlite3_column_int64(row, 1), len = (uint64_t)sqlite3_column_int64(row, 2);
    if (sqlite3_column_bytes(row, 0) != 16 || off + len > f->got.len || len < 64) {
        snprintf(f->why, sizeof f->why, "the record at byte %llu lies outside the object",
                 (unsigned long long)off);
        return 0;
    }
    const uint8_t *p = (const uint8_t *)f->got.p + off;
    uint64_t stored = len - 64;
    if (memcmp(p, "FLCK", 4) != 0 || memcmp(p + 16, hash, 16) != 0 ||
        XXH3_64bits(p, 56) != flor__get_le64(p + 56))
        snprintf(f->why, sizeof f->why, "the record at byte %llu is not the chunk the "
                 "catalogue names (header changed)", (unsigned long long)off);
    else if (XXH3_64bits(p + 64, (size_t)stored) != flor__get_le64(p + 48))
        snprintf(f->why, sizeof f->why, "the record at byte %llu fails its checksum",
                 (unsigned long long)off);
    return 0;
}

static int check_segment(void *ctx, sqlite3_stmt *row)
{
    struct rfsck *f = ctx;
    int64_t id = sqlite3_column_int64(row, 0);
    const char *url = (const char *)sqlite3_column_text(row, 1);
    const char *key = (const char *)sqlite3_column_text(row, 2);
    uint64_t bytes = (uint64_t)sqlite3_column_int64(row, 3);
    char file[2048];
    snprintf(file, sizeof file, "%s/%s", url, key + strlen(f->r->prefix));
    f->why[0] = 0;
    if (strcmp(url, f->r->url) != 0)
        return 0; /* uploaded to a remote the project had before */
    flor__s3_stat st;
    int rc = flor__s3_head(f->r->s3, key, &st);
    if (rc == FLOR_ENOTFOUND)
        snprintf(f->why, sizeof f->why, "missing on the server");
    else if (rc)
        return rc; /* the server cannot be asked: the check cannot be made */
    else if (st.size != bytes)
        snprintf(f->why, sizeof f->why, "%llu bytes on the server, %llu uploaded",
                 (unsigned long long)st.size, (unsigned long long)bytes);
    else if (f->flags & FLOR_FSCK_READ_REMOTE) {
        f->got.len = 0;
        if ((rc = flor__s3_get(f->r->s3, key, &f->got)) != 0)
            return rc;
        if (f->got.len != bytes)
            snprintf(f->why, sizeof f->why, "%zu bytes read back, %llu uploaded", f->got.len,
                     (unsigned long long)bytes);
        else if ((rc = flor__catalog_chunks_of(f->p->db, id, check_record, f)) != 0)
            return rc;
    }
    f->done += bytes;
    if (f->progress)
        f->progress(f->arg, f->done, f->total);
    if (!f->why[0])
        return 0;
    int repair = (f->flags & FLOR_FSCK_REPAIR) != 0;
    if (repair) {
        if (f->nbad == f->cap) {
            size_t cap = f->cap ? f->cap * 2 : 16;
            int64_t *v = realloc(f->bad, cap * sizeof *v);
            if (!v)
                return flor__err(FLOR_ENOMEM, "out of memory");
            f->bad = v;
            f->cap = cap;
        }
        f->bad[f->nbad++] = id;
        size_t n = strlen(f->why);
        snprintf(f->why + n, sizeof f->why - n, "; dropped from the catalogue: 'flor push' "
                 "uploads again what is still local");
    }
    return add_row(f, file, repair, f->why);
}

static int total_bytes(void *ctx, sqlite3_stmt *row)
{
    struct rfsck *f = ctx;
    if (strcmp((const char *)sqlite3_column_text(row, 1), f->r->url) == 0)
        f->total += (uint64_t)sqlite3_column_int64(row, 3);
    return 0;
}

int flor_project_fsck_remote(flor_project *p, unsigned flags, flor_progress_fn progress,
                             void *arg, flor_table **out)
{
    *out = NULL;
    flor__err_clear();
    if (flags & ~(unsigned)(FLOR_FSCK_REPAIR | FLOR_FSCK_READ_REMOTE))
        return flor__err(FLOR_EINVAL, "fsck: unknown flags 0x%x", flags);
    static const char *cols[NCOLS] = {"kind", "file", "run", "object", "iteration", "detail",
                                      "repaired"};
    struct rfsck f = {.p = p, .flags = flags, .progress = progress, .arg = arg};
    f.t = flor__table_new(NCOLS, cols);
    int rc = f.t ? 0 : flor__err(FLOR_ENOMEM, "out of memory");
    if (!rc)
        rc = flor__remote_open(p->db, &f.r);
    if (!rc)
        rc = flor__catalog_segments(p->db, total_bytes, &f);
    if (!rc)
        rc = flor__catalog_segments(p->db, check_segment, &f);
    if (!rc && f.nbad)
        rc = flor__catalog_drop_segments(p->db, f.bad, f.nbad);
    flor__remote_close(f.r);
    flor__buf_release(&f.got);
    free(f.bad);
    if (rc) {
        flor_table_free(f.t);
        return rc;
    }
    *out = f.t;
    return 0;
}
