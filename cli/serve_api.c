/*
 * serve_api.c -- the JSON endpoints of flor serve, each over flor.h's read
 * calls (docs/serve.md lists them):
 *
 *   /api/runs                 the columns of flor_project_runs but logs
 *   /api/changes              what grows while runs record, for polling
 *   /api/dataframe            flor_project_dataframe with no names
 *   /api/names                the names logged inside loops
 *   /api/series?name=N[&runs=1,2][&digits=D][&format=f64]  the curves of N
 *                             (series.c), as JSON or as binary arrays
 *   /api/run?id=N             a run: its row, args, checkpoints, replays
 *   /api/diff?a=N&b=M         flor_project_diff's text
 *
 * No parameter is ever pasted into SQL but as a quoted literal or a
 * checked integer; every query runs on flor_project_query's read-only
 * connection besides.
 */
#include "cli.h"
#include "serve.h"
#include "series.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUERY_TIMEOUT 30.0

static void fail(serve_reply *r, unsigned status, const char *msg)
{
    r->status = status;
    cli_buf_puts(&r->body, "{\"error\":");
    cli_json_string(&r->body, msg);
    cli_buf_putc(&r->body, '}');
}

/* A positive run id in TEXT into *OUT; false when it is not one. */
static bool parse_run(const char *text, int64_t *out)
{
    if (!text || *text < '1' || *text > '9' || strlen(text) > 18)
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (*end || errno)
        return false;
    *out = v;
    return true;
}

/* runs=1,2,3 into a new array; false with R failed when malformed. */
static bool parse_runs(const char *text, int64_t **runs, size_t *n, serve_reply *r)
{
    *runs = NULL;
    *n = 0;
    if (!text || !*text)
        return true;
    size_t cap = 1;
    for (const char *s = text; *s; s++)
        cap += *s == ',';
    if (cap > CLI_SERIES_MAX_RUNS) {
        fail(r, 400, "runs: too many runs in one request");
        return false;
    }
    *runs = malloc(cap * sizeof **runs);
    if (!*runs) {
        fail(r, 500, "out of memory");
        return false;
    }
    const char *s = text;
    while (*n < cap) {
        char word[24];
        size_t len = strcspn(s, ",");
        if (len >= sizeof word)
            len = sizeof word - 1;
        memcpy(word, s, len);
        word[len] = '\0';
        if (!parse_run(word, &(*runs)[*n]) || (s[len] != ',' && s[len] != '\0')) {
            free(*runs);
            *runs = NULL;
            fail(r, 400, "runs: expected run ids (positive integers) separated by commas");
            return false;
        }
        ++*n;
        if (!s[len])
            break;
        s += len + 1;
    }
    return true;
}

/* Opens the project at the first request that finds it. */
static flor_project *project(serve_ctx *ctx, serve_reply *r)
{
    if (!ctx->project) {
        int rc = flor_project_open(&ctx->project, NULL);
        if (rc) {
            ctx->project = NULL;
            fail(r, rc == FLOR_ENOTFOUND ? 404 : 500, flor_errmsg());
            return NULL;
        }
        flor_project_set_timeout(ctx->project, QUERY_TIMEOUT);
    }
    return ctx->project;
}

static void send_table(serve_reply *r, int rc, flor_table *t)
{
    if (rc)
        fail(r, rc == FLOR_EINVAL ? 400 : rc == FLOR_ENOTFOUND ? 404 : 500, flor_errmsg());
    else
        cli_json_table(&r->body, t);
    flor_table_free(t);
}

/* The runs, as flor_project_runs has them but for its count of logs: that
 * count scans every log of the project once per run (logs has no index on
 * run_id alone), tens of seconds for a thousand runs, and the page asks
 * every few seconds.  A run of several ranks is its rank 0's row, with the
 * status of the whole. */
