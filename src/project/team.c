/*
 * team.c -- the project's team database (docs/team.md): its URL (the
 * project's setting, or FLOR_TEAM_DB for one process), this checkout's id
 * there, and the calls of flor.h that set it, show it and copy to it.
 * The copying itself is team/sync.c's; the background copy of a recording
 * process is replicator.c's.
 */
#include "project/project.h"
#include "team/team.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

int flor__team_url(sqlite3 *db, char **url, const char **source)
{
    *url = NULL;
    *source = NULL;
    const char *env = getenv("FLOR_TEAM_DB");
    if (env) {
        if (!*env)
            return 0; /* FLOR_TEAM_DB= : no team database for this process */
        if (!(*url = flor__strdup(env)))
            return flor__err(FLOR_ENOMEM, "out of memory");
        *source = "FLOR_TEAM_DB";
        return 0;
    }
    int rc = flor__meta_get(db, "team_url", url);
    if (!rc && *url)
        *source = "project";
    return rc;
}

/* 32 random hex digits into HEX. */
static int new_id(char hex[33])
{
    unsigned char r[16];
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = getrandom(r + got, sizeof r - got, 0);
        if (n <= 0)
            return flor__err(FLOR_EIO, "cannot make a checkout id: no random bytes");
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(hex + 2 * i, 3, "%02x", r[i]);
    return 0;
}

int flor__team_checkout_id(sqlite3 *db, char **id)
{
    char hex[33];
    int rc = new_id(hex);
    return rc ? rc : flor__meta_claim(db, "checkout_id", hex, id);
}

int flor__team_connect(const char *url, int timeout_s, flor__pg **out)
{
    int rc = flor__pg_connect(out, url, timeout_s);
    if (rc == 0 && (rc = flor__pg_schema(*out)) != 0) {
        flor__pg_close(*out);
        *out = NULL;
    }
    return rc;
}

int flor__team_who(const char *root, const char *projid, struct flor__team_who *w)
{
    memset(w, 0, sizeof *w);
    if (gethostname(w->host, sizeof w->host - 1) != 0)
        snprintf(w->host, sizeof w->host, "unknown");
    w->root = root;
    w->projid = projid;
    return 0;
}

/* ---- the calls of flor.h ------------------------------------------------------- */

int flor_project_team_set(flor_project *p, const char *url)
{
    flor__err_clear();
    if (!url || !*url)
        return flor__err(FLOR_EINVAL, "expected a team database URL, postgresql://USER@HOST:PORT/DB");
    int has_password = 0;
    char *shown = flor__pg_url_shown(url, &has_password);
    if (!shown)
        return flor__err(FLOR_ENOMEM, "out of memory");
    if (has_password) {
        int rc = flor__err(FLOR_EINVAL,
                           "'%s': the URL holds a password, and flor stores no password: give it "
                           "in PGPASSWORD, ~/.pgpass or a service file, and the URL without it",
                           shown);
        free(shown);
        return rc;
    }
    free(shown);
    flor__pg *pg = NULL;
    int rc = flor__team_connect(url, 10, &pg);
    flor__pg_close(pg);
    char *id = NULL;
    if (!rc)
        rc = flor__team_checkout_id(p->db, &id);
    free(id);
    return rc ? rc : flor__meta_set(p->db, "team_url", url);
}

int flor_project_team_remove(flor_project *p)
{
    flor__err_clear();
    char *url = NULL;
    int rc = flor__meta_get(p->db, "team_url", &url);
    if (!rc && !url)
        return flor__err(FLOR_ENOTFOUND, "this project has no team database");
    free(url);
    return rc ? rc : flor__meta_set(p->db, "team_url", NULL);
}

int flor_project_team_new_id(flor_project *p)
{
    flor__err_clear();
    char hex[33];
    int rc = new_id(hex);
    return rc ? rc : flor__meta_set(p->db, "checkout_id", hex);
}

/* The team's URL for P, or FLOR_ENOTFOUND saying there is none. */
static int team_url(flor_project *p, char **url, const char **source)
{
    int rc = flor__team_url(p->db, url, source);
    if (!rc && !*url)
        rc = flor__err(FLOR_ENOTFOUND,
                       "this project has no team database ('flor team set postgresql://...', "
                       "or FLOR_TEAM_DB)");
    return rc;
}

