/*
 * team_view.c -- reading the team's runs (docs/team.md, "Reading the
 * team's runs"): flor_project_team_open refreshes the checkout's read
 * replica of the team's PostgreSQL and opens it as a read-only project;
 * flor_project_team_query runs SQL on the server itself.
 */
#include "project/project.h"
#include "team/team.h"
#include "base/bytes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CONNECT_TIMEOUT_S 5
#define REFRESH_TIMEOUT_MS (10 * 60 * 1000)

/* The project's team database URL, malloc'd into *URL (NULL: none):
 * FLOR_TEAM_DB, else the project's setting (project/team.c). */
static int team_url(flor_project *p, char **url)
{
    const char *source = NULL;
    return flor__team_url(p->db, url, &source);
}

static int no_team(flor_project *p)
{
    return flor__err(FLOR_ENOTFOUND,
                     "project '%s' has no team database (set one with 'flor team set URL', or "
                     "FLOR_TEAM_DB=postgresql://USER@HOST:PORT/DB for one process)",
                     p->place.projid);
}

/* The replica's directory for URL: DATADIR/team/KEY, KEY a hash of the
 * URL as shown (without its password), made if missing. */
static int replica_dir(flor_project *p, const char *shown, char **dir)
{
    *dir = NULL;
    flor__hash h = flor__hash_of(shown, strlen(shown));
    char hex[33];
    flor__hash_hex(&h, hex);
    hex[16] = 0;
    char *team = flor__printf("%s/team", p->place.datadir);
    char *d = flor__printf("%s/team/%s", p->place.datadir, hex);
    int rc = 0;
    if (!team || !d)
        rc = flor__err(FLOR_ENOMEM, "out of memory");
    else if ((mkdir(team, 0777) != 0 && errno != EEXIST) || (mkdir(d, 0777) != 0 && errno != EEXIST))
        rc = flor__err(FLOR_EIO, "cannot create %s: %s", d, strerror(errno));
    free(team);
    if (rc)
        free(d);
    else
        *dir = d;
    return rc;
}

/* Refreshes the replica in DIR from URL.  A server that cannot be reached
 * (FLOR_EIO) leaves the replica as last refreshed, with a warning; with
 * no refresh ever made, the failure is returned. */
/* The replica is a copy of the server's rows: a damaged one (or one that
 * is not flor's) is made anew, with a warning, rather than blocking reads. */
static int open_replica(const char *dir, sqlite3 **db)
{
    int rc = flor__db_open_replica(dir, db);
    if (rc != FLOR_ECORRUPT)
        return rc;
    flor__warn("%s; making the team's replica anew from the team database", flor_errmsg());
    const char *files[] = {"flor.db", "flor.db-wal", "flor.db-shm"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char *path = flor__printf("%s/%s", dir, files[i]);
        if (!path)
            return flor__err(FLOR_ENOMEM, "out of memory");
        if (unlink(path) != 0 && errno != ENOENT)
            rc = flor__err(FLOR_EIO, "cannot remove %s: %s", path, strerror(errno));
        free(path);
        if (rc != FLOR_ECORRUPT)
            return rc;
    }
    flor__err_clear();
    return flor__db_open_replica(dir, db);
}

/* Refreshes the replica in DIR from URL, then puts this checkout's own
 * replays, checkpoints and resumes there from its journal P (the server
 * holds no such rows). */
static int refresh(flor_project *p, const char *dir, const char *url, const char *shown)
{
    sqlite3 *db = NULL;
    int rc = open_replica(dir, &db);
    if (rc)
        return rc;
    flor__pg *pg = NULL;
    rc = flor__pg_connect(&pg, url, CONNECT_TIMEOUT_S);
    if (rc == 0)
        rc = flor__team_refresh(db, pg, shown, REFRESH_TIMEOUT_MS, NULL);
    flor__pg_close(pg);
    /* FLOR_ENOTFOUND is for a project without a team database only */
    if (rc == FLOR_ENOTFOUND)
        rc = flor__err_wrap(FLOR_EINVAL, "the team database");
    if (rc == FLOR_EIO) {
        double when = 0;
        char *why = flor__strdup(flor_errmsg());
        if (flor__team_refreshed(db, &when) == 0 && when > 0 && why) {
            char stamp[64];
            time_t t = (time_t)when;
            struct tm tm;
            strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&t, &tm));
            flor__warn("%s; showing the team's runs as last read from it, at %s", why, stamp);
            flor__err_clear();
            rc = 0;
        } else if (why) {
            rc = flor__err(FLOR_EIO, "cannot read the team's runs (never read before): %s", why);
        }
        free(why);
    }
    char *id = NULL, *journal = NULL;
    if (rc == 0)
        rc = flor__meta_get(p->db, "checkout_id", &id);
    if (rc == 0 && id && !(journal = flor__printf("%s/flor.db", p->place.datadir)))
        rc = flor__err(FLOR_ENOMEM, "out of memory");
    if (rc == 0 && id)
        rc = flor__mirror_own(db, journal, id);
    free(id), free(journal);
    sqlite3_close(db);
    return rc;
}

int flor_project_team_open(flor_project *p, flor_project **team)
{
    if (team)
        *team = NULL;
    flor__err_clear();
    if (!p || !team)
        return flor__err(FLOR_EINVAL, "flor_project_team_open: NULL argument");
    char *url = NULL, *shown = NULL, *dir = NULL;
    int rc = team_url(p, &url);
    if (rc == 0 && !url)
        rc = no_team(p);
    if (rc == 0 && !(shown = flor__pg_url_shown(url, NULL)))
        rc = flor__err(FLOR_ENOMEM, "out of memory");
    if (rc == 0)
        rc = replica_dir(p, shown, &dir);
    if (rc == 0)
        rc = refresh(p, dir, url, shown);
    flor_project *t = NULL;
    if (rc == 0 && !(t = calloc(1, sizeof *t)))
        rc = flor__err(FLOR_ENOMEM, "out of memory");
    if (rc == 0) {
        t->place.root = flor__strdup(p->place.root);
        t->place.projid = flor__strdup(p->place.projid);
        t->place.gitdir = p->place.gitdir ? flor__strdup(p->place.gitdir) : NULL;
        t->place.datadir = dir, dir = NULL;
        t->timeout_s = p->timeout_s;
        if (!t->place.root || !t->place.projid || (p->place.gitdir && !t->place.gitdir))
            rc = flor__err(FLOR_ENOMEM, "out of memory");
    }
    /* read only: neither a query nor the dataframe can change the replica */
    if (rc == 0)
        rc = flor__db_open(t->place.datadir, 0, 1, &t->db);
    free(url), free(shown), free(dir);
    if (rc) {
        flor_project_free(t);
        return rc;
    }
    *team = t;
    return 0;
}

int flor_project_team_query(flor_project *p, const char *sql, flor_table **out)
{
    if (out)
        *out = NULL;
    flor__err_clear();
    if (!p || !sql || !out)
        return flor__err(FLOR_EINVAL, "flor_project_team_query: NULL argument");
    char *url = NULL;
    int rc = team_url(p, &url);
    if (rc == 0 && !url)
        rc = no_team(p);
    flor__pg *pg = NULL;
    if (rc == 0)
        rc = flor__pg_connect(&pg, url, CONNECT_TIMEOUT_S);
    if (rc == 0)
        rc = flor__team_query(pg, sql, p->timeout_s > 0 ? (int)(p->timeout_s * 1000 + 0.5) : 0,
                              out);
    flor__pg_close(pg);
    free(url);
    return rc;
}