static const char runs_sql[] =
    "SELECT r.run_id AS run, r.projid, r.tstamp, r.filename, r.vid,"
    " CASE WHEN max(s.status = 'running') THEN 'running'"
    " WHEN max(s.status = 'killed') THEN 'killed' WHEN max(s.status = 'failed') THEN 'failed'"
    " ELSE 'finished' END AS status, r.host, r.pid,"
    " strftime('%Y-%m-%dT%H:%M:%S', r.start_time, 'unixepoch', 'localtime') AS started,"
    " strftime('%Y-%m-%dT%H:%M:%S', r.end_time, 'unixepoch', 'localtime') AS ended,"
    " round(r.end_time - r.start_time, 3) AS seconds,"
    " (SELECT count(*) FROM checkpoints c WHERE c.run_id = r.run_id) AS checkpoints,"
    " round(r.ckpt_overhead, 5) AS overhead,"
    " (SELECT count(*) FROM replays x WHERE x.run_id = r.run_id) AS replays,"
    " (SELECT coalesce(sum(x.divergences), 0) FROM replays x WHERE x.run_id = r.run_id)"
    " AS divergences, r.argv, r.reason, r.world_size AS ranks"
    " FROM runs r JOIN runs s ON s.projid = r.projid AND s.tstamp = r.tstamp"
    " WHERE r.rank = 0 GROUP BY r.run_id ORDER BY r.run_id";

/* A fingerprint of everything the page shows: the page polls it and
 * reloads the rest only when it changed. */
static const char changes_sql[] =
    "SELECT (SELECT group_concat(status || '=' || n) FROM"
    " (SELECT status, count(*) AS n FROM runs GROUP BY status)) AS runs,"
    " (SELECT max(rowid) FROM main.logs) AS logs,"
    " (SELECT count(*) FROM checkpoints) AS checkpoints,"
    " (SELECT count(*) || ':' || coalesce(sum(divergences), 0) FROM replays) AS replays";

/* The names logged inside loops, in order, through the indexes
 * (logs_by_name): each found by one seek past the one before (a DISTINCT
 * or a GROUP BY would read every log: 45 ms for 1 M). */
#define LOOP_NAMES_SQL                                                                        \
    "WITH RECURSIVE n(name) AS (SELECT (SELECT min(name) FROM main.logs) UNION ALL"         \
    " SELECT (SELECT min(name) FROM main.logs WHERE name > n.name) FROM n"                  \
    " WHERE n.name IS NOT NULL), loop_names AS (SELECT name FROM n WHERE name IS NOT NULL"  \
    " AND EXISTS (SELECT 1 FROM main.logs l WHERE l.name = n.name AND l.ctx_id IS NOT NULL))"

static void api_names(flor_project *p, serve_reply *r)
{
    flor_table *t = NULL;
    /* logs_replayed_once holds only the values of replays */
    int rc = flor_project_query(p,
                                LOOP_NAMES_SQL " SELECT name, name IN (SELECT name FROM main.logs"
                                " WHERE source = 'replay') AS hindsight FROM loop_names"
                                " ORDER BY name",
                                &t);
    send_table(r, rc, t);
}

/* The name the page draws first (as app.js's florFirstMetric): WANTED
 * when it was logged inside a loop, else the first such name with "loss"
 * in it, else the first; "" when there is none.  Malloc'd into *OUT. */
static int first_name(flor_project *p, const char *wanted, char **out)
{
    *out = NULL;
    char *quoted = cli_sql_quote(wanted);
    char *sql = quoted ? cli_printf(LOOP_NAMES_SQL " SELECT name FROM loop_names"
                                                   " ORDER BY name <> %s, instr(name, 'loss') = 0,"
                                                   " name LIMIT 1",
                                    quoted)
                       : NULL;
    free(quoted);
    flor_table *t = NULL;
    int rc = sql ? flor_project_query(p, sql, &t) : FLOR_ENOMEM;
    free(sql);
    if (rc == 0) {
        const char *name = flor_table_nrows(t) ? flor_table_text(t, 0, 0) : NULL;
        *out = strdup(name ? name : "");
        rc = *out ? 0 : FLOR_ENOMEM;
    }
    flor_table_free(t);
    return rc;
}

