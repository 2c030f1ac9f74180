/*
 * sync.c -- the replicator: a checkout's runs, args, loops and logs, from
 * its SQLite journal to the team's PostgreSQL, exactly once (team/team.h).
 * Runs and args go as multi-row INSERTs of text parameters, logs and loops
 * by COPY; the server converts the text to the columns' types.
 */
#include "team/team.h"
#include "db/db.h"
#include "base/xxh.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RUN_COLS 20 /* checkout + the 18 columns of flor__export_runs + resumes */
#define ARG_COLS 8  /* checkout, run_id, name, value_int, value_real, value_text, from_kwargs, ord */
#define LOOP_COLS 10 /* checkout, run_id, ctx_id, parent_ctx_id, name, iteration, 3 values, upto */
#define LOG_COLS 9  /* checkout, log_id, run_id, ctx_id, name, value_int, value_real, value_text, source */
#define RUNS_PER_INSERT 200
#define LOGS_PER_TX 20000

/* Rows waiting to be sent: N rows of NCOLS text values (NULL: SQL NULL). */
typedef struct batch {
    int ncols, n, max;
    char **vals;
} batch;

static int batch_init(batch *b, int ncols, int max)
{
    b->ncols = ncols, b->n = 0, b->max = max;
    b->vals = calloc((size_t)ncols * (size_t)max, sizeof *b->vals);
    return b->vals ? 0 : flor__err(FLOR_ENOMEM, "postgresql: out of memory copying rows");
}

static void batch_clear(batch *b)
{
    for (int i = 0; i < b->n * b->ncols; i++)
        free(b->vals[i]), b->vals[i] = NULL;
    b->n = 0;
}

static void batch_free(batch *b)
{
    if (b->vals)
        batch_clear(b);
    free(b->vals);
    b->vals = NULL;
}

/* Sends B's rows as "INSERT INTO HEAD VALUES (...), ... TAIL"; adds the
 * rows the server inserted or changed to *COUNT. */
static int batch_send(flor__pg *pg, batch *b, const char *head, const char *tail, int64_t *count)
{
    if (b->n == 0)
        return 0;
    flor__buf sql = {0};
    int rc = flor__buf_printf(&sql, "INSERT INTO %s VALUES ", head);
    for (int r = 0; r < b->n && rc == 0; r++) {
        rc = flor__buf_puts(&sql, r ? ", (" : "(");
        for (int c = 0; c < b->ncols && rc == 0; c++)
            rc = flor__buf_printf(&sql, c ? ", $%d" : "$%d", r * b->ncols + c + 1);
        if (rc == 0)
            rc = flor__buf_puts(&sql, ")");
    }
    if (rc == 0)
        rc = flor__buf_printf(&sql, " %s", tail);
    if (rc != 0) {
        flor__buf_release(&sql);
        return flor__err(FLOR_ENOMEM, "postgresql: out of memory copying rows");
    }
    int64_t rows = 0;
    rc = flor__pg_execp(pg, sql.p, b->n * b->ncols, (const char *const *)b->vals, &rows);
    flor__buf_release(&sql);
    if (rc == 0 && count)
        *count += rows;
    batch_clear(b);
    return rc;
}

/* Column C of ROW as the server reads it (a REAL exactly, NaN and the
 * infinities by their names): a pointer into ROW or BUF (N bytes), or into
 * *HEAP (malloc'd, for a blob; *OOM_ set when out of memory); NULL for SQL
 * NULL. */
