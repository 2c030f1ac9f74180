/*
 * remotes.c -- the SQL of the remote tables (schema version 6): the
 * project's remote (remotes), the objects spooled there (remote_segments)
 * and where each chunk's record is (remote_chunks).  docs/remote.md.
 */
#include "db/db.h"

#include <stdlib.h>
#include <string.h>

/* ---- the project's remote ------------------------------------------------ */

int flor__remote_row_get(sqlite3 *db, flor__remote_row *r, int *found)
{
    memset(r, 0, sizeof *r);
    *found = 0;
    sqlite3_stmt *st;
    int rc = flor__db_prepare(db,
                              "SELECT url, endpoint, region, path_style, profile, cache "
                              "FROM remotes WHERE name = 'origin'",
                              &st, "cannot read the project's remote");
    if (rc)
        return rc;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        *found = 1;
        const char *cols[5];
        for (int i = 0; i < 3; i++)
            cols[i] = (const char *)sqlite3_column_text(st, i);
        cols[3] = (const char *)sqlite3_column_text(st, 4);
        r->url = cols[0] ? strdup(cols[0]) : NULL;
        r->endpoint = cols[1] ? strdup(cols[1]) : NULL;
        r->region = cols[2] ? strdup(cols[2]) : NULL;
        r->path_style = sqlite3_column_int(st, 3);
        r->profile = cols[3] ? strdup(cols[3]) : NULL;
        r->cache = sqlite3_column_type(st, 5) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 5);
        if ((cols[0] && !r->url) || (cols[1] && !r->endpoint) || (cols[2] && !r->region) ||
            (cols[3] && !r->profile))
            rc = flor__err(FLOR_ENOMEM, "out of memory");
    } else if (s != SQLITE_DONE) {
        rc = flor__err_sqlite(db, s, "cannot read the project's remote");
    }
    sqlite3_finalize(st);
    if (rc)
        flor__remote_row_release(r);
    return rc;
}

void flor__remote_row_release(flor__remote_row *r)
{
    free(r->url);
    free(r->endpoint);
    free(r->region);
    free(r->profile);
    memset(r, 0, sizeof *r);
}

static void bind_opt_text(sqlite3_stmt *st, int col, const char *s)
{
    if (s && *s)
        sqlite3_bind_text(st, col, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, col);
}

int flor__remote_row_set(sqlite3 *db, const flor__remote_row *r)
{
    sqlite3_stmt *st;
    int rc = flor__db_prepare(db,
                              "INSERT OR REPLACE INTO remotes(name, url, endpoint, region, "
                              "path_style, profile, cache) VALUES ('origin', ?1, ?2, ?3, ?4, "
                              "?5, ?6)",
                              &st, "cannot store the project's remote");
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, r->url, -1, SQLITE_TRANSIENT);
    bind_opt_text(st, 2, r->endpoint);
    bind_opt_text(st, 3, r->region);
    sqlite3_bind_int(st, 4, r->path_style);
    bind_opt_text(st, 5, r->profile);
    if (r->cache >= 0)
        sqlite3_bind_int64(st, 6, r->cache);
    int s = sqlite3_step(st);
    sqlite3_finalize(st);
    return s == SQLITE_DONE ? 0 : flor__err_sqlite(db, s, "cannot store the project's remote");
}

int flor__remote_row_remove(sqlite3 *db, int *removed)
{
    int rc = flor__db_exec(db, "DELETE FROM remotes WHERE name = 'origin'");
    *removed = rc ? 0 : sqlite3_changes(db) > 0;
    return rc;
}

/* ---- the catalogue: which chunk is where ------------------------------------ */

struct flor__catalog {
    sqlite3 *db;
    sqlite3_stmt *find, *has;
    char *url;
};