/* V with DIGITS significant digits (0: exactly, in its shortest form). */
static void json_value(cli_buf *b, double v, int digits)
{
    if (!digits || !isfinite(v)) {
        cli_json_real(b, v);
        return;
    }
    char text[40];
    int n = snprintf(text, sizeof text, "%.*g", digits, v);
    cli_buf_write(b, text, (size_t)n);
}

static void series_json(cli_buf *b, const char *name, const cli_series_set *set, int digits)
{
    cli_buf_puts(b, "{\"name\":");
    cli_json_string(b, name);
    cli_buf_puts(b, ",\"series\":[");
    for (size_t k = 0; k < set->count; k++) {
        const cli_series *s = &set->s[k];
        cli_buf_puts(b, k ? ",{\"run\":" : "{\"run\":");
        cli_buf_int(b, s->run);
        cli_buf_puts(b, ",\"y\":[");
        for (size_t i = 0; i < s->n; i++) {
            if (i)
                cli_buf_putc(b, ',');
            json_value(b, s->y[i], digits);
        }
        /* the hindsight values as [first, last] ranges of positions */
        cli_buf_puts(b, "],\"replay\":[");
        bool first = true;
        for (size_t i = 0; i < s->n; i++) {
            if (!s->replay[i])
                continue;
            size_t j = i;
            while (j + 1 < s->n && s->replay[j + 1])
                j++;
            cli_buf_printf(b, "%s[%zu,%zu]", first ? "" : ",", i, j);
            first = false;
            i = j;
        }
        cli_buf_puts(b, "],\"divergences\":[");
        for (size_t i = 0; i < s->ndiv; i++)
            cli_buf_printf(b, "%s%zu", i ? "," : "", s->div[i]);
        cli_buf_puts(b, "]}");
    }
    cli_buf_puts(b, "]}");
}

/* ---- format=f64: the series as binary arrays (docs/serve.md) ----------------
 *
 * The 8 bytes "FLORF64\n", the name's length L as a little-endian uint64
 * and its L bytes, zero-padded to a multiple of 8; then little-endian
 * float64 words: the number of series, then for each: its run, N, H, D,
 * its N values, H hindsight ranges as [first, last] positions, D
 * divergent positions.  Written as flor_project_series hands the values
 * over; a series' counts are filled in once its last value is written. */

#define F64_MAGIC "FLORF64\n"

static void put_f64(cli_buf *b, double v)
{
    unsigned char w[8];
    memcpy(w, &v, sizeof w);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    for (int i = 0; i < 4; i++) {
        unsigned char t = w[i];
        w[i] = w[7 - i];
        w[7 - i] = t;
    }
#endif
    cli_buf_write(b, (const char *)w, sizeof w);
}

typedef struct f64_writer {
    cli_buf *b;
    size_t start;         /* where the float64 words start */
    size_t series;        /* how many so far */
    size_t head;          /* the word of the series under way's run */
    size_t n, ndiv;       /* its values and divergences so far */
    cli_buf ranges, divs; /* its hindsight ranges and divergences, as words */
    int64_t open;         /* first position of the hindsight range under way; -1: none */
} f64_writer;

/* Word K of W, rewritten to V. */
static void set_f64(f64_writer *w, size_t k, double v)
{
    cli_buf *b = w->b;
    size_t at = w->start + 8 * k, end = b->n;
    if (b->failed || at + 8 > end)
        return;
    b->n = at;
    put_f64(b, v);
    b->n = end;
}

static size_t words(const f64_writer *w)
{
    return (w->b->n - w->start) / 8;
}

static int f64_begin(void *arg, int64_t run)
{
    f64_writer *w = arg;
    w->head = words(w);
    put_f64(w->b, (double)run);
    for (int i = 0; i < 3; i++)
        put_f64(w->b, 0); /* N, H, D: filled in by f64_end */
    w->n = w->ndiv = 0;
    w->ranges.n = w->divs.n = 0;
    w->open = -1;
    return w->b->failed ? FLOR_ENOMEM : 0;
}