static const char *cell(sqlite3_stmt *row, int c, char *buf, size_t n, char **heap, int *oom_)
{
    switch (sqlite3_column_type(row, c)) {
    case SQLITE_NULL:
        return NULL;
    case SQLITE_INTEGER:
        snprintf(buf, n, "%lld", (long long)sqlite3_column_int64(row, c));
        return buf;
    case SQLITE_FLOAT: {
        double v = sqlite3_column_double(row, c);
        if (isnan(v) || isinf(v))
            snprintf(buf, n, "%s", isnan(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity");
        else
            snprintf(buf, n, "%.17g", v);
        return buf;
    }
    case SQLITE_BLOB: {
        size_t len = (size_t)sqlite3_column_bytes(row, c), size = flor__blob_literal_size(len);
        *heap = size ? malloc(size) : NULL;
        if (*heap)
            flor__blob_literal(*heap, sqlite3_column_blob(row, c), len);
        else
            *oom_ = 1;
        return *heap;
    }
    default:
        return (const char *)sqlite3_column_text(row, c);
    }
}

/* Column C of ROW as text, into *OUT (malloc'd; NULL for SQL NULL). */
static int column_text(sqlite3_stmt *row, int c, char **out)
{
    char buf[32], *heap = NULL;
    int bad = 0;
    const char *t = cell(row, c, buf, sizeof buf, &heap, &bad);
    *out = heap ? heap : t ? flor__strdup(t) : NULL;
    return bad || (t && !*out) ? flor__err(FLOR_ENOMEM, "postgresql: out of memory copying rows")
                               : 0;
}

/* Column C of ROW into the one of OUT[0..2] (value_int, value_real,
 * value_text) of its type; SQLite's NaN text is a NaN. */
static int value_text3(sqlite3_stmt *row, int c, char **out)
{
    int t = sqlite3_column_type(row, c);
    const char *s = t == SQLITE_TEXT ? (const char *)sqlite3_column_text(row, c) : NULL;
    if (s && strcmp(s, FLOR__NAN_TEXT) == 0)
        return (out[1] = flor__strdup("NaN")) ? 0 : FLOR_ENOMEM;
    return column_text(row, c, &out[t == SQLITE_INTEGER ? 0 : t == SQLITE_FLOAT ? 1 : 2]);
}

static int oom(void)
{
    return flor__err(FLOR_ENOMEM, "postgresql: out of memory copying rows");
}

/* ---- what a replicator sent already ----------------------------------------- */

/* Per run, a digest of its row and args as last committed to the server,
 * by run_id: a run whose digest did not change is not sent again. */
struct flor__team_seen {
    int64_t *run;
    uint64_t *digest;
    size_t n, cap;
};

flor__team_seen *flor__team_seen_new(void)
{
    return calloc(1, sizeof(flor__team_seen));
}

void flor__team_seen_free(flor__team_seen *s)
{
    if (s)
        free(s->run), free(s->digest), free(s);
}

/* The first of the N sorted ids V that is not below RUN (N if none). */
static size_t lower_bound(const int64_t *v, size_t n, int64_t run)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < run)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static size_t seen_find(const flor__team_seen *s, int64_t run)
{
    return lower_bound(s->run, s->n, run);
}

static int seen_is(const flor__team_seen *s, int64_t run, uint64_t digest)
{
    size_t i = s ? seen_find(s, run) : 0;
    return s && i < s->n && s->run[i] == run && s->digest[i] == digest;
}

static int seen_set(flor__team_seen *s, int64_t run, uint64_t digest)
{
    if (!s)
        return 0;
    size_t i = seen_find(s, run);
    if (i < s->n && s->run[i] == run) {
        s->digest[i] = digest;
        return 0;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        int64_t *r = realloc(s->run, cap * sizeof *r);
        if (r)
            s->run = r;
        uint64_t *d = r ? realloc(s->digest, cap * sizeof *d) : NULL;
        if (!d)
            return oom();
        s->digest = d, s->cap = cap;
    }
    memmove(s->run + i + 1, s->run + i, (s->n - i) * sizeof *s->run);
    memmove(s->digest + i + 1, s->digest + i, (s->n - i) * sizeof *s->digest);
    s->run[i] = run, s->digest[i] = digest, s->n++;
    return 0;
}

/* The runs of one copy that the server gets (changed ones), with their
 * digests and resumes, in run order. */
typedef struct changed {
    int64_t *run, *resumes;
    uint64_t *digest;
    size_t n, cap;
} changed;

static int changed_add(changed *c, int64_t run, int64_t resumes, uint64_t digest)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        int64_t *r = realloc(c->run, cap * sizeof *r);
        if (r)
            c->run = r;
        int64_t *m = r ? realloc(c->resumes, cap * sizeof *m) : NULL;
        if (m)
            c->resumes = m;
        uint64_t *d = m ? realloc(c->digest, cap * sizeof *d) : NULL;
        if (!d)
            return oom();
        c->digest = d, c->cap = cap;
    }
    c->run[c->n] = run, c->resumes[c->n] = resumes, c->digest[c->n] = digest, c->n++;
    return 0;
}

