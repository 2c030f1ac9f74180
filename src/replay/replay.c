/*
 * replay.c -- hindsight logging: re-executing a recorded run, fast.
 *
 * flor_init(--replay_flor [PID/N]) picks the run (the latest of this
 * program, or --replay_run ID|TSTAMP), gives flor_arg() the recorded
 * values, and plans the segment of the checkpointed loop this process
 * replays.  The loops then do the rest (loop.c asks this module):
 *
 *   - the checkpointed loop starts at the nearest checkpoint before the
 *     segment; iterations between it and the segment start are executed
 *     again to rebuild the state ("catch-up": their values are compared,
 *     never stored);
 *   - in an iteration that has a checkpoint, a loop nested in it runs no
 *     iteration: the registered state is restored from that checkpoint
 *     instead, unless the loop is probed (--probe NAME);
 *   - after the segment's last iteration the loop ends; what the program
 *     logs after it counts only in the last segment.
 *
 * The log writer hands every record to flor__replay_record() (on its own
 * thread, inside its transaction).  A value under a name the run recorded
 * is compared with the recorded one at the same loop coordinates and
 * occurrence -- bitwise for reals unless FLOR_REPLAY_TOLERANCE is set --
 * and a mismatch is a divergence.  A value under a new name is stored
 * under the original run with source 'replay', its loop context mapped to
 * the run's own (created when the record did not log there), replacing
 * the value of an earlier replay at the same place.
 */
#include "internal.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

flor__replay flor__P;

/* ---- a small string-keyed hash map ---------------------------------------- */

typedef struct rval {
    flor_type type;
    int64_t i;
    double r;
    char *s;
} rval;

typedef struct sent {
    char *key;
    uint64_t h;
    rval v;
    long count;
} sent;

typedef struct smap {
    sent *e;
    size_t cap, n;
} smap;

static sent *smap_find(smap *m, const char *key, int create)
{
    uint64_t h = flor__hash_str(key) | 1; /* 0 marks an empty slot */
    if (create && (m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1024;
        sent *e = calloc(cap, sizeof *e);
        if (!e)
            return NULL;
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->e[i].h)
                continue;
            size_t j = m->e[i].h & (cap - 1);
            while (e[j].h)
                j = (j + 1) & (cap - 1);
            e[j] = m->e[i];
        }
        free(m->e);
        m->e = e;
        m->cap = cap;
    }
    if (!m->cap)
        return NULL;
    for (size_t j = h & (m->cap - 1);; j = (j + 1) & (m->cap - 1)) {
        if (!m->e[j].h) {
            if (!create)
                return NULL;
            m->e[j].key = flor__strdup(key);
            if (!m->e[j].key)
                return NULL;
            m->e[j].h = h;
            m->n++;
            return &m->e[j];
        }
        if (m->e[j].h == h && strcmp(m->e[j].key, key) == 0)
            return &m->e[j];
    }
}

static void smap_free(smap *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        free(m->e[i].key);
        free(m->e[i].v.s);
    }
    free(m->e);
    memset(m, 0, sizeof *m);
}

/* ---- state ------------------------------------------------------------------- */

/* The writer's view of an in-memory loop context. */
typedef struct wctx {
    int64_t ctx, parent, dbctx;
    uint32_t name;
    long iteration;
    char *coords;
} wctx;

static smap recorded;   /* "coords\037name\037occurrence" -> value */
static smap names;      /* names the run recorded */
static smap seen;       /* "coords\037name" -> occurrences so far in this replay */
static smap known;      /* coords -> the run's ctx_id there (in `count`) */
static wctx *ctxs;      /* in-memory contexts (hash by ctx id) */
static size_t nctx_cap, nctx;
static sqlite3_stmt *st_find_ctx, *st_new_ctx, *st_put_log, *st_div;
static double tolerance;
static char stop_loop[128]; /* the checkpointed loop, when the replay stops short */

/* Where an unfinished run stopped inside the last iteration it reached of
 * the checkpointed loop, when that iteration has no checkpoint: the last
 * iteration of each nested loop it logged in, outermost first. */
#define MAX_FRONTIER 16
static struct {
    char *name;
    long iteration;
} frontier[MAX_FRONTIER];
static int nfrontier;
static int frontier_cut_depth = -1; /* the loop whose end is the record's end */
static char frontier_text[256];

static wctx *ctx_slot(int64_t ctx, int create)
{
    if (create && (nctx + 1) * 2 > nctx_cap) {
        size_t cap = nctx_cap ? nctx_cap * 2 : 1024;
        wctx *e = calloc(cap, sizeof *e);
        if (!e)
            return NULL;
        for (size_t i = 0; i < nctx_cap; i++) {
            if (!ctxs[i].ctx)
                continue;
            size_t j = (size_t)ctxs[i].ctx * 0x9e3779b97f4a7c15ull & (cap - 1);
            while (e[j].ctx)
                j = (j + 1) & (cap - 1);
            e[j] = ctxs[i];
        }
        free(ctxs);
        ctxs = e;
        nctx_cap = cap;
    }
    if (!nctx_cap)
        return NULL;
    for (size_t j = (size_t)ctx * 0x9e3779b97f4a7c15ull & (nctx_cap - 1);;
         j = (j + 1) & (nctx_cap - 1)) {
        if (ctxs[j].ctx == ctx)
            return &ctxs[j];
        if (!ctxs[j].ctx) {
            if (!create)
                return NULL;
            ctxs[j].ctx = ctx;
            nctx++;
            return &ctxs[j];
        }
    }
}

/* ---- flags ------------------------------------------------------------------- */

/* A whole decimal number, digits only (no sign, no blank), into *OUT;
 * -1 when S is not one or it is out of range. */