int flor__catalog_open(sqlite3 *db, const char *url, flor__catalog **out)
{
    *out = NULL;
    flor__catalog *c = calloc(1, sizeof *c);
    if (!c)
        return flor__err(FLOR_ENOMEM, "out of memory");
    c->db = db;
    if (!(c->url = strdup(url))) {
        free(c);
        return flor__err(FLOR_ENOMEM, "out of memory");
    }
    int rc = flor__db_prepare(db,
                              "SELECT s.url, s.key, c.off, c.len FROM remote_chunks c "
                              "JOIN remote_segments s USING (segment_id) "
                              "WHERE c.hash = ?1 AND s.url = ?2 LIMIT 1",
                              &c->find, "cannot read the remote catalogue");
    if (!rc)
        rc = flor__db_prepare(db,
                              "SELECT 1 FROM remote_chunks c JOIN remote_segments s "
                              "USING (segment_id) WHERE c.hash = ?1 AND s.url = ?2 LIMIT 1",
                              &c->has, "cannot read the remote catalogue");
    if (rc) {
        flor__catalog_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

void flor__catalog_close(flor__catalog *c)
{
    if (!c)
        return;
    sqlite3_finalize(c->find);
    sqlite3_finalize(c->has);
    free(c->url);
    free(c);
}

int flor__catalog_has(flor__catalog *c, const void *hash, size_t n)
{
    sqlite3_reset(c->has);
    sqlite3_bind_blob(c->has, 1, hash, (int)n, SQLITE_STATIC);
    sqlite3_bind_text(c->has, 2, c->url, -1, SQLITE_STATIC);
    int s = sqlite3_step(c->has);
    sqlite3_reset(c->has);
    if (s == SQLITE_ROW)
        return 1;
    if (s == SQLITE_DONE)
        return 0;
    return flor__err_sqlite(c->db, s, "cannot read the remote catalogue");
}

int flor__catalog_find(flor__catalog *c, const void *hash, size_t n, flor__chunk_place *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_reset(c->find);
    sqlite3_bind_blob(c->find, 1, hash, (int)n, SQLITE_STATIC);
    sqlite3_bind_text(c->find, 2, c->url, -1, SQLITE_STATIC);
    int s = sqlite3_step(c->find);
    int rc = 0;
    if (s == SQLITE_ROW) {
        const char *url = (const char *)sqlite3_column_text(c->find, 0);
        const char *key = (const char *)sqlite3_column_text(c->find, 1);
        snprintf(out->url, sizeof out->url, "%s", url ? url : "");
        snprintf(out->key, sizeof out->key, "%s", key ? key : "");
        out->off = (uint64_t)sqlite3_column_int64(c->find, 2);
        out->len = (uint64_t)sqlite3_column_int64(c->find, 3);
    } else if (s == SQLITE_DONE) {
        rc = FLOR_ENOTFOUND; /* the caller names the chunk */
    } else {
        rc = flor__err_sqlite(c->db, s, "cannot read the remote catalogue");
    }
    sqlite3_reset(c->find);
    return rc;
}

int flor__catalog_add_segment(sqlite3 *db, const char *url, const char *key, uint64_t bytes,
                              const flor__chunk_entry *chunks, size_t n, double now)
{
    int rc = flor__db_begin(db);
    if (rc)
        return flor__err_wrap(rc, "cannot record the upload of %s (key %s)", url, key);
    sqlite3_stmt *seg = NULL, *chk = NULL;
    rc = flor__db_prepare(db,
                          "INSERT INTO remote_segments(url, key, bytes, records, uploaded) "
                          "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(url, key) DO UPDATE SET "
                          "bytes = excluded.bytes, records = excluded.records, "
                          "uploaded = excluded.uploaded RETURNING segment_id",
                          &seg, "cannot record an upload");
    if (!rc)
        rc = flor__db_prepare(db,
                              "INSERT INTO remote_chunks(hash, segment_id, off, len) "
                              "VALUES (?1, ?2, ?3, ?4) ON CONFLICT(hash, segment_id) DO NOTHING",
                              &chk, "cannot record an upload");
    int64_t id = 0;
    if (!rc) {
        sqlite3_bind_text(seg, 1, url, -1, SQLITE_STATIC);
        sqlite3_bind_text(seg, 2, key, -1, SQLITE_STATIC);
        sqlite3_bind_int64(seg, 3, (int64_t)bytes);
        sqlite3_bind_int64(seg, 4, (int64_t)n);
        sqlite3_bind_double(seg, 5, now);
        int s = sqlite3_step(seg);
        if (s == SQLITE_ROW)
            id = sqlite3_column_int64(seg, 0);
        else
            rc = flor__err_sqlite(db, s, "cannot record an upload");
    }
    for (size_t i = 0; i < n && !rc; i++) {
        sqlite3_reset(chk);
        sqlite3_bind_blob(chk, 1, chunks[i].hash, (int)sizeof chunks[i].hash, SQLITE_STATIC);
        sqlite3_bind_int64(chk, 2, id);
        sqlite3_bind_int64(chk, 3, (int64_t)chunks[i].off);
        sqlite3_bind_int64(chk, 4, (int64_t)chunks[i].len);
        int s = sqlite3_step(chk);
        if (s != SQLITE_DONE)
            rc = flor__err_sqlite(db, s, "cannot record an upload");
    }
    sqlite3_finalize(seg);
    sqlite3_finalize(chk);
    if (!rc)
        rc = flor__db_commit(db);
    if (rc) {
        flor__db_rollback(db);
        flor__err_wrap(rc, "cannot record the upload of %s (key %s)", url, key);
    }
    return rc;
}

int flor__catalog_segments(sqlite3 *db, flor__row_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    int rc = flor__db_prepare(db,
                              "SELECT segment_id, url, key, bytes, records FROM remote_segments "
                              "ORDER BY segment_id",
                              &st, "cannot read the remote catalogue");
    return rc ? rc : flor__db_scan(db, st, fn, ctx, "cannot read the remote catalogue");
}

int flor__catalog_chunks_of(sqlite3 *db, int64_t segment, flor__row_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    int rc = flor__db_prepare(db,
                              "SELECT hash, off, len FROM remote_chunks WHERE segment_id = ?1 "
                              "ORDER BY off",
                              &st, "cannot read the remote catalogue");
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, segment);
    return flor__db_scan(db, st, fn, ctx, "cannot read the remote catalogue");
}

int flor__catalog_totals(sqlite3 *db, const char *url, int64_t *segments, int64_t *bytes,
                         int64_t *chunks)
{
    *segments = *bytes = *chunks = 0;
    sqlite3_stmt *st;
    int rc = flor__db_prepare(db,
                              "SELECT (SELECT count(*) FROM remote_segments WHERE url = ?1), "
                              "(SELECT ifnull(sum(bytes), 0) FROM remote_segments WHERE url = ?1), "
                              "(SELECT count(DISTINCT hash) FROM remote_chunks JOIN "
                              "remote_segments USING (segment_id) WHERE url = ?1)",
                              &st, "cannot read the remote catalogue");
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, url, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        *segments = sqlite3_column_int64(st, 0);
        *bytes = sqlite3_column_int64(st, 1);
        *chunks = sqlite3_column_int64(st, 2);
    } else {
        rc = flor__err_sqlite(db, s, "cannot read the remote catalogue");
    }
    sqlite3_finalize(st);
    return rc;
}

int flor__catalog_drop_segments(sqlite3 *db, const int64_t *ids, size_t n)
{
    int rc = flor__db_begin(db);
    sqlite3_stmt *a = NULL, *b = NULL;
    if (!rc)
        rc = flor__db_prepare(db, "DELETE FROM remote_chunks WHERE segment_id = ?1", &a,
                              "cannot drop a segment from the catalogue");
    if (!rc)
        rc = flor__db_prepare(db, "DELETE FROM remote_segments WHERE segment_id = ?1", &b,
                              "cannot drop a segment from the catalogue");
    for (size_t i = 0; i < n && !rc; i++) {
        sqlite3_stmt *st[2] = {a, b};
        for (int k = 0; k < 2 && !rc; k++) {
            sqlite3_reset(st[k]);
            sqlite3_bind_int64(st[k], 1, ids[i]);
            int s = sqlite3_step(st[k]);
            if (s != SQLITE_DONE)
                rc = flor__err_sqlite(db, s, "cannot drop a segment from the catalogue");
        }
    }
    sqlite3_finalize(a);
    sqlite3_finalize(b);
    if (!rc)
        rc = flor__db_commit(db);
    if (rc)
        flor__db_rollback(db);
    return rc;
}