static int changed_has(const changed *c, int64_t run)
{
    size_t i = lower_bound(c->run, c->n, run);
    return i < c->n && c->run[i] == run;
}

static void changed_free(changed *c)
{
    free(c->run), free(c->resumes), free(c->digest);
}

/* ---- runs ------------------------------------------------------------------ */

#define RUN_NAMES                                                                           \
    "checkout, run_id, projid, tstamp, filename, vid, argv, host, pid, proc_start, status," \
    " start_time, end_time, ckpt_overhead, reason, rank, world_size, job, launcher, resumes"

struct runs_ctx {
    flor__pg *pg;
    const char *checkout;
    const flor__team_seen *seen;
    batch b;
    changed runs; /* those sent */
    int64_t changed;
};

static const char runs_upsert[] =
    "ON CONFLICT (checkout, run_id) DO UPDATE SET projid = excluded.projid,"
    " tstamp = excluded.tstamp, filename = excluded.filename, vid = excluded.vid,"
    " argv = excluded.argv, host = excluded.host, pid = excluded.pid,"
    " proc_start = excluded.proc_start, status = excluded.status,"
    " start_time = excluded.start_time, end_time = excluded.end_time,"
    " ckpt_overhead = excluded.ckpt_overhead, reason = excluded.reason, rank = excluded.rank,"
    " world_size = excluded.world_size, job = excluded.job, launcher = excluded.launcher"
    " WHERE (flor_runs.projid, flor_runs.tstamp, flor_runs.filename, flor_runs.vid,"
    " flor_runs.argv, flor_runs.host, flor_runs.pid, flor_runs.proc_start, flor_runs.status,"
    " flor_runs.start_time, flor_runs.end_time, flor_runs.ckpt_overhead, flor_runs.reason,"
    " flor_runs.rank, flor_runs.world_size, flor_runs.job, flor_runs.launcher)"
    " IS DISTINCT FROM (excluded.projid, excluded.tstamp, excluded.filename, excluded.vid,"
    " excluded.argv, excluded.host, excluded.pid, excluded.proc_start, excluded.status,"
    " excluded.start_time, excluded.end_time, excluded.ckpt_overhead, excluded.reason,"
    " excluded.rank, excluded.world_size, excluded.job, excluded.launcher)";

/* A digest of the run's row and args (the columns of flor__export_runs). */
static uint64_t run_digest(sqlite3_stmt *row)
{
    XXH3_state_t *h = XXH3_createState();
    uint64_t d = 0;
    if (!h || XXH3_64bits_reset(h) != XXH_OK)
        goto out;
    for (int c = 0; c < 20; c++) {
        int t = sqlite3_column_type(row, c);
        const void *p = t == SQLITE_BLOB ? sqlite3_column_blob(row, c) : sqlite3_column_text(row, c);
        int n = sqlite3_column_bytes(row, c);
        unsigned char tag[2] = {(unsigned char)t, 0x1f};
        XXH3_64bits_update(h, tag, sizeof tag);
        if (p && n > 0)
            XXH3_64bits_update(h, p, (size_t)n);
    }
    d = XXH3_64bits_digest(h);
out:
    XXH3_freeState(h);
    return d;
}

static int on_run(void *vctx, sqlite3_stmt *row)
{
    struct runs_ctx *x = vctx;
    int64_t run = sqlite3_column_int64(row, 0);
    uint64_t digest = run_digest(row);
    if (seen_is(x->seen, run, digest))
        return 0;
    int rc = changed_add(&x->runs, run, sqlite3_column_int64(row, 18), digest);
    if (rc != 0)
        return rc;
    char **v = x->b.vals + (size_t)x->b.n * RUN_COLS;
    x->b.n++;
    if (!(v[0] = flor__strdup(x->checkout)))
        return oom();
    for (int c = 0; c < RUN_COLS - 1; c++) {
        rc = column_text(row, c, &v[c + 1]);
        if (rc != 0)
            return rc;
    }
    if (x->b.n == x->b.max)
        return batch_send(x->pg, &x->b, "flor_runs (" RUN_NAMES ")", runs_upsert, &x->changed);
    return 0;
}

