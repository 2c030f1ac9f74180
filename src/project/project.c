/*
 * project.c -- a project: the git work tree (or directory) a program runs
 * in, its projid, and its data directory; and the read side of the API
 * (flor_project_open, query, runs).
 */
#include "project/project.h"

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

static int project_open(flor_project **out, const char *dir, int create)
{
    *out = NULL;
    flor__err_clear();
    flor_project *p = calloc(1, sizeof *p);
    if (!p)
        return flor__err(FLOR_ENOMEM, "out of memory");
    int rc = flor__place_find(&p->place, dir);
    if (!rc && create)
        rc = flor__place_prepare(&p->place);
    if (!rc)
        rc = flor__db_open(p->place.datadir, create, 0, &p->db);
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

int flor_project_open(flor_project **out, const char *dir) { return project_open(out, dir, 0); }

int flor_project_create(flor_project **out, const char *dir) { return project_open(out, dir, 1); }

void flor_project_free(flor_project *p)
{
    if (!p)
        return;
    sqlite3_close(p->db);
    sqlite3_close(p->qdb);
    flor__store_close(p->store);
    flor__fetcher_free(p->fetcher);
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
    /* chunks the packs lack (evicted, or recorded on another machine) come
     * from the remote when the catalogue has them */
    if (!rc && (rc = flor__fetcher_attach(p->store, p->place.datadir, &p->fetcher)) != 0) {
        flor__store_close(p->store);
        p->store = NULL;
    }
    return rc;
}

const char *flor_project_id(const flor_project *p) { return p->place.projid; }
const char *flor_project_dir(const flor_project *p) { return p->place.datadir; }
const char *flor_project_root(const flor_project *p) { return p->place.root; }

/* ---- Queries: a connection that cannot change anything ----------------
 *
 * flor_project_query runs the user's SQL on a connection of its own,
 * opened read-only, where logs and loops are views with FlorDB 3.x's
 * columns added (db/records.c), whose authorizer lets a statement read and call
 * functions and nothing else: no write of any table (temporary ones
 * included), no ATTACH or DETACH, no schema change, no transaction, no
 * pragma but those that only read, no load_extension.  A progress
 * handler stops it at its deadline or when interrupted. */

static const char *const READ_PRAGMAS[] = {
    "application_id", "collation_list", "compile_options", "data_version",
    "database_list",  "encoding",       "foreign_key_check", "foreign_key_list",
    "freelist_count", "function_list",  "index_info",     "index_list",
    "index_xinfo",    "integrity_check", "module_list",   "page_count",
    "page_size",      "pragma_list",    "quick_check",    "schema_version",
    "table_info",     "table_list",     "table_xinfo",    "user_version",
};
/* Of these, the ones whose argument names what to read (a table, an
 * index, a row limit) rather than sets a value. */
static const char *const READ_PRAGMAS_WITH_ARG[] = {
    "foreign_key_check", "foreign_key_list", "index_info", "index_list", "index_xinfo",
    "integrity_check",   "quick_check",      "table_info", "table_xinfo",
};
static const char *const DENIED_FUNCTIONS[] = {
    "load_extension", "readfile", "writefile", "edit", "fts3_tokenizer",
};

static int in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        if (sqlite3_stricmp(s, list[i]) == 0)
            return 1;
    return 0;
}

#define NITEMS(a) (sizeof(a) / sizeof *(a))

/* What the authorizer refused last, for the message (per thread, as the
 * prepare that calls it). */
static _Thread_local char denied[128];