static int whole_number(const char *s, size_t len, long *out)
{
    if (len == 0 || len > 18)
        return -1;
    long v = 0;
    for (size_t k = 0; k < len; k++) {
        if (!isdigit((unsigned char)s[k]))
            return -1;
        v = v * 10 + (s[k] - '0');
    }
    *out = v;
    return 0;
}

static int parse_segment(const char *s)
{
    const char *slash = strchr(s, '/');
    long pid, n;
    if (!slash || whole_number(s, (size_t)(slash - s), &pid) != 0 ||
        whole_number(slash + 1, strlen(slash + 1), &n) != 0)
        return flor__err(FLOR_EINVAL, "--replay_flor '%s': expected PID/N, two whole numbers "
                                      "such as 0/4 (N at most 999999999999999999)", s);
    if (n < 1 || pid >= n)
        return flor__err(FLOR_EINVAL, "--replay_flor %s: expected PID/N with 0 <= PID < N", s);
    flor__P.seg_pid = pid;
    flor__P.seg_n = n;
    return 0;
}

/* Whether the word after --replay_flor is its value: anything but a
 * flag ("--..."), so that a malformed segment ("-1/3", "abc", " 1/3") is
 * an error rather than an argument passed on to the program. */
static int is_segment(const char *s)
{
    return strncmp(s, "--", 2) != 0;
}

static int add_probe(const char *list)
{
    char *copy = flor__strdup(list);
    if (!copy)
        return flor__err(FLOR_ENOMEM, "out of memory");
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (flor__P.nprobe == (int)(sizeof flor__P.probe / sizeof *flor__P.probe))
            break;
        flor__P.probe[flor__P.nprobe++] = flor__strdup(tok);
    }
    free(copy);
    return 0;
}

/* --replay_every N or N:R: the new statements need iterations i of the
 * checkpointed loop with i % N == R only. */
static int parse_every(const char *what, const char *s)
{
    const char *colon = strchr(s, ':');
    size_t nlen = colon ? (size_t)(colon - s) : strlen(s);
    long n, r = 0;
    if (whole_number(s, nlen, &n) != 0 || n < 1 ||
        (colon && (whole_number(colon + 1, strlen(colon + 1), &r) != 0 || r >= n)))
        return flor__err(FLOR_EINVAL, "%s '%s': expected N or N:R, whole numbers with N >= 1 "
                                      "and R < N (iterations i with i %% N == R)", what, s);
    flor__P.every_n = n;
    flor__P.every_r = r;
    return 0;
}

int flor__replay_parse(int *argc, char ***argvp)
{
    char **argv = *argvp;
    const char *env = getenv("FLOR_REPLAY");
    if (env && *env && strcmp(env, "0") != 0) {
        flor__P.on = 1;
        flor__P.seg_n = 1;
        if (strchr(env, '/') && parse_segment(env) != 0)
            return flor__err_wrap(FLOR_EINVAL, "FLOR_REPLAY");
    }
    const char *run = getenv("FLOR_REPLAY_RUN");
    if (run && *run)
        flor__P.run_spec = flor__strdup(run);
    const char *every = getenv("FLOR_REPLAY_EVERY");
    if (every && *every && parse_every("FLOR_REPLAY_EVERY", every) != 0)
        return FLOR_EINVAL;
    const char *probe = getenv("FLOR_PROBE");
    if (probe && *probe)
        add_probe(probe);
    for (int i = 1; i < *argc;) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--replay_flor") == 0) {
            flor__P.on = 1;
            if (!flor__P.seg_n)
                flor__P.seg_n = 1;
            if (i + 1 < *argc && is_segment(argv[i + 1])) {
                int rc = parse_segment(argv[i + 1]);
                if (rc)
                    return rc;
                flor__argv_remove(argc, argv, i, 2);
            } else {
                flor__argv_remove(argc, argv, i, 1);
            }
        } else if (strcmp(argv[i], "--replay_every") == 0) {
            if (i + 1 >= *argc)
                return flor__err(FLOR_EINVAL, "%s: expected a value after it", argv[i]);
            int rc = parse_every("--replay_every", argv[i + 1]);
            if (rc)
                return rc;
            flor__argv_remove(argc, argv, i, 2);
        } else if (strcmp(argv[i], "--replay_run") == 0 || strcmp(argv[i], "--probe") == 0) {
            if (i + 1 >= *argc)
                return flor__err(FLOR_EINVAL, "%s: expected a value after it", argv[i]);
            if (argv[i][2] == 'r') {
                free(flor__P.run_spec);
                flor__P.run_spec = flor__strdup(argv[i + 1]);
            } else {
                add_probe(argv[i + 1]);
            }
            flor__argv_remove(argc, argv, i, 2);
        } else {
            i++;
        }
    }
    if (flor__P.on && !flor__P.seg_n)
        flor__P.seg_n = 1;
    return 0;
}

/* ---- choosing the run and loading what it recorded ----------------------- */

static int select_run(sqlite3 *db, const char *projid, const char *filename)
{
    sqlite3_stmt *st;
    const char *spec = flor__P.run_spec;
    int by_id = spec && *spec && strspn(spec, "0123456789") == strlen(spec);
    const char *sql = by_id  ? "SELECT run_id FROM runs WHERE run_id = ?"
                      : spec ? "SELECT run_id FROM runs WHERE tstamp = ?"
                             : "SELECT run_id FROM runs WHERE filename = ? "
                               "ORDER BY run_id DESC LIMIT 1";
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot look up the run to replay");
    if (by_id)
        sqlite3_bind_int64(st, 1, atoll(spec));
    else
        sqlite3_bind_text(st, 1, spec ? spec : filename, -1, SQLITE_STATIC);
    int64_t id = 0;
    if (sqlite3_step(st) == SQLITE_ROW)
        id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (!id && spec)
        return flor__err(FLOR_ENOTFOUND, "--replay_run %s: no such run in project '%s'", spec,
                         projid);
    if (!id)
        return flor__err(FLOR_ENOTFOUND,
                         "no recorded run of '%s' in project '%s' to replay (record one first)",
                         filename, projid);
    flor__P.run_id = id;
    return 0;
}