/* ---- logs ------------------------------------------------------------------ */

/* The logs go by COPY into a temporary table, then into flor_logs by
 * INSERT ... SELECT, which can say what to do with a row already there. */
#define LOG_NAMES "checkout, log_id, run_id, ctx_id, name, value_int, value_real, value_text, source"

struct logs_ctx {
    flor__pg *pg;
    const char *checkout;
    int64_t upto;                   /* the last log whose run was copied */
    int64_t high, seen, inserted;   /* inserted: by committed transactions */
    int64_t mark;                   /* the high-water mark the loops copied go with */
};


/* A log, into the COPY under way: its value in the column of its type
 * (SQLite's NaN text is a NaN). */
static int on_log(void *vctx, sqlite3_stmt *row)
{
    struct logs_ctx *x = vctx;
    char b[5][32];
    char *heap = NULL;
    int bad = 0;
    const char *v[LOG_COLS] = {x->checkout};
    x->seen++;
    x->high = sqlite3_column_int64(row, 0);
    for (int c = 0; c < 4; c++) /* log_id, run_id, ctx_id, name */
        v[c + 1] = cell(row, c, b[c], sizeof b[c], &heap, &bad);
    int t = sqlite3_column_type(row, 4);
    const char *val = cell(row, 4, b[4], sizeof b[4], &heap, &bad);
    if (t == SQLITE_TEXT && strcmp(val, FLOR__NAN_TEXT) == 0)
        v[6] = "NaN";
    else if (t != SQLITE_NULL)
        v[t == SQLITE_INTEGER ? 5 : t == SQLITE_FLOAT ? 6 : 7] = val;
    v[8] = (const char *)sqlite3_column_text(row, 5); /* source */
    int rc = bad ? oom() : flor__pg_copy_row(x->pg, LOG_COLS, v);
    free(heap);
    return rc;
}

/* A loop iteration, into the COPY of flor_loops_in; X->upto_text is its upto. */
static int on_loop(void *vctx, sqlite3_stmt *row)
{
    struct logs_ctx *x = vctx;
    char *v[LOOP_COLS] = {0};
    int rc = (v[0] = flor__strdup(x->checkout)) ? 0 : FLOR_ENOMEM;
    for (int c = 0; c < 5 && rc == 0; c++) /* run_id, ctx_id, parent_ctx_id, name, iteration */
        rc = column_text(row, c, &v[c + 1]);
    if (rc == 0)
        rc = value_text3(row, 5, &v[6]);
    if (rc == 0)
        rc = (v[9] = flor__printf("%lld", (long long)x->mark)) ? 0 : FLOR_ENOMEM;
    if (rc == FLOR_ENOMEM)
        rc = oom();
    if (rc == 0)
        rc = flor__pg_copy_row(x->pg, LOOP_COLS, (const char *const *)v);
    for (int c = 0; c < LOOP_COLS; c++)
        free(v[c]);
    return rc;
}

static const char logs_stage[] =
    "CREATE TEMP TABLE IF NOT EXISTS flor_logs_in (LIKE flor_logs) ON COMMIT DELETE ROWS";
/* A value recomputed by a later replay replaces the earlier replay's. */
static const char logs_replayed[] =
    "INSERT INTO flor_logs (" LOG_NAMES ") SELECT " LOG_NAMES " FROM flor_logs_in"
    " WHERE source = 'replay'"
    " ON CONFLICT (checkout, run_id, coalesce(ctx_id, 0), name) WHERE source = 'replay'"
    " DO UPDATE SET log_id = excluded.log_id, value_int = excluded.value_int,"
    " value_real = excluded.value_real, value_text = excluded.value_text";

#define LOOP_NAMES \
    "checkout, run_id, ctx_id, parent_ctx_id, name, iteration, value_int, value_real, value_text, upto"
static const char loops_stage[] =
    "CREATE TEMP TABLE IF NOT EXISTS flor_loops_in (LIKE flor_loops) ON COMMIT DELETE ROWS";