static void end_range(f64_writer *w, size_t last)
{
    if (w->open < 0)
        return;
    put_f64(&w->ranges, (double)w->open);
    put_f64(&w->ranges, (double)last);
    w->open = -1;
}

static int f64_point(void *arg, const flor_point *pt, unsigned divergences)
{
    f64_writer *w = arg;
    put_f64(w->b, pt->value);
    if (pt->hindsight && w->open < 0)
        w->open = (int64_t)w->n;
    else if (!pt->hindsight && w->open >= 0)
        end_range(w, w->n - 1);
    for (; divergences; divergences--, w->ndiv++)
        put_f64(&w->divs, (double)w->n);
    w->n++;
    return w->b->failed || w->ranges.failed || w->divs.failed ? FLOR_ENOMEM : 0;
}

static int f64_end(void *arg, int64_t run)
{
    f64_writer *w = arg;
    (void)run;
    end_range(w, w->n - 1);
    if (w->ranges.failed || w->divs.failed)
        return FLOR_ENOMEM;
    cli_buf_write(w->b, w->ranges.s ? w->ranges.s : "", w->ranges.n);
    cli_buf_write(w->b, w->divs.s ? w->divs.s : "", w->divs.n);
    set_f64(w, w->head + 1, (double)w->n);
    set_f64(w, w->head + 2, (double)(w->ranges.n / 16));
    set_f64(w, w->head + 3, (double)w->ndiv);
    w->series++;
    return w->b->failed ? FLOR_ENOMEM : 0;
}

/* The series of NAME as binary arrays into R. */
static int series_f64(flor_project *p, const char *name, const int64_t *runs, size_t n,
                      serve_reply *r)
{
    f64_writer w = {.b = &r->body, .open = -1};
    cli_buf_write(w.b, F64_MAGIC, sizeof F64_MAGIC - 1);
    size_t len = strlen(name);
    unsigned char le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (unsigned char)((uint64_t)len >> (8 * i));
    cli_buf_write(w.b, (const char *)le, sizeof le);
    cli_buf_write(w.b, name, len);
    cli_buf_write(w.b, "\0\0\0\0\0\0\0", (8 - len % 8) % 8);
    w.start = w.b->n;
    put_f64(w.b, 0); /* the number of series: filled in at the end */
    cli_series_visitor v = {f64_begin, f64_point, f64_end, &w};
    int rc = *name ? cli_series_each(p, name, runs, n, NULL, &v) : 0; /* "": no name logged */
    set_f64(&w, 0, (double)w.series);
    cli_buf_release(&w.ranges);
    cli_buf_release(&w.divs);
    if (rc == 0 && w.b->failed)
        rc = FLOR_ENOMEM;
    if (rc == 0)
        r->type = "application/octet-stream";
    else
        cli_buf_release(w.b);
    return rc;
}

static void api_series_of(flor_project *p, const char *name, serve_param_fn param, void *req,
                          serve_reply *r)
{
    /* digits=D: the values rounded to D significant digits, for a plot
     * (about a third of the time and half the bytes of exact values) */
    const char *d = param(req, "digits");
    int digits = 0;
    if (d && (strlen(d) > 2 || (digits = atoi(d)) < 1 || digits > 17 || d[strspn(d, "0123456789")])) {
        fail(r, 400, "digits: expected a number of significant digits from 1 to 17");
        return;
    }
    /* format=f64: binary arrays; json (the default): text */
    const char *format = param(req, "format");
    bool f64 = format && strcmp(format, "f64") == 0;
    if (format && !f64 && strcmp(format, "json") != 0) {
        fail(r, 400, "format: expected json or f64");
        return;
    }
    int64_t *runs;
    size_t n;
    if (!parse_runs(param(req, "runs"), &runs, &n, r))
        return;
    cli_series_set set = {0};
    int rc = f64      ? series_f64(p, name, runs, n, r)
             : *name ? cli_series_read(p, name, runs, n, NULL, &set)
                      : 0; /* first=1 and no name logged yet */
    free(runs);
    if (rc) {
        fail(r, rc == FLOR_EINVAL ? 400 : 500, flor_errmsg());
        return;
    }
    if (f64)
        return;
    series_json(&r->body, name, &set, digits);
    cli_series_release(&set);
}