static int load_checkpoints(sqlite3 *db)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT loop, iteration FROM checkpoints WHERE run_id = ? "
                                "ORDER BY iteration",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot read the run's checkpoints");
    sqlite3_bind_int64(st, 1, flor__P.run_id);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (!flor__P.ckpt_loop)
            flor__P.ckpt_loop = flor__strdup((const char *)sqlite3_column_text(st, 0));
        if (flor__P.nckpt == flor__P.capckpt) {
            int cap = flor__P.capckpt ? flor__P.capckpt * 2 : 64;
            long *v = realloc(flor__P.ckpts, (size_t)cap * sizeof *v);
            if (!v) {
                sqlite3_finalize(st);
                return flor__err(FLOR_ENOMEM, "out of memory");
            }
            flor__P.ckpts = v;
            flor__P.capckpt = cap;
        }
        flor__P.ckpts[flor__P.nckpt++] = (long)sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return 0;
}

int flor__replay_has_checkpoint(long iteration)
{
    int lo = 0, hi = flor__P.nckpt - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (flor__P.ckpts[mid] == iteration)
            return 1;
        if (flor__P.ckpts[mid] < iteration)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return 0;
}

/* The last checkpointed iteration <= LIMIT, or -1. */
static long checkpoint_at_or_before(long limit)
{
    long best = -1;
    for (int k = 0; k < flor__P.nckpt && flor__P.ckpts[k] <= limit; k++)
        best = flor__P.ckpts[k];
    return best;
}

typedef struct lrow {
    int64_t parent;
    char *name;
    long iteration;
    char *coords;
} lrow;

/* Coordinates of a recorded context, "epoch=3/step=100", memoized. */
static const char *rec_coords(lrow *rows, int64_t nrows, int64_t ctx, int depth)
{
    if (ctx <= 0 || ctx > nrows || !rows[ctx - 1].name || depth > 64)
        return "";
    lrow *r = &rows[ctx - 1];
    if (!r->coords) {
        const char *up = rec_coords(rows, nrows, r->parent, depth + 1);
        r->coords = *up ? flor__printf("%s/%s=%ld", up, r->name, r->iteration)
                        : flor__printf("%s=%ld", r->name, r->iteration);
    }
    return r->coords ? r->coords : "";
}

static int load_recorded(sqlite3 *db)
{
    sqlite3_stmt *st;
    int64_t maxctx = 0;
    int rc = sqlite3_prepare_v2(db, "SELECT coalesce(max(ctx_id), 0) FROM loops WHERE run_id=?",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot read the run's loops");
    sqlite3_bind_int64(st, 1, flor__P.run_id);
    if (sqlite3_step(st) == SQLITE_ROW)
        maxctx = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    lrow *rows = calloc((size_t)maxctx + 1, sizeof *rows);
    if (!rows)
        return flor__err(FLOR_ENOMEM, "out of memory");
    rc = sqlite3_prepare_v2(db,
                            "SELECT ctx_id, parent_ctx_id, name, iteration FROM loops "
                            "WHERE run_id=?",
                            -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, flor__P.run_id);
        while (sqlite3_step(st) == SQLITE_ROW) {
            int64_t c = sqlite3_column_int64(st, 0);
            if (c < 1 || c > maxctx)
                continue;
            rows[c - 1].parent = sqlite3_column_int64(st, 1);
            rows[c - 1].name = flor__strdup((const char *)sqlite3_column_text(st, 2));
            rows[c - 1].iteration = (long)sqlite3_column_int64(st, 3);
        }
        sqlite3_finalize(st);
        rc = sqlite3_prepare_v2(db,
                                "SELECT ctx_id, name, value FROM logs WHERE run_id=? AND "
                                "source='record' ORDER BY rowid",
                                -1, &st, NULL);
    }
    if (rc != SQLITE_OK) {
        rc = flor__err_sqlite(db, rc, "cannot read the run's logs");
        goto out;
    }
    sqlite3_bind_int64(st, 1, flor__P.run_id);
    for (int64_t c = 1; c <= maxctx; c++) {
        const char *coords = rec_coords(rows, maxctx, c, 0);
        sent *k = *coords ? smap_find(&known, coords, 1) : NULL;
        if (k && !k->count)
            k->count = (long)c;
    }
    flor__buf key = {0};
    while (!rc && sqlite3_step(st) == SQLITE_ROW) {
        const char *coords = rec_coords(rows, maxctx, sqlite3_column_int64(st, 0), 0);
        const char *name = (const char *)sqlite3_column_text(st, 1);
        key.len = 0;
        flor__buf_printf(&key, "%s\037%s", coords, name);
        sent *occ = smap_find(&seen, key.p, 1);
        sent *nm = smap_find(&names, name, 1);
        if (!occ || !nm) {
            rc = flor__err(FLOR_ENOMEM, "out of memory");
            break;
        }
        flor__buf_printf(&key, "\037%ld", occ->count++);
        sent *e = smap_find(&recorded, key.p, 1);
        if (!e) {
            rc = flor__err(FLOR_ENOMEM, "out of memory");
            break;
        }
        sqlite3_value *v = sqlite3_column_value(st, 2);
        switch (sqlite3_value_type(v)) {
        case SQLITE_INTEGER:
            e->v.type = FLOR_INTEGER;
            e->v.i = sqlite3_value_int64(v);
            break;
        case SQLITE_FLOAT:
            e->v.type = FLOR_REAL;
            e->v.r = sqlite3_value_double(v);
            break;
        case SQLITE_NULL:
            e->v.type = FLOR_NULL;
            break;
        default:
            e->v.type = FLOR_TEXT;
            e->v.s = flor__strdup((const char *)sqlite3_value_text(v));
        }
    }
    flor__buf_release(&key);
    sqlite3_finalize(st);
    /* the occurrence counters start again for the replay itself */
    smap_free(&seen);
out:
    for (int64_t c = 0; c < maxctx; c++) {
        free(rows[c].name);
        free(rows[c].coords);
    }
    free(rows);
    return rc;
}