static const char loops_insert[] =
    "INSERT INTO flor_loops (" LOOP_NAMES ") SELECT " LOOP_NAMES " FROM flor_loops_in"
    " ON CONFLICT (checkout, run_id, ctx_id) DO NOTHING";

/* In the open transaction: the logs of RUN (0: every run) in (X->high,
 * X->upto], at most LIMIT, then the loop iterations they are in, whose
 * upto is MARK (-1: the last log copied).  X->seen, X->high: the logs
 * read and the last one. */
static int copy_logs_and_loops(sqlite3 *db, struct logs_ctx *x, int64_t run, int limit,
                               int64_t mark, int64_t *inserted)
{
    int64_t after = x->high, end, n, replayed, rows = 0;
    x->seen = 0;
    int rc = flor__export_logs_batch(db, after, x->upto, run, limit, &end, &n, &replayed);
    if (rc != 0 || n == 0)
        return rc;
    /* A recorded log is new on the server: the mark, locked, says so. */
    rc = flor__pg_copy_begin(x->pg, "COPY flor_logs (" LOG_NAMES ") FROM STDIN");
    if (rc == 0) {
        rc = flor__export_logs(db, after, end, run, "record", on_log, x);
        int e = flor__pg_copy_end(x->pg);
        rc = rc ? rc : e;
    }
    *inserted += x->seen;
    if (rc == 0 && replayed > 0) {
        rc = flor__pg_exec(x->pg, logs_stage);
        if (rc == 0)
            rc = flor__pg_copy_begin(x->pg, "COPY flor_logs_in (" LOG_NAMES ") FROM STDIN");
        if (rc == 0) {
            rc = flor__export_logs(db, after, end, run, "replay", on_log, x);
            int e = flor__pg_copy_end(x->pg);
            rc = rc ? rc : e;
        }
        if (rc == 0)
            rc = flor__pg_execp(x->pg, logs_replayed, 0, NULL, &rows);
        *inserted += rows;
    }
    x->high = end;
    x->mark = mark < 0 ? x->high : mark;
    if (rc == 0)
        rc = flor__pg_exec(x->pg, loops_stage);
    if (rc == 0)
        rc = flor__pg_copy_begin(x->pg, "COPY flor_loops_in (" LOOP_NAMES ") FROM STDIN");
    if (rc == 0) {
        rc = flor__export_loops(db, after, x->high, run, on_loop, x);
        int e = flor__pg_copy_end(x->pg);
        rc = rc ? rc : e;
    }
    return rc ? rc : flor__pg_exec(x->pg, loops_insert);
}

/* In the open transaction: the checkout's mark for logs, locked, into *HIGH. */
static int lock_mark(flor__pg *pg, const char *checkout, int64_t *high)
{
    const char *key[] = {checkout};
    char buf[32];
    int rc = flor__pg_execp(pg,
                            "INSERT INTO flor_sync(checkout, tbl, high) VALUES ($1, 'logs', 0)"
                            " ON CONFLICT DO NOTHING",
                            1, key, NULL);
    if (rc == 0)
        rc = flor__pg_scalar(pg,
                             "SELECT high FROM flor_sync WHERE checkout = $1 AND tbl = 'logs'"
                             " FOR UPDATE",
                             1, key, buf, sizeof buf);
    *high = rc == 0 ? strtoll(buf, NULL, 10) : 0;
    return rc;
}

/* One transaction: the logs above the mark, at most LOGS_PER_TX, with
 * their loops, and the mark moved past them.  *MORE: whether a full batch
 * was copied. */
static int copy_logs_once(sqlite3 *db, struct logs_ctx *x, int *more)
{
    *more = 0;
    int rc = flor__pg_begin(x->pg);
    if (rc != 0)
        return rc;
    int64_t inserted = 0;
    rc = lock_mark(x->pg, x->checkout, &x->high);
    if (rc == 0)
        rc = copy_logs_and_loops(db, x, 0, LOGS_PER_TX, -1, &inserted);
    if (rc == 0 && x->seen > 0) {
        char high[32];
        snprintf(high, sizeof high, "%lld", (long long)x->high);
        const char *p[] = {x->checkout, high};
        rc = flor__pg_execp(x->pg,
                            "UPDATE flor_sync SET high = $2 WHERE checkout = $1 AND tbl = 'logs'",
                            2, p, NULL);
    }
    if (rc != 0) {
        flor__pg_end(x->pg, 0);
        return rc;
    }
    rc = flor__pg_end(x->pg, 1);
    if (rc == 0)
        x->inserted += inserted;
    *more = rc == 0 && x->seen == LOGS_PER_TX;
    return rc;
}