static void api_series(flor_project *p, serve_param_fn param, void *req, serve_reply *r)
{
    const char *name = param(req, "name");
    /* first=1: the name the page draws first, when NAME is not one logged
     * inside a loop (boot.js asks before it knows the names) */
    const char *first = param(req, "first");
    if (first && strcmp(first, "1") != 0) {
        fail(r, 400, "first: expected 1");
        return;
    }
    char *picked = NULL;
    if (first) {
        int rc = first_name(p, name ? name : "", &picked);
        if (rc) {
            fail(r, 500, flor_errmsg());
            return;
        }
        name = picked;
    } else if (!name || !*name) {
        fail(r, 400, "name: expected the name of a logged value");
        return;
    }
    api_series_of(p, name, param, req, r);
    free(picked);
}

/* "KEY": the rows of SQL (the run's id in it as %lld). */
static int member(flor_project *p, cli_buf *b, const char *key, const char *sql, int64_t run)
{
    char *text = cli_printf(sql, (long long)run);
    flor_table *t = NULL;
    int rc = text ? flor_project_query(p, text, &t) : FLOR_ENOMEM;
    free(text);
    if (rc == 0) {
        cli_buf_printf(b, ",\"%s\":", key);
        cli_json_table(b, t);
    }
    flor_table_free(t);
    return rc;
}

static void api_run(flor_project *p, serve_param_fn param, void *req, serve_reply *r)
{
    int64_t run;
    if (!parse_run(param(req, "id"), &run)) {
        fail(r, 400, "id: expected a run id (a positive integer)");
        return;
    }
    flor_table *ck = NULL;
    cli_buf b = {0};
    cli_buf_printf(&b, "{\"id\":%lld", (long long)run);
    int rc = member(p, &b, "run",
                    "SELECT run_id, projid, tstamp, filename, vid, status, host, pid,"
                    " datetime(start_time, 'unixepoch', 'localtime') AS started,"
                    " end_time - start_time AS seconds, reason, argv, rank, world_size"
                    " FROM runs WHERE run_id = %lld",
                    run);
    rc = rc ? rc
            : member(p, &b, "args",
                     "SELECT name, value, typeof(value) AS type, from_kwargs FROM args"
                     " WHERE run_id = %lld ORDER BY ord",
                     run);
    rc = rc ? rc
            : member(p, &b, "replays",
                     "SELECT replay_id, segment, nsegments, probed, status,"
                     " datetime(started, 'unixepoch', 'localtime') AS started,"
                     " ended - started AS seconds, new_values, compared, divergences,"
                     " first_divergence, restores, error FROM replays WHERE run_id = %lld"
                     " ORDER BY replay_id",
                     run);
    rc = rc ? rc
            : member(p, &b, "divergences",
                     "SELECT d.replay_id, d.coords, d.name, d.recorded, d.replayed"
                     " FROM divergences d JOIN replays r ON r.replay_id = d.replay_id"
                     " WHERE r.run_id = %lld ORDER BY d.rowid",
                     run);
    rc = rc ? rc : flor_project_checkpoints(p, run, &ck);
    if (rc == 0) {
        cli_buf_puts(&b, ",\"checkpoints\":");
        cli_json_table(&b, ck);
        cli_buf_putc(&b, '}');
        r->body = b;
    } else {
        cli_buf_release(&b);
        fail(r, rc == FLOR_EINVAL ? 400 : 500, flor_errmsg());
    }
    flor_table_free(ck);
}

