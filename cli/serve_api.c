/*
 * serve_api.c -- the JSON endpoints of flor serve, each over flor.h's read
 * calls (docs/serve.md lists them):
 *
 *   /api/runs                 the columns of flor_project_runs but logs
 *   /api/changes              what grows while runs record, for polling
 *   /api/dataframe            flor_project_dataframe with no names
 *   /api/names                the names logged inside loops
 *   /api/series?name=N[&runs=1,2][&digits=D]  the curves of N (series.c)
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

static void api_names(flor_project *p, serve_reply *r)
{
    flor_table *t = NULL;
    /* through the indexes (logs_by_name; logs_replayed_once holds only the
     * values of replays): a GROUP BY over the logs would read them all */
    int rc = flor_project_query(p,
                                "SELECT n.name, n.name IN (SELECT name FROM main.logs"
                                " WHERE source = 'replay') AS hindsight"
                                " FROM (SELECT DISTINCT name FROM main.logs) n"
                                " WHERE EXISTS (SELECT 1 FROM main.logs l WHERE l.name = n.name"
                                " AND l.ctx_id IS NOT NULL) ORDER BY n.name",
                                &t);
    send_table(r, rc, t);
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

static void api_series(flor_project *p, serve_param_fn param, void *req, serve_reply *r)
{
    const char *name = param(req, "name");
    if (!name || !*name) {
        fail(r, 400, "name: expected the name of a logged value");
        return;
    }
    /* digits=D: the values rounded to D significant digits, for a plot
     * (about a third of the time and half the bytes of exact values) */
    const char *d = param(req, "digits");
    int digits = 0;
    if (d && (strlen(d) > 2 || (digits = atoi(d)) < 1 || digits > 17 || d[strspn(d, "0123456789")])) {
        fail(r, 400, "digits: expected a number of significant digits from 1 to 17");
        return;
    }
    int64_t *runs;
    size_t n;
    if (!parse_runs(param(req, "runs"), &runs, &n, r))
        return;
    cli_series_set set;
    int rc = cli_series_read(p, name, runs, n, NULL, &set);
    free(runs);
    if (rc) {
        fail(r, rc == FLOR_EINVAL ? 400 : 500, flor_errmsg());
        return;
    }
    series_json(&r->body, name, &set, digits);
    cli_series_release(&set);
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
    } else if (!p) {
        /* the reply says why */
    } else if (listing) {
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
    pthread_mutex_unlock(&ctx->lock);
}