/* ---- what the run recorded of itself: its status, its argv ------------------ */

/* One integer from SQL with the run id as ?1, or DFLT when NULL. */
static int query_long(sqlite3 *db, const char *sql, long dflt, long *out)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot read the run to replay");
    sqlite3_bind_int64(st, 1, flor__P.run_id);
    if (flor__P.ckpt_loop)
        sqlite3_bind_text(st, 2, flor__P.ckpt_loop, -1, SQLITE_STATIC);
    *out = dflt;
    if ((rc = sqlite3_step(st)) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        *out = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0
                                                 : flor__err_sqlite(db, rc, "cannot read the run to replay");
}

static int load_frontier(sqlite3 *db)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(
        db,
        flor__P.ckpt_loop
            ? "SELECT max(ctx_id) FROM loops WHERE run_id = ?1 AND iteration = ?2 AND name = ?3"
            : "SELECT max(ctx_id) FROM loops WHERE run_id = ?1 AND iteration = ?2 AND "
              "parent_ctx_id IS NULL AND name = (SELECT name FROM loops WHERE run_id = ?1 AND "
              "parent_ctx_id IS NULL ORDER BY ctx_id LIMIT 1)",
        -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot read the run's loops");
    sqlite3_bind_int64(st, 1, flor__P.run_id);
    sqlite3_bind_int64(st, 2, flor__P.reached);
    if (flor__P.ckpt_loop)
        sqlite3_bind_text(st, 3, flor__P.ckpt_loop, -1, SQLITE_STATIC);
    int64_t ctx = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    /* the context of the last value the record logged in that iteration */
    rc = sqlite3_prepare_v2(db,
                            "WITH RECURSIVE sub(c) AS (SELECT ?2 UNION ALL SELECT l.ctx_id FROM "
                            "loops l JOIN sub ON l.parent_ctx_id = sub.c WHERE l.run_id = ?1) "
                            "SELECT ctx_id FROM logs WHERE run_id = ?1 AND source = 'record' AND "
                            "ctx_id IN sub ORDER BY rowid DESC LIMIT 1",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot read the run's logs");
    sqlite3_bind_int64(st, 1, flor__P.run_id);
    sqlite3_bind_int64(st, 2, ctx);
    int64_t last = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (!last || last == ctx)
        return 0; /* it logged after its nested loops: they ran to their end */
    /* the path from there up to the iteration, innermost first */
    rc = sqlite3_prepare_v2(db,
                            "SELECT parent_ctx_id, name, iteration FROM loops WHERE run_id = ?1 "
                            "AND ctx_id = ?2",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot read the run's loops");
    while (last && last != ctx && nfrontier < MAX_FRONTIER) {
        sqlite3_bind_int64(st, 1, flor__P.run_id);
        sqlite3_bind_int64(st, 2, last);
        last = 0;
        if (sqlite3_step(st) == SQLITE_ROW) {
            last = sqlite3_column_int64(st, 0);
            frontier[nfrontier].name = flor__strdup((const char *)sqlite3_column_text(st, 1));
            frontier[nfrontier].iteration = (long)sqlite3_column_int64(st, 2);
            if (!frontier[nfrontier].name) {
                sqlite3_finalize(st);
                return flor__err(FLOR_ENOMEM, "out of memory");
            }
            nfrontier++;
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (last != ctx) { /* not a path to the iteration: no frontier */
        for (int k = 0; k < nfrontier; k++)
            free(frontier[k].name);
        nfrontier = 0;
        return 0;
    }
    for (int a = 0, b = nfrontier - 1; a < b; a++, b--) { /* outermost first */
        char *n = frontier[a].name;
        long it = frontier[a].iteration;
        frontier[a] = frontier[b];
        frontier[b].name = n;
        frontier[b].iteration = it;
    }
    return 0;
}

/* The level of the frontier that loop L is at, or -1 when L is not on
 * the frontier's path. */
static int frontier_level(const flor_loop *l)
{
    int j = l->depth - flor__R.ckpt_depth - 1;
    if (j < 0 || j >= nfrontier || flor__R.ckpt_depth < 0 ||
        flor__R.stack[flor__R.ckpt_depth].iteration != flor__P.reached ||
        strcmp(l->name, frontier[j].name) != 0)
        return -1;
    for (int k = 0; k < j; k++) {
        int d = flor__R.ckpt_depth + 1 + k;
        if (flor__R.stack[d].iteration != frontier[k].iteration ||
            strcmp(flor__name_str(flor__R.stack[d].name), frontier[k].name) != 0)
            return -1;
    }
    return j;
}

void flor__replay_frontier_begin(flor_loop *l)
{
    int j = frontier_level(l);
    if (j < 0 || flor__P.phase == FLOR__PHASE_FAILED)
        return;
    long n = frontier[j].iteration + 1;
    if (l->n < 0 || l->n >= n) {
        l->n = n;
        if (j == nfrontier - 1 || frontier_cut_depth < 0)
            frontier_cut_depth = l->depth;
    }
}

void flor__replay_frontier_end(const flor_loop *l)
{
    if (l->depth != frontier_cut_depth || frontier_level(l) < 0 ||
        flor__R.stack[l->depth].iteration != frontier[l->depth - flor__R.ckpt_depth - 1].iteration)
        return;
    /* the record got no further: nothing after this is stored or compared */
    frontier_cut_depth = -1;
    flor__P.truncated = 1;
    if (flor__P.phase != FLOR__PHASE_FAILED)
        flor__P.phase = FLOR__PHASE_AFTER;
    flor__buf b = {0};
    for (int k = 0; k <= l->depth - flor__R.ckpt_depth - 1; k++)
        flor__buf_printf(&b, "/%s=%ld", frontier[k].name, frontier[k].iteration);
    snprintf(frontier_text, sizeof frontier_text, "%s", b.p ? b.p : "");
    flor__buf_release(&b);
}

/* A run that did not finish (killed, failed, still running) is replayed
 * only as far as it got: to the last iteration of its checkpointed loop
 * that logged or was checkpointed. */
static int load_reach(sqlite3 *db)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "SELECT status FROM runs WHERE run_id = ?", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot read the run's status");
    sqlite3_bind_int64(st, 1, flor__P.run_id);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        flor__P.run_status = flor__strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (!flor__P.run_status)
        flor__P.run_status = flor__strdup("unknown");
    if (!flor__P.run_status)
        return flor__err(FLOR_ENOMEM, "out of memory");
    flor__P.reached = -1;
    flor__P.limited = strcmp(flor__P.run_status, "finished") != 0;
    if (!flor__P.limited)
        return 0;
    long ck = -1, lp = -1;
    rc = query_long(db, "SELECT max(iteration) FROM checkpoints WHERE run_id = ?1", -1, &ck);
    if (!rc)
        rc = query_long(db,
                        flor__P.ckpt_loop
                            ? "SELECT max(iteration) FROM loops WHERE run_id = ?1 AND name = ?2"
                            : "SELECT max(iteration) FROM loops WHERE run_id = ?1 AND "
                              "parent_ctx_id IS NULL AND name = (SELECT name FROM loops WHERE "
                              "run_id = ?1 AND parent_ctx_id IS NULL ORDER BY ctx_id LIMIT 1)",
                        -1, &lp);
    flor__P.reached = ck > lp ? ck : lp;
    if (!rc && flor__P.reached >= 0 && !flor__replay_has_checkpoint(flor__P.reached))
        rc = load_frontier(db);
    return rc;
}

static int has_name(char **v, int n, const char *name, size_t len)
{
    for (int i = 0; i < n; i++)
        if (strlen(v[i]) == len && strncmp(v[i], name, len) == 0)
            return 1;
    return 0;
}

/* The args rows of a killed run can be missing (it died before the
 * writer saved them).  Its argv, saved when it started, still holds the
 * --kwargs it was given: they become the replay's --kwargs for the args
 * without a row, so flor_arg() parses them to the default's type exactly
 * as the record did.  An arg with neither a row nor a --kwargs used its
 * default in the record too. */
static int load_argv_kwargs(sqlite3 *db)
{
    sqlite3_stmt *st;
    char **argnames = NULL, **words = NULL, **fake = NULL;
    int nnames = 0, nwords = 0, nfake = 0, rc;
    rc = sqlite3_prepare_v2(db, "SELECT name FROM args WHERE run_id = ?", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot read the run's args");
    sqlite3_bind_int64(st, 1, flor__P.run_id);
    while (sqlite3_step(st) == SQLITE_ROW) {
        char **v = realloc(argnames, (size_t)(nnames + 1) * sizeof *v);
        if (!v || !(v[nnames] = flor__strdup((const char *)sqlite3_column_text(st, 0)))) {
            argnames = v ? v : argnames;
            rc = flor__err(FLOR_ENOMEM, "out of memory");
            goto out;
        }
        argnames = v;
        nnames++;
    }
    sqlite3_finalize(st);
    st = NULL;
    rc = sqlite3_prepare_v2(db,
                            "SELECT j.value FROM runs r, json_each(r.argv) j WHERE r.run_id = ? "
                            "ORDER BY j.key",
                            -1, &st, NULL);
    int step = rc == SQLITE_OK ? SQLITE_ROW : rc;
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, flor__P.run_id);
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
            const char *w = (const char *)sqlite3_column_text(st, 0);
            char **v = realloc(words, (size_t)(nwords + 1) * sizeof *v);
            if (!v || !(v[nwords] = flor__strdup(w ? w : ""))) {
                words = v ? v : words;
                rc = flor__err(FLOR_ENOMEM, "out of memory");
                goto out;
            }
            words = v;
            nwords++;
        }
    }
    if (step != SQLITE_DONE) {
        /* the argv is unreadable: harmless when the args rows are complete */
        if (flor__P.limited && nnames == 0)
            rc = flor__err(FLOR_ECORRUPT,
                           "run %lld recorded no args (it ended '%s') and its argv cannot be "
                           "read (%s): cannot replay it faithfully",
                           (long long)flor__P.run_id, flor__P.run_status, sqlite3_errmsg(db));
        else
            rc = 0;
        goto out;
    }
    /* the --kwargs words, found as flor__kwargs_parse() found them */
    fake = calloc((size_t)nwords + 3, sizeof *fake);
    if (!fake) {
        rc = flor__err(FLOR_ENOMEM, "out of memory");
        goto out;
    }
    fake[nfake++] = "replay";
    fake[nfake++] = "--kwargs";
    for (int i = 1; i < nwords && strcmp(words[i], "--") != 0;) {
        if (strcmp(words[i], "--kwargs") != 0) {
            i++;
            continue;
        }
        for (i++; i < nwords && strchr(words[i], '=') && strncmp(words[i], "--", 2) != 0; i++) {
            size_t len = (size_t)(strchr(words[i], '=') - words[i]);
            if (!has_name(argnames, nnames, words[i], len))
                fake[nfake++] = words[i];
        }
    }
    if (nfake > 2) {
        int fargc = nfake;
        char **fargv = fake;
        flor__P.argv_kwargs = nfake - 2;
        if ((rc = flor__kwargs_parse(&fargc, &fargv)) != 0) {
            rc = flor__err_wrap(FLOR_EINVAL, "run %lld: the --kwargs of its recorded argv",
                                (long long)flor__P.run_id);
            goto out;
        }
        flor__buf list = {0};
        for (int k = 2; k < nfake; k++)
            flor__buf_printf(&list, "%s%s", k > 2 ? " " : "", fake[k]);
        flor__warn("run %lld (%s) recorded no args for %s: the replay takes them from the "
                   "--kwargs of its recorded argv",
                   (long long)flor__P.run_id, flor__P.run_status, list.p ? list.p : "?");
        flor__buf_release(&list);
    }
    rc = 0;
out:
    sqlite3_finalize(st);
    for (int i = 0; i < nnames; i++)
        free(argnames[i]);
    for (int i = 0; i < nwords; i++)
        free(words[i]);
    free(argnames);
    free(words);
    free(fake);
    return rc;
}

int flor__replay_open(sqlite3 *db, const char *projid, const char *filename)
{
    int rc = select_run(db, projid, filename);
    if (!rc)
        rc = flor__args_load(db, flor__P.run_id);
    if (!rc)
        rc = load_checkpoints(db);
    if (!rc)
        rc = load_reach(db);
    if (!rc)
        rc = load_argv_kwargs(db);
    if (!rc)
        rc = load_recorded(db);
    if (rc)
        return rc;
    const char *tol = getenv("FLOR_REPLAY_TOLERANCE");
    tolerance = tol && *tol ? atof(tol) : 0;
    flor__P.restored_for = -1;
    flor__P.restored_mid = -1;
    flor__P.phase = FLOR__PHASE_NORMAL;
    return 0;
}

int flor__replay_probed(const char *loop)
{
    for (int i = 0; i < flor__P.nprobe; i++)
        if (strcmp(flor__P.probe[i], loop) == 0)
            return 1;
    return 0;
}

/* ---- the plan of the checkpointed loop ------------------------------------ */

long flor__replay_plan(const char *loop, long n, long *first)
{
    long total = n;
    if (total < 0) /* a loop of unknown length: the last checkpoint marks its end */
        total = flor__P.nckpt ? flor__P.ckpts[flor__P.nckpt - 1] + 1 : 0;
    /* a run that did not finish: no iteration past the last it reached */
    if (flor__P.limited && (n < 0 || total > flor__P.reached + 1)) {
        total = flor__P.reached + 1;
        flor__P.truncated = 1;
    }
    if (flor__P.limited)
        snprintf(stop_loop, sizeof stop_loop, "%s", loop ? loop : "?");
    long size = total / flor__P.seg_n, rem = total % flor__P.seg_n;
    long pid = flor__P.seg_pid;
    flor__P.seg_start = pid * size + (pid < rem ? pid : rem);
    flor__P.seg_end = flor__P.seg_start + size + (pid < rem ? 1 : 0);
    long resume = flor__P.seg_start > 0 ? checkpoint_at_or_before(flor__P.seg_start - 1) : -1;
    *first = resume + 1;
    return resume;
}

/* The first iteration >= FROM that the new statements need. */
static long needed_from(long from)
{
    long n = flor__P.every_n, r = flor__P.every_r;
    long k = from % n;
    return k <= r ? from - k + r : from - k + n + r;
}

int flor__replay_skip(long *i)
{
    long cur = *i, from = cur + 1 > flor__P.seg_start ? cur + 1 : flor__P.seg_start;
    long want = needed_from(from); /* the iteration to arrive at */
    int last = flor__P.seg_pid + 1 == flor__P.seg_n && !flor__P.truncated;
    if (want >= flor__P.seg_end) {
        if (!last) { /* nothing more is needed: what follows the loop is ignored */
            *i = flor__P.seg_end - 1;
            return 0;
        }
        want = flor__P.seg_end; /* the state at the loop's end, for the code after it */
    }
    long c = checkpoint_at_or_before(want - 1);
    if (c <= cur)
        return 0; /* no checkpoint past where the state is: run on */
    int rc = flor__replay_restore(c);
    if (rc)
        return rc;
    flor__P.restored_for = c;
    *i = c;
    return 0;
}

int flor__replay_restore_again(long iteration)
{
    if (!flor__P.proj) {
        int rc = flor_project_open(&flor__P.proj, NULL);
        if (rc)
            return rc;
    }
    double t0 = flor__mono();
    int rc = flor_project_restore(flor__P.proj, flor__P.run_id, iteration);
    flor__P.restore_s += flor__mono() - t0;
    return rc;
}

int flor__replay_restore(long iteration)
{
    int rc = flor__replay_restore_again(iteration);
    if (!rc)
        flor__P.restores++;
    return rc;
}

void flor__replay_fail(void)
{
    if (!flor__P.error)
        flor__P.error = flor__strdup(flor_errmsg());
    flor__P.phase = FLOR__PHASE_FAILED;
}

/* ---- the writer's side ---------------------------------------------------------- */

static int prepare(sqlite3 *db)
{
    if (st_put_log)
        return SQLITE_OK;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT ctx_id FROM loops WHERE run_id=?1 AND "
                                "parent_ctx_id IS ?2 AND name=?3 AND iteration=?4 "
                                "ORDER BY ctx_id LIMIT 1",
                                -1, &st_find_ctx, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db,
                                "INSERT INTO loops(run_id, ctx_id, parent_ctx_id, name, iteration) "
                                "SELECT ?1, coalesce(max(ctx_id), 0) + 1, ?2, ?3, ?4 FROM loops "
                                "WHERE run_id=?1 RETURNING ctx_id",
                                -1, &st_new_ctx, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db,
                                "INSERT OR REPLACE INTO logs(run_id, ctx_id, name, value, source) "
                                "VALUES (?,?,?,?,'replay')",
                                -1, &st_put_log, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db,
                                "INSERT INTO divergences(replay_id, coords, name, recorded, "
                                "replayed) VALUES (?,?,?,?,?)",
                                -1, &st_div, NULL);
    return rc;
}