static void api_diff(flor_project *p, serve_param_fn param, void *req, serve_reply *r)
{
    int64_t a, b;
    if (!parse_run(param(req, "a"), &a) || !parse_run(param(req, "b"), &b)) {
        fail(r, 400, "a, b: expected two run ids (positive integers)");
        return;
    }
    char *text = NULL;
    int rc = flor_project_diff(p, a, b, &text);
    if (rc) {
        fail(r, rc == FLOR_ENOTFOUND ? 404 : 500, flor_errmsg());
    } else {
        cli_buf_puts(&r->body, "{\"text\":");
        cli_json_string(&r->body, text);
        cli_buf_putc(&r->body, '}');
    }
    free(text);
}

/* The parameters any answer reads: with the path, an answer's key. */
static const char *const PARAMS[] = {"a", "b", "digits", "first", "format", "id", "name", "runs"};

/* The key of the answer to PATH with its parameters (each as its length
 * and its text, so that no value can pass for another); NULL: no memory. */
static char *answer_key(const char *path, serve_param_fn param, void *req)
{
    cli_buf k = {0};
    cli_buf_puts(&k, path);
    for (size_t i = 0; i < sizeof PARAMS / sizeof *PARAMS; i++) {
        const char *v = param(req, PARAMS[i]);
        if (v && *v) /* absent and empty read the same */
            cli_buf_printf(&k, "&%s=%zu:%s", PARAMS[i], strlen(v), v);
    }
    size_t n;
    return cli_buf_take(&k, &n);
}

/* Reads the answer to PATH into R; P is open, the lock held. */
static void answer(flor_project *p, const char *path, serve_param_fn param, void *req,
                   serve_reply *r)
{
    bool listing = strcmp(path, "/api/runs") == 0 || strcmp(path, "/api/changes") == 0;
    if (listing) {
        flor_table *t = NULL;
        int rc = flor_project_query(p, path[5] == 'r' ? runs_sql : changes_sql, &t);
        send_table(r, rc, t);
    } else if (strcmp(path, "/api/dataframe") == 0) {
        flor_table *t = NULL;
        int rc = flor_project_dataframe(p, NULL, 0, &t);
        send_table(r, rc, t);
    } else if (strcmp(path, "/api/names") == 0) {
        api_names(p, r);
    } else if (strcmp(path, "/api/series") == 0) {
        api_series(p, param, req, r);
    } else if (strcmp(path, "/api/run") == 0) {
        api_run(p, param, req, r);
    } else if (strcmp(path, "/api/diff") == 0) {
        api_diff(p, param, req, r);
    } else {
        fail(r, 404, "no such endpoint");
    }
}

void serve_api(serve_ctx *ctx, const char *path, serve_param_fn param, void *req,
               serve_reply *r)
{
    r->status = 200;
    pthread_mutex_lock(&ctx->lock);
    flor_project *p = project(ctx, r);
    bool listing = strcmp(path, "/api/runs") == 0 || strcmp(path, "/api/changes") == 0;
    if (!p && listing && r->status == 404) {
        /* no run yet: an empty list, which the page polls until one comes */
        cli_buf_release(&r->body);
        r->status = 200;
        cli_buf_puts(&r->body, "{\"columns\":[],\"rows\":[]}");
    } else if (p) {
        /* the version is taken before the read: a change while it reads
         * makes the answer older than the next version, never newer */
        uint64_t version;
        char *key = ctx->cache && flor_project_version(p, &version) == 0
                        ? answer_key(path, param, req)
                        : NULL;
        if (!key || !serve_cache_get(ctx->cache, key, version, r)) {
            answer(p, path, param, req, r);
            if (key) {
                r->cache = "miss";
                serve_cache_put(ctx->cache, key, version, r);
            }
        }
        free(key);
    }
    pthread_mutex_unlock(&ctx->lock);
}

bool serve_api_version(serve_ctx *ctx, uint64_t *version)
{
    serve_reply r = {0};
    pthread_mutex_lock(&ctx->lock);
    flor_project *p = project(ctx, &r);
    bool ok = p && flor_project_version(p, version) == 0;
    pthread_mutex_unlock(&ctx->lock);
    cli_buf_release(&r.body);
    return ok;
}