/* ---- args -------------------------------------------------------------------- */

#define ARG_NAMES "checkout, run_id, name, value_int, value_real, value_text, from_kwargs, ord"

struct args_ctx {
    flor__pg *pg;
    const char *checkout;
    const changed *runs;
    batch b;
};

static int on_arg(void *vctx, sqlite3_stmt *row)
{
    struct args_ctx *x = vctx;
    if (!changed_has(x->runs, sqlite3_column_int64(row, 0)))
        return 0;
    char **v = x->b.vals + (size_t)x->b.n * ARG_COLS;
    x->b.n++;
    int rc = (v[0] = flor__strdup(x->checkout)) ? 0 : FLOR_ENOMEM;
    if (rc == 0)
        rc = column_text(row, 0, &v[1]); /* run_id */
    if (rc == 0)
        rc = column_text(row, 1, &v[2]); /* name */
    if (rc == 0)
        rc = value_text3(row, 2, &v[3]);
    if (rc == 0)
        rc = column_text(row, 3, &v[6]); /* from_kwargs */
    if (rc == 0)
        rc = column_text(row, 4, &v[7]); /* ord */
    if (rc != 0)
        return rc == FLOR_ENOMEM ? oom() : rc;
    return x->b.n == x->b.max ? batch_send(x->pg, &x->b, "flor_args (" ARG_NAMES ")", "", NULL) : 0;
}

/* RUNS' ids as a PostgreSQL array literal, "{1,2,3}"; NULL when out of memory. */
static char *id_array(const changed *runs, int only_resumed)
{
    flor__buf b = {0};
    int rc = flor__buf_puts(&b, "{");
    int first = 1;
    for (size_t i = 0; i < runs->n && rc == 0; i++) {
        if (only_resumed && runs->resumes[i] == 0)
            continue;
        rc = flor__buf_printf(&b, first ? "%lld" : ",%lld", (long long)runs->run[i]);
        first = 0;
    }
    if (rc == 0)
        rc = flor__buf_puts(&b, "}");
    if (rc != 0) {
        flor__buf_release(&b);
        return NULL;
    }
    return b.p;
}

/* In the open transaction: the args of the runs sent, in place of those
 * the server had. */
static int copy_args(sqlite3 *db, flor__pg *pg, const char *checkout, const changed *runs)
{
    char *ids = id_array(runs, 0);
    if (!ids)
        return oom();
    const char *p[] = {checkout, ids};
    int rc = flor__pg_execp(pg,
                            "DELETE FROM flor_args WHERE checkout = $1 AND run_id = ANY($2::bigint[])",
                            2, p, NULL);
    free(ids);
    struct args_ctx x = {.pg = pg, .checkout = checkout, .runs = runs};
    if (rc == 0)
        rc = batch_init(&x.b, ARG_COLS, RUNS_PER_INSERT);
    if (rc == 0)
        rc = flor__export_args(db, on_arg, &x);
    if (rc == 0)
        rc = batch_send(pg, &x.b, "flor_args (" ARG_NAMES ")", "", NULL);
    batch_free(&x.b);
    return rc;
}

/* ---- resumed runs ---------------------------------------------------------------- */

/* In the open transaction: into STALE, the runs sent whose resumes the
 * server counts fewer of than the journal (their rows there are older than
 * a resume, which replaced some of the run's logs and loops). */