static const char *coords_of(int64_t ctx)
{
    if (!ctx)
        return "";
    wctx *c = ctx_slot(ctx, 0);
    return c && c->coords ? c->coords : "";
}

/* The run's own context id for in-memory context CTX, created if the
 * record never logged there.  0 for no context. */
static int resolve(sqlite3 *db, int64_t ctx, int64_t *out, int depth)
{
    *out = 0;
    if (!ctx)
        return SQLITE_OK;
    wctx *c = ctx_slot(ctx, 0);
    if (!c || depth > 64)
        return SQLITE_OK;
    if (c->dbctx) {
        *out = c->dbctx;
        return SQLITE_OK;
    }
    sent *k = c->coords ? smap_find(&known, c->coords, 0) : NULL;
    if (k && k->count) {
        *out = c->dbctx = k->count;
        return SQLITE_OK;
    }
    int64_t parent;
    int rc = resolve(db, c->parent, &parent, depth + 1);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_stmt *sts[2] = {st_find_ctx, st_new_ctx};
    for (int step = 0; step < 2 && !c->dbctx; step++) {
        sqlite3_stmt *st = sts[step];
        sqlite3_bind_int64(st, 1, flor__P.run_id);
        if (parent)
            sqlite3_bind_int64(st, 2, parent);
        else
            sqlite3_bind_null(st, 2);
        sqlite3_bind_text(st, 3, flor__name_str(c->name), -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, c->iteration);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            c->dbctx = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return rc;
    }
    *out = c->dbctx;
    return SQLITE_OK;
}

