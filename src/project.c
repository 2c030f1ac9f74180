/*
 * project.c -- a project: the git work tree (or directory) a program runs
 * in, its projid, and its data directory; and the read side of the API
 * (flor_project_open, query, runs).
 */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void flor__place_release(flor__place *pl)
{
    free(pl->root);
    free(pl->projid);
    free(pl->datadir);
    free(pl->gitdir);
    memset(pl, 0, sizeof *pl);
}

static char *absolute(const char *path)
{
    if (path[0] == '/')
        return flor__strdup(path);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return NULL;
    return flor__printf("%s/%s", cwd, path);
}

int flor__place_find(flor__place *pl, const char *dir)
{
    memset(pl, 0, sizeof *pl);
    char cwd[PATH_MAX];
    if (!dir) {
        if (!getcwd(cwd, sizeof cwd))
            return flor__err(FLOR_EIO, "cannot get the working directory: %s", strerror(errno));
        dir = cwd;
    }
    int rc = flor__git_discover(dir, &pl->root, &pl->gitdir);
    if (rc)
        return rc;
    if (!pl->root) {
        char real[PATH_MAX];
        if (!realpath(dir, real))
            return flor__err(FLOR_ENOTFOUND, "%s: %s", dir, strerror(errno));
        pl->root = flor__strdup(real);
    }
    const char *slash = strrchr(pl->root, '/');
    pl->projid = flor__strdup(slash && slash[1] ? slash + 1 : pl->root);
    const char *env = getenv("FLOR_DIR");
    pl->datadir = env && *env ? absolute(env) : flor__printf("%s/.flor", pl->root);
    if (!pl->root || !pl->projid || !pl->datadir) {
        flor__place_release(pl);
        return flor__err(FLOR_ENOMEM, "out of memory");
    }
    return 0;
}

/* Adds "/.flor/" (the data directory relative to the root) to the
 * repository's info/exclude, once, so the user's `git status` stays clean. */
static int exclude_datadir(const flor__place *pl)
{
    size_t rl = strlen(pl->root);
    if (!pl->gitdir || strncmp(pl->datadir, pl->root, rl) != 0 || pl->datadir[rl] != '/')
        return 0;
    char *line = flor__printf("/%s/", pl->datadir + rl + 1);
    char *info = flor__printf("%s/info", pl->gitdir);
    char *path = flor__printf("%s/info/exclude", pl->gitdir);
    int rc = 0;
    if (!line || !info || !path) {
        rc = flor__err(FLOR_ENOMEM, "out of memory");
        goto out;
    }
    FILE *f = fopen(path, "r");
    if (f) {
        char buf[4096];
        while (fgets(buf, sizeof buf, f)) {
            buf[strcspn(buf, "\r\n")] = 0;
            if (strcmp(buf, line) == 0) {
                fclose(f);
                goto out;
            }
        }
        fclose(f);
    }
    mkdir(info, 0777);
    f = fopen(path, "a");
    if (!f) {
        rc = flor__err(FLOR_EIO, "cannot update %s: %s", path, strerror(errno));
        goto out;
    }
    fprintf(f, "%s\n", line);
    if (fclose(f) != 0)
        rc = flor__err(FLOR_EIO, "cannot update %s: %s", path, strerror(errno));
out:
    free(line);
    free(info);
    free(path);
    return rc;
}

int flor__place_prepare(const flor__place *pl)
{
    if (mkdir(pl->datadir, 0777) != 0 && errno != EEXIST)
        return flor__err(FLOR_EIO, "cannot create %s: %s", pl->datadir, strerror(errno));
    return exclude_datadir(pl);
}

int flor_project_open(flor_project **out, const char *dir)
{
    *out = NULL;
    flor__err_clear();
    flor_project *p = calloc(1, sizeof *p);
    if (!p)
        return flor__err(FLOR_ENOMEM, "out of memory");
    int rc = flor__place_find(&p->place, dir);
    if (!rc)
        rc = flor__db_open(p->place.datadir, 0, 0, &p->db);
    if (rc == FLOR_ENOTFOUND)
        flor__err(rc, "no runs recorded in project '%s' yet (no %s/flor.db)", p->place.projid,
                  p->place.datadir);
    if (!rc && flor__db_reap(p->db) != 0)
        flor__err_clear(); /* a read-only database: reaping waits for a writer */
    if (rc) {
        flor_project_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void flor_project_free(flor_project *p)
{
    if (!p)
        return;
    sqlite3_close(p->db);
    flor__store_close(p->store);
    flor__place_release(&p->place);
    free(p);
}

int flor__project_store(flor_project *p)
{
    if (p->store)
        return 0;
    char *dir = flor__printf("%s/objects", p->place.datadir);
    if (!dir)
        return flor__err(FLOR_ENOMEM, "out of memory");
    int rc = flor__store_open(&p->store, dir);
    free(dir);
    return rc;
}

const char *flor_project_id(const flor_project *p) { return p->place.projid; }
const char *flor_project_dir(const flor_project *p) { return p->place.datadir; }
const char *flor_project_root(const flor_project *p) { return p->place.root; }

int flor_project_query(flor_project *p, const char *sql, flor_table **out)
{
    *out = NULL;
    flor__err_clear();
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    int rc = sqlite3_prepare_v2(p->db, sql, -1, &st, &tail);
    if (rc != SQLITE_OK)
        return flor__err(FLOR_EINVAL, "invalid SQL: %s", sqlite3_errmsg(p->db));
    if (!st)
        return flor__err(FLOR_EINVAL, "invalid SQL: empty statement");
    while (tail && (*tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == ';'))
        tail++;
    if (tail && *tail) {
        sqlite3_finalize(st);
        return flor__err(FLOR_EINVAL, "invalid SQL: one statement at a time (extra text: '%.40s')",
                         tail);
    }
    if (!sqlite3_stmt_readonly(st)) {
        sqlite3_finalize(st);
        return flor__err(FLOR_EINVAL, "invalid SQL: queries are read-only; this statement writes");
    }
    rc = flor__table_from_stmt(st, out);
    sqlite3_finalize(st);
    return rc;
}

int flor_project_runs(flor_project *p, flor_table **out)
{
    return flor_project_query(
        p,
        "SELECT r.run_id AS run, projid, tstamp, filename, vid, status, host, pid,"
        " strftime('%Y-%m-%dT%H:%M:%S', start_time, 'unixepoch', 'localtime') AS started,"
        " strftime('%Y-%m-%dT%H:%M:%S', end_time, 'unixepoch', 'localtime') AS ended,"
        " round(end_time - start_time, 3) AS seconds,"
        " (SELECT count(*) FROM logs l WHERE l.run_id = r.run_id) AS logs,"
        " (SELECT count(*) FROM checkpoints c WHERE c.run_id = r.run_id) AS checkpoints,"
        " round(ckpt_overhead, 5) AS overhead,"
        " (SELECT count(*) FROM replays x WHERE x.run_id = r.run_id) AS replays,"
        " (SELECT coalesce(sum(x.divergences), 0) FROM replays x WHERE x.run_id = r.run_id)"
        " AS divergences,"
        " argv, reason"
        " FROM runs r ORDER BY r.run_id",
        out);
}