static int authorize(void *arg, int action, const char *a, const char *b, const char *db,
                     const char *trigger)
{
    (void)arg;
    (void)db;
    (void)trigger;
    switch (action) {
    case SQLITE_SELECT:
    case SQLITE_READ:
    case SQLITE_RECURSIVE:
        return SQLITE_OK;
    case SQLITE_FUNCTION:
        if (!in_list(b, DENIED_FUNCTIONS, NITEMS(DENIED_FUNCTIONS)))
            return SQLITE_OK;
        snprintf(denied, sizeof denied, "the function %s() is not allowed", b);
        return SQLITE_DENY;
    case SQLITE_PRAGMA:
        if (in_list(a, READ_PRAGMAS, NITEMS(READ_PRAGMAS)) &&
            (!b || in_list(a, READ_PRAGMAS_WITH_ARG, NITEMS(READ_PRAGMAS_WITH_ARG))))
            return SQLITE_OK;
        snprintf(denied, sizeof denied, "PRAGMA %s%s is not allowed", a ? a : "?",
                 b ? " with a value" : "");
        return SQLITE_DENY;
    case SQLITE_UPDATE:
        /* Asked, for sqlite_master's columns, while a table-valued pragma
         * (pragma_table_info) is prepared.  A real update of sqlite_master
         * is refused by SQLite itself, and the connection is read-only. */
        if (a && (strcmp(a, "sqlite_master") == 0 || strcmp(a, "sqlite_schema") == 0))
            return SQLITE_OK;
        snprintf(denied, sizeof denied, "a statement that writes is not allowed");
        return SQLITE_DENY;
    case SQLITE_ATTACH:
    case SQLITE_DETACH:
        snprintf(denied, sizeof denied, "%s is not allowed",
                 action == SQLITE_ATTACH ? "ATTACH" : "DETACH");
        return SQLITE_DENY;
    default:
        snprintf(denied, sizeof denied, "a statement that writes is not allowed");
        return SQLITE_DENY;
    }
}

static int progress(void *arg)
{
    flor_project *p = arg;
    if (p->interrupted)
        return 1;
    if (p->deadline > 0 && flor__mono() >= p->deadline) {
        p->timed_out = 1;
        return 1;
    }
    return 0;
}

static int open_query_db(flor_project *p)
{
    if (p->qdb)
        return 0;
    sqlite3 *db = NULL;
    int rc = flor__db_open(p->place.datadir, 0, 1, &db);
    if (!rc && (rc = flor__records_flordb_views(db)) != 0)
        sqlite3_close(db);
    if (rc)
        return rc;
    sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
    sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, (int *)NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
    sqlite3_set_authorizer(db, authorize, NULL);
    sqlite3_progress_handler(db, 1000, progress, p);
    p->qdb = db;
    return 0;
}
int flor_project_set_timeout(flor_project *p, double seconds)
{
    if (!p || !(seconds >= 0))
        return flor__err(FLOR_EINVAL, "flor_project_set_timeout: expected a number of seconds "
                                      ">= 0, not %g", seconds);
    p->timeout_s = seconds;
    return 0;
}

void flor_project_interrupt(flor_project *p)
{
    if (p)
        p->interrupted = 1;
}

/* PRAGMA data_version on the read connection counts the commits of every
 * other connection, in this process or another, since it opened; this
 * handle's own writes (on p->db) are counted by that connection. */
int flor_project_version(flor_project *p, uint64_t *version)
{
    flor__err_clear();
    if (!p || !version)
        return flor__err(FLOR_EINVAL, "flor_project_version: expected a project and a place "
                                      "for the version");
    sqlite3 *db;
    int rc = flor__project_read_db(p, &db);
    sqlite3_stmt *st = NULL;
    if (!rc && (rc = sqlite3_prepare_v2(db, "PRAGMA main.data_version", -1, &st, NULL)) != 0)
        rc = flor__err_sqlite(db, rc, "cannot read the database's version");
    int step = rc ? SQLITE_ERROR : sqlite3_step(st);
    if (!rc && step != SQLITE_ROW)
        rc = flor__err_sqlite(db, step, "cannot read the database's version");
    if (!rc) {
        uint64_t own = p->db ? (uint64_t)sqlite3_total_changes64(p->db) : 0;
        *version = (uint64_t)sqlite3_column_int64(st, 0) << 32 | (own & 0xffffffffu);
    }
    sqlite3_finalize(st);
    return rc;
}

/* The text after the first statement may hold blanks, comments and
 * semicolons, nothing else. */
static int only_one_statement(sqlite3 *db, const char *tail)
{
    while (tail && *tail) {
        sqlite3_stmt *st = NULL;
        const char *next = NULL;
        int rc = sqlite3_prepare_v2(db, tail, -1, &st, &next);
        sqlite3_finalize(st);
        if (rc != SQLITE_OK || st || next == tail)
            return flor__err(FLOR_EINVAL, "invalid SQL: one statement at a time (extra text: "
                                          "'%.40s')",
                             tail + strspn(tail, " \t\r\n;"));
        tail = next;
    }
    return 0;
}