/* Copies P's journal to PG now; *ID is this checkout's id. */
static int copy_now(flor_project *p, flor__pg *pg, flor__team_sync_stats *st, char **id)
{
    struct flor__team_who w;
    int rc = flor__team_checkout_id(p->db, id);
    if (!rc)
        rc = flor__team_who(p->place.root, p->place.projid, &w);
    if (!rc) {
        flor__team_checkout co = {*id, w.projid, w.host, w.root, NULL};
        rc = flor__team_sync(p->db, pg, &co, st);
    }
    return rc;
}

void flor__team_copy_after(flor_project *p, const char *what)
{
    char *url = NULL, *id = NULL;
    const char *source;
    flor__pg *pg = NULL;
    int rc = flor__team_url(p->db, &url, &source);
    if (!rc && url && (rc = flor__team_connect(url, 5, &pg)) == 0)
        rc = copy_now(p, pg, NULL, &id);
    if (rc)
        flor__warn("%s are not in the team's database yet: %s (they are safe in the local "
                   "database; 'flor team sync' copies them)", what, flor_errmsg());
    flor__pg_close(pg);
    free(url), free(id);
    flor__err_clear();
}

int flor_project_team_sync(flor_project *p, flor_table **out)
{
    *out = NULL;
    flor__err_clear();
    char *url = NULL, *id = NULL;
    const char *source;
    flor__pg *pg = NULL;
    flor__team_sync_stats st = {0};
    int64_t copied = -1, pending = -1;
    int rc = team_url(p, &url, &source);
    if (!rc)
        rc = flor__team_connect(url, 10, &pg);
    if (!rc)
        rc = copy_now(p, pg, &st, &id);
    if (!rc)
        rc = flor__team_copied(p->db, pg, id, &copied, &pending);
    flor__pg_close(pg);
    free(url), free(id);
    if (rc)
        return rc;
    static const char *const cols[] = {"runs", "logs", "pending"};
    flor_table *t = flor__table_new(3, cols);
    size_t row = t ? flor__table_add_row(t) : (size_t)-1;
    if (row == (size_t)-1) {
        flor_table_free(t);
        return flor__err(FLOR_ENOMEM, "out of memory");
    }
    const int64_t v[] = {st.runs, st.logs, pending};
    for (size_t c = 0; c < 3; c++) {
        flor__cell *cell = flor__table_cell(t, row, c);
        cell->type = FLOR_INTEGER;
        cell->v.i = v[c];
    }
    *out = t;
    return 0;
}

int flor_project_team(flor_project *p, flor_table **out)
{
    *out = NULL;
    flor__err_clear();
    static const char *const cols[] = {"url",  "source", "checkout", "host",   "path",
                                       "server", "copied", "pending"};
    flor_table *t = flor__table_new(8, cols);
    if (!t)
        return flor__err(FLOR_ENOMEM, "out of memory");
    char *url = NULL, *id = NULL;
    const char *source;
    int rc = flor__team_url(p->db, &url, &source);
    if (rc) {
        flor_table_free(t);
        return rc;
    }
    if (!url) { /* no team database: no row */
        *out = t;
        return 0;
    }
    struct flor__team_who w;
    flor__team_who(p->place.root, p->place.projid, &w);
    rc = flor__meta_get(p->db, "checkout_id", &id);
    size_t row = rc ? (size_t)-1 : flor__table_add_row(t);
    char *shown = flor__pg_url_shown(url, NULL);
    if (!rc && (row == (size_t)-1 || !shown))
        rc = flor__err(FLOR_ENOMEM, "out of memory");
    if (!rc) {
        flor__table_set_text(t, row, 0, shown);
        flor__table_set_text(t, row, 1, source);
        flor__table_set_text(t, row, 2, id); /* NULL until the first copy */
        flor__table_set_text(t, row, 3, w.host);
        flor__table_set_text(t, row, 4, w.root);
        /* The server: reached, with this checkout's mark, or why not. */
        flor__pg *pg = NULL;
        int64_t copied = -1, pending = -1;
        int crc = flor__team_connect(url, 5, &pg);
        if (!crc)
            crc = flor__team_copied(p->db, pg, id, &copied, &pending);
        flor__table_set_text(t, row, 5, crc ? flor_errmsg() : "ok");
        flor__pg_close(pg);
        flor__err_clear();
        if (copied >= 0) {
            flor__cell *c = flor__table_cell(t, row, 6);
            c->type = FLOR_INTEGER, c->v.i = copied;
        }
        if (pending >= 0) {
            flor__cell *c = flor__table_cell(t, row, 7);
            c->type = FLOR_INTEGER, c->v.i = pending;
        }
    }
    free(shown), free(url), free(id);
    if (rc) {
        flor_table_free(t);
        return rc;
    }
    *out = t;
    return 0;
}