static void describe(char *out, size_t n, flor_type t, int64_t i, double r, const char *s)
{
    switch (t) {
    case FLOR_INTEGER: snprintf(out, n, "%lld", (long long)i); break;
    case FLOR_REAL: snprintf(out, n, "%.17g", r); break;
    case FLOR_TEXT: snprintf(out, n, "'%s'", s); break;
    default: snprintf(out, n, "NULL");
    }
}

static int same(const rval *want, flor_type t, int64_t i, double r, const char *s)
{
    /* a NaN is stored as the text 'NaN' (flor__bind_real) */
    if (want->type == FLOR_TEXT && t == FLOR_REAL && isnan(r))
        return want->s && strcmp(want->s, FLOR__NAN_TEXT) == 0;
    if (want->type != t)
        return want->type == FLOR_REAL && t == FLOR_REAL;
    switch (t) {
    case FLOR_INTEGER: return want->i == i;
    case FLOR_REAL:
        if (tolerance > 0)
            return fabs(want->r - r) <= tolerance * fmax(1.0, fabs(want->r));
        return memcmp(&want->r, &r, sizeof r) == 0 || (isnan(want->r) && isnan(r));
    case FLOR_TEXT: return strcmp(want->s ? want->s : "", s ? s : "") == 0;
    default: return 1;
    }
}