int flor_project_query(flor_project *p, const char *sql, flor_table **out)
{
    if (out)
        *out = NULL;
    flor__err_clear();
    if (!p || !sql || !out)
        return flor__err(FLOR_EINVAL, "flor_project_query: NULL argument");
    int rc = open_query_db(p);
    if (rc)
        return rc;
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    denied[0] = 0;
    rc = sqlite3_prepare_v2(p->qdb, sql, -1, &st, &tail);
    if (rc != SQLITE_OK && denied[0])
        return flor__err(FLOR_EINVAL, "invalid SQL: %s (queries are read-only)", denied);
    if (rc != SQLITE_OK && ((rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB))
        return flor__db_damaged(p->qdb, rc, NULL);
    if (rc != SQLITE_OK)
        return flor__err(FLOR_EINVAL, "invalid SQL: %s", sqlite3_errmsg(p->qdb));
    if (!st)
        return flor__err(FLOR_EINVAL, "invalid SQL: empty statement");
    if ((rc = only_one_statement(p->qdb, tail)) != 0) {
        sqlite3_finalize(st);
        return rc;
    }
    if (!sqlite3_stmt_readonly(st)) {
        sqlite3_finalize(st);
        return flor__err(FLOR_EINVAL, "invalid SQL: queries are read-only; this statement writes");
    }
    flor__project_read_begin(p);
    rc = flor__table_from_stmt(st, out);
    sqlite3_finalize(st);
    return flor__project_read_end(p, rc);
}

int flor__project_read_db(flor_project *p, sqlite3 **db)
{
    int rc = open_query_db(p);
    *db = rc ? NULL : p->qdb;
    return rc;
}

void flor__project_read_begin(flor_project *p)
{
    p->timed_out = 0;
    p->deadline = p->timeout_s > 0 ? flor__mono() + p->timeout_s : 0;
}

int flor__project_read_end(flor_project *p, int rc)
{
    p->deadline = 0;
    if (rc && p->timed_out)
        rc = flor__err(FLOR_EBUSY, "query timed out after %g s", p->timeout_s);
    else if (rc && p->interrupted)
        rc = flor__err(FLOR_EBUSY, "query interrupted");
    return rc;
}

int flor_sql_condition_check(const char *cond)
{
    flor__err_clear();
    if (!cond)
        return flor__err(FLOR_EINVAL, "no condition (NULL)");
    int depth = 0, any = 0;
    for (const char *c = cond; *c; c++) {
        if (*c == '\'' || *c == '"' || *c == '`' || *c == '[') {
            char close = *c == '[' ? ']' : *c;
            const char *q = c + 1;
            while (*q && !(*q == close && (close == ']' || q[1] != close)))
                q += *q == close ? 2 : 1; /* a doubled quote stands for itself */
            if (!*q)
                return flor__err(FLOR_EINVAL, "the condition has a %c that is never closed",
                                 *c);
            c = q;
            any = 1;
        } else if (c[0] == '-' && c[1] == '-') {
            while (c[1] && c[1] != '\n')
                c++;
        } else if (c[0] == '/' && c[1] == '*') {
            const char *end = strstr(c + 2, "*/");
            if (!end)
                return flor__err(FLOR_EINVAL, "the condition has a /* comment that is never "
                                              "closed");
            c = end + 1;
        } else if (*c == '(') {
            depth++;
        } else if (*c == ')') {
            if (depth == 0)
                return flor__err(FLOR_EINVAL, "the condition closes a parenthesis it did not "
                                              "open: it must be one expression");
            depth--;
        } else if (*c == ';') {
            return flor__err(FLOR_EINVAL, "the condition holds ';': it must be one expression, "
                                          "not statements");
        } else if (!strchr(" \t\r\n\f\v", *c)) {
            any = 1;
        }
    }
    if (depth > 0)
        return flor__err(FLOR_EINVAL, "the condition leaves %d parenthes%s open", depth,
                         depth == 1 ? "is" : "es");
    if (!any)
        return flor__err(FLOR_EINVAL, "the condition is empty");
    return 0;
}

int flor_project_runs(flor_project *p, flor_table **out)
{
    return flor_project_query(p, flor__runs_list_sql, out);
}

int flor_project_resumes(flor_project *p, int64_t run, flor_table **out)
{
    flor__err_clear();
    return flor__resumes_table(p->db, run, out);
}

int flor_project_run_argv(flor_project *p, int64_t run, flor_table **out)
{
    flor__err_clear();
    return flor__runs_argv_table(p->db, run, out);
}