static int find_stale(flor__pg *pg, const char *checkout, const changed *runs, changed *stale)
{
    size_t k = 0;
    for (size_t i = 0; i < runs->n; i++)
        k += runs->resumes[i] > 0;
    if (k == 0)
        return 0;
    char *ids = id_array(runs, 1);
    size_t cap = k * 44 + 16;
    char *out = malloc(cap);
    if (!ids || !out) {
        free(ids), free(out);
        return oom();
    }
    const char *p[] = {checkout, ids};
    int rc = flor__pg_scalar(pg,
                             "SELECT coalesce(string_agg(run_id || ':' || resumes, ','), '')"
                             " FROM flor_runs WHERE checkout = $1 AND run_id = ANY($2::bigint[])",
                             2, p, out, cap);
    for (char *t = out; rc == 0 && *t;) {
        char *end;
        int64_t run = strtoll(t, &end, 10);
        int64_t there = *end == ':' ? strtoll(end + 1, &end, 10) : -1;
        for (size_t i = 0; i < runs->n; i++)
            if (runs->run[i] == run && there < runs->resumes[i])
                rc = changed_add(stale, run, runs->resumes[i], runs->digest[i]);
        t = *end == ',' ? end + 1 : end;
        if (*t && t == end)
            break;
    }
    free(ids), free(out);
    return rc;
}

/* One transaction: RUN's logs and loops on the server replaced by the
 * journal's up to the checkout's mark, and its count of resumes there
 * brought up to the journal's (read before the logs: a resume after
 * that leaves the count behind, and the next copy does it again). */
static int recopy_run(sqlite3 *db, flor__pg *pg, const char *checkout, int64_t run)
{
    struct logs_ctx x = {.pg = pg, .checkout = checkout};
    int64_t mark = 0, resumes = 0, inserted = 0;
    int rc = flor__pg_begin(pg);
    if (rc != 0)
        return rc;
    rc = lock_mark(pg, checkout, &mark);
    if (rc == 0)
        rc = flor__export_resumes(db, run, &resumes);
    /* A resume that moved the journal's newest logs away lets SQLite give
     * their rowids to the continuation's: the mark comes back to the
     * journal's last log, so those are copied as new.  (Every log above
     * that on the server is this run's: any other's would still be in the
     * journal, above it.) */
    int64_t last = 0;
    if (rc == 0)
        rc = flor__export_logs_last(db, &last);
    char back[32];
    snprintf(back, sizeof back, "%lld", (long long)(last < mark ? last : mark));
    mark = last < mark ? last : mark;
    char id[32], count[32];
    snprintf(id, sizeof id, "%lld", (long long)run);
    snprintf(count, sizeof count, "%lld", (long long)resumes);
    const char *p[] = {checkout, id, count};
    if (rc == 0)
        rc = flor__pg_execp(pg, "DELETE FROM flor_logs WHERE checkout = $1 AND run_id = $2", 2, p,
                            NULL);
    if (rc == 0)
        rc = flor__pg_execp(pg, "DELETE FROM flor_loops WHERE checkout = $1 AND run_id = $2", 2, p,
                            NULL);
    if (rc == 0) {
        x.upto = mark, x.high = 0;
        rc = copy_logs_and_loops(db, &x, run, INT32_MAX, mark, &inserted);
    }
    if (rc == 0)
        rc = flor__pg_execp(pg,
                            "UPDATE flor_runs SET resumes = $3 WHERE checkout = $1 AND run_id = $2",
                            3, p, NULL);
    const char *q[] = {checkout, back};
    if (rc == 0)
        rc = flor__pg_execp(pg,
                            "UPDATE flor_sync SET high = $2 WHERE checkout = $1 AND tbl = 'logs'",
                            2, q, NULL);
    if (rc != 0) {
        flor__pg_end(pg, 0);
        return rc;
    }
    return flor__pg_end(pg, 1);
}

/* ---- the whole -------------------------------------------------------------- */

/* In the open transaction: the checkout's row, made or found as CO's own:
 * the same directory (from any host: the nodes of a cluster share one
 * checkout on a shared file system; the row names the last). */