static int compare(sqlite3 *db, const char *coords, const char *name, long occ, flor_type t,
                   int64_t i, double r, const char *s)
{
    char key[1024];
    snprintf(key, sizeof key, "%s\037%s\037%ld", coords, name, occ);
    sent *e = smap_find(&recorded, key, 0);
    flor__P.compared++;
    if (e && same(&e->v, t, i, r, s))
        return SQLITE_OK;
    flor__P.divergences++;
    char want[128], got[128];
    if (e)
        describe(want, sizeof want, e->v.type, e->v.i, e->v.r, e->v.s);
    else
        snprintf(want, sizeof want, "nothing");
    describe(got, sizeof got, t, i, r, s);
    if (!flor__P.first_divergence)
        flor__P.first_divergence = flor__printf("%s at %s: recorded %s, replayed %s", name,
                                                *coords ? coords : "(outside loops)", want, got);
    if (flor__P.divergences > 100)
        return SQLITE_OK; /* keep the first hundred in detail */
    sqlite3_bind_int64(st_div, 1, flor__P.replay_id);
    sqlite3_bind_text(st_div, 2, coords, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st_div, 3, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st_div, 4, want, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st_div, 5, got, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st_div);
    sqlite3_reset(st_div);
    (void)db;
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int flor__replay_record(sqlite3 *db, const flor__block *b, const flor__rec *r)
{
    int rc = prepare(db);
    if (rc != SQLITE_OK)
        return rc;
    if (r->kind == FLOR__REC_CTX) {
        wctx *c = ctx_slot(r->ctx, 1);
        if (!c)
            return SQLITE_NOMEM;
        c->parent = r->parent;
        c->name = r->name;
        c->iteration = (long)r->v.i;
        const char *up = coords_of(r->parent);
        c->coords = *up ? flor__printf("%s/%s=%ld", up, flor__name_str(r->name), c->iteration)
                        : flor__printf("%s=%ld", flor__name_str(r->name), c->iteration);
        return c->coords ? SQLITE_OK : SQLITE_NOMEM;
    }
    if (r->kind != FLOR__REC_LOG || r->aux == FLOR__PHASE_AFTER || r->aux == FLOR__PHASE_FAILED)
        return SQLITE_OK;
    const char *name = flor__name_str(r->name);
    const char *coords = coords_of(r->ctx);
    const char *text = r->type == FLOR_TEXT ? b->text + r->v.s.off : NULL;
    char key[1024];
    snprintf(key, sizeof key, "%s\037%s", coords, name);
    sent *occ = smap_find(&seen, key, 1);
    if (!occ)
        return SQLITE_NOMEM;
    long k = occ->count++;
    if (smap_find(&names, name, 0))
        return compare(db, coords, name, k, (flor_type)r->type, r->v.i, r->v.r, text);
    if (r->aux == FLOR__PHASE_CATCHUP)
        return SQLITE_OK; /* another segment stores these */
    int64_t dbctx;
    if ((rc = resolve(db, r->ctx, &dbctx, 0)) != SQLITE_OK)
        return rc;
    sqlite3_stmt *st = st_put_log;
    sqlite3_bind_int64(st, 1, flor__P.run_id);
    if (dbctx)
        sqlite3_bind_int64(st, 2, dbctx);
    else
        sqlite3_bind_null(st, 2);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    switch (r->type) {
    case FLOR_INTEGER: sqlite3_bind_int64(st, 4, r->v.i); break;
    case FLOR_REAL: flor__bind_real(st, 4, r->v.r); break;
    case FLOR_TEXT: sqlite3_bind_text(st, 4, text, (int)r->v.s.len, SQLITE_STATIC); break;
    default: sqlite3_bind_null(st, 4);
    }
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return rc;
    flor__P.new_values++;
    return SQLITE_OK;
}

/* ---- the replays table ------------------------------------------------------ */

int flor__replay_begin_row(sqlite3 *db)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT INTO replays(run_id, segment, nsegments, probed, host, pid,"
                                " proc_start, status, started) VALUES (?,?,?,?,?,?,?,'running',?)",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot record the replay");
    flor__buf probes = {0};
    for (int i = 0; i < flor__P.nprobe; i++)
        flor__buf_printf(&probes, "%s%s", i ? "," : "", flor__P.probe[i]);
    char *ident = flor__proc_identity((long)getpid());
    sqlite3_bind_int64(st, 1, flor__P.run_id);
    sqlite3_bind_int64(st, 2, flor__P.seg_pid);
    sqlite3_bind_int64(st, 3, flor__P.seg_n);
    if (probes.p)
        sqlite3_bind_text(st, 4, probes.p, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, 4);
    sqlite3_bind_text(st, 5, flor__hostname(), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, (int64_t)getpid());
    sqlite3_bind_text(st, 7, ident ? ident : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(st, 8, flor__now());
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    flor__buf_release(&probes);
    free(ident);
    if (rc != SQLITE_DONE)
        return flor__err_sqlite(db, rc, "cannot record the replay");
    flor__P.replay_id = sqlite3_last_insert_rowid(db);
    return 0;
}

int flor__replay_end_row(sqlite3 *db, const char *status)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db,
                                "UPDATE replays SET status=?, ended=?, new_values=?, compared=?,"
                                " divergences=?, first_divergence=?, restores=?, error=?"
                                " WHERE replay_id=?",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot finish the replay's record");
    sqlite3_bind_text(st, 1, flor__P.error ? "failed" : status, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 2, flor__now());
    sqlite3_bind_int64(st, 3, flor__P.new_values);
    sqlite3_bind_int64(st, 4, flor__P.compared);
    sqlite3_bind_int64(st, 5, flor__P.divergences);
    if (flor__P.first_divergence)
        sqlite3_bind_text(st, 6, flor__P.first_divergence, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 6);
    sqlite3_bind_int64(st, 7, flor__P.restores);
    if (flor__P.error)
        sqlite3_bind_text(st, 8, flor__P.error, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 8);
    sqlite3_bind_int64(st, 9, flor__P.replay_id);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : flor__err_sqlite(db, rc, "cannot finish the replay's record");
}

/* The one-line report a replay prints when it ends (unless FLOR_QUIET). */
void flor__replay_report(void)
{
    char seg[64] = "";
    if (flor__P.seg_n > 1)
        snprintf(seg, sizeof seg, ", segment %ld/%ld", flor__P.seg_pid, flor__P.seg_n);
    if (flor__P.error) {
        flor__warn("replay of run %lld%s failed: %s", (long long)flor__P.run_id, seg,
                   flor__P.error);
        return;
    }
    if (flor__quiet())
        return;
    if (flor__P.truncated && flor__P.reached < 0)
        fprintf(stderr, "flor: run %lld %s before its loop '%s' began: the replay stopped there "
                        "too\n", (long long)flor__P.run_id, flor__P.run_status, stop_loop);
    else if (flor__P.truncated)
        fprintf(stderr, "flor: run %lld %s in iteration %s=%ld%s: the replay stopped there "
                        "too\n",
                (long long)flor__P.run_id, flor__P.run_status, stop_loop, flor__P.reached,
                frontier_text);
    fprintf(stderr,
            "flor: replay of run %lld%s: %ld new values, %ld compared, %ld divergences, "
            "%ld checkpoints restored\n",
            (long long)flor__P.run_id, seg, flor__P.new_values, flor__P.compared,
            flor__P.divergences, flor__P.restores);
    if (flor__P.first_divergence)
        fprintf(stderr, "flor: first divergence: %s\n", flor__P.first_divergence);
}

void flor__replay_release(void)
{
    flor__restore_pending_release();
    flor_project_free(flor__P.proj);
    sqlite3_finalize(st_find_ctx);
    sqlite3_finalize(st_new_ctx);
    sqlite3_finalize(st_put_log);
    sqlite3_finalize(st_div);
    st_find_ctx = st_new_ctx = st_put_log = st_div = NULL;
    smap_free(&recorded);
    smap_free(&names);
    smap_free(&seen);
    smap_free(&known);
    for (size_t i = 0; i < nctx_cap; i++)
        free(ctxs[i].coords);
    free(ctxs);
    ctxs = NULL;
    nctx = nctx_cap = 0;
    for (int i = 0; i < flor__P.nprobe; i++)
        free(flor__P.probe[i]);
    free(flor__P.ckpts);
    free(flor__P.ckpt_loop);
    free(flor__P.run_spec);
    free(flor__P.error);
    free(flor__P.first_divergence);
    free(flor__P.run_status);
    stop_loop[0] = 0;
    frontier_text[0] = 0;
    for (int k = 0; k < nfrontier; k++)
        free(frontier[k].name);
    nfrontier = 0;
    frontier_cut_depth = -1;
    memset(&flor__P, 0, sizeof flor__P);
}