static int claim_checkout(flor__pg *pg, const flor__team_checkout *co)
{
    const char *p[] = {co->id, co->projid, co->host, co->path};
    int64_t rows = 0;
    int rc = flor__pg_execp(pg,
                            "INSERT INTO flor_checkouts(checkout, projid, host, path)"
                            " VALUES ($1, $2, $3, $4) ON CONFLICT (checkout) DO UPDATE"
                            " SET last_sync = now(), host = excluded.host"
                            " WHERE flor_checkouts.path = excluded.path",
                            4, p, &rows);
    if (rc != 0 || rows == 1)
        return rc;
    char other[1024] = "";
    flor__pg_scalar(pg, "SELECT host || ':' || path FROM flor_checkouts WHERE checkout = $1", 1, p,
                    other, sizeof other);
    return flor__err(FLOR_EINVAL,
                     "%s: the checkout id '%s' is already copied from %s, not %s:%s (a copied "
                     ".flor directory?): a checkout needs an id of its own ('flor team new-id')",
                     flor__pg_where(pg), co->id, other, co->host, co->path);
}

int flor__team_sync(sqlite3 *db, flor__pg *pg, const flor__team_checkout *co,
                    flor__team_sync_stats *st)
{
    if (st)
        st->runs = st->logs = 0;
    if (!co || !co->id || !*co->id || !co->projid || !co->host || !co->path)
        return flor__err(FLOR_EINVAL, "%s: expected a checkout id, project, host and path to copy as",
                         flor__pg_where(pg));

    /* The logs to copy are those made before the runs are read: each has
     * its run's row on the server by then (flor_logs refers to flor_runs). */
    struct logs_ctx x = {.pg = pg, .checkout = co->id};
    int rc = flor__export_logs_last(db, &x.upto);
    if (rc != 0)
        return rc;
    struct runs_ctx r = {.pg = pg, .checkout = co->id, .seen = co->seen};
    changed stale = {0};
    rc = batch_init(&r.b, RUN_COLS, RUNS_PER_INSERT);
    if (rc == 0)
        rc = flor__pg_begin(pg);
    if (rc == 0) {
        rc = claim_checkout(pg, co);
        if (rc == 0)
            rc = flor__export_runs(db, on_run, &r);
        if (rc == 0)
            rc = batch_send(pg, &r.b, "flor_runs (" RUN_NAMES ")", runs_upsert, &r.changed);
        if (rc == 0 && r.runs.n > 0)
            rc = copy_args(db, pg, co->id, &r.runs);
        if (rc == 0)
            rc = find_stale(pg, co->id, &r.runs, &stale);
        if (rc != 0)
            flor__pg_end(pg, 0);
        else
            rc = flor__pg_end(pg, 1);
    }
    batch_free(&r.b);
    /* What the server has now is not sent again; a resumed run once its
     * rows there are replaced. */
    for (size_t i = 0; i < r.runs.n && rc == 0; i++)
        if (!changed_has(&stale, r.runs.run[i]))
            rc = seen_set(co->seen, r.runs.run[i], r.runs.digest[i]);
    for (size_t i = 0; i < stale.n && rc == 0; i++) {
        rc = recopy_run(db, pg, co->id, stale.run[i]);
        if (rc == 0)
            rc = seen_set(co->seen, stale.run[i], stale.digest[i]);
    }
    changed_free(&r.runs);
    changed_free(&stale);
    if (rc != 0)
        return rc;
    if (st)
        st->runs = r.changed;

    int more = 1;
    while (rc == 0 && more) {
        rc = copy_logs_once(db, &x, &more);
        if (st)
            st->logs = x.inserted;
    }
    return rc;
}

int flor__team_copied(sqlite3 *db, flor__pg *pg, const char *checkout, int64_t *copied,
                      int64_t *pending)
{
    *copied = 0, *pending = -1;
    char buf[32] = "0";
    const char *p[] = {checkout};
    int rc = 0;
    if (checkout)
        rc = flor__pg_scalar(pg,
                             "SELECT coalesce(max(high), 0) FROM flor_sync WHERE checkout = $1"
                             " AND tbl = 'logs'",
                             1, p, buf, sizeof buf);
    int64_t mark = strtoll(buf, NULL, 10);
    if (!rc && checkout)
        rc = flor__pg_scalar(pg, "SELECT count(*) FROM flor_logs WHERE checkout = $1", 1, p, buf,
                             sizeof buf);
    if (!rc && checkout)
        *copied = strtoll(buf, NULL, 10);
    return rc ? rc : flor__export_logs_count(db, mark, pending);
}
