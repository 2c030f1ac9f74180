/*
 * version.c -- code versions, the read side: the snapshot a run's vid
 * names, written into a directory (flor_project_checkout), or compared
 * with another run's together with the two runs' args
 * (flor_project_diff).  The git work is in src/git.
 */
#include "project/project.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The vid of run RUN, malloc'd; errors name the run. */
static int run_vid(flor_project *p, int64_t run, char **vid)
{
    int found;
    int err = flor__runs_find_vid(p->db, run, &found, vid);
    if (!err && !found)
        err = flor__err(FLOR_ENOTFOUND, "no run %lld in project '%s'", (long long)run,
                        p->place.projid);
    else if (!err && !*vid)
        err = flor__err(FLOR_ENOTFOUND,
                        "run %lld has no code version (it was recorded outside git, or its "
                        "snapshot failed)",
                        (long long)run);
    return err;
}

int flor__run_commit(flor_project *p, int64_t run, char **vid)
{
    if (!p->place.gitdir)
        return flor__err(FLOR_ENOTFOUND,
                         "project '%s' is not in a git repository: its runs have no code versions",
                         p->place.projid);
    int rc = run_vid(p, run, vid);
    if (!rc && (rc = flor__git_has_commit(p->place.root, *vid)) != 0) {
        flor__err_wrap(rc, "run %lld", (long long)run);
        free(*vid);
        *vid = NULL;
    }
    return rc;
}

/* 0 when DIR does not exist (*EXISTS = 0) or is an empty directory. */
static int check_dir(const char *dir, int *exists)
{
    struct stat st;
    *exists = stat(dir, &st) == 0;
    if (!*exists)
        return errno == ENOENT ? 0 : flor__err(FLOR_EIO, "%s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return flor__err(FLOR_EINVAL, "%s: exists and is not a directory", dir);
    DIR *d = opendir(dir);
    if (!d)
        return flor__err(FLOR_EIO, "%s: %s", dir, strerror(errno));
    int empty = 1;
    for (struct dirent *e; empty && (e = readdir(d)) != NULL;)
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(d);
    return empty ? 0 : flor__err(FLOR_EINVAL, "%s: exists and is not empty", dir);
}

/* mkdir -p DIR. */
static int make_dirs(const char *dir)
{
    char *path = flor__strdup(dir);
    if (!path)
        return flor__err(FLOR_ENOMEM, "out of memory");
    int rc = 0;
    for (char *s = path + 1; !rc; s++) {
        if (*s != '/' && *s)
            continue;
        char c = *s;
        *s = 0;
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            rc = flor__err(FLOR_EIO, "cannot create %s: %s", path, strerror(errno));
        *s = c;
        if (!c)
            break;
    }
    free(path);
    return rc;
}

int flor__checkout_dir(const char *dir)
{
    int exists;
    int rc = check_dir(dir, &exists);
    return !rc && !exists ? make_dirs(dir) : rc;
}

int flor_project_checkout(flor_project *p, int64_t run, const char *dir)
{
    flor__err_clear();
    if (!dir || !*dir)
        return flor__err(FLOR_EINVAL, "checkout: no directory given");
    char *vid = NULL;
    int rc = flor__run_commit(p, run, &vid);
    if (!rc)
        rc = flor__checkout_dir(dir);
    if (!rc)
        rc = flor__git_checkout(p->place.root, vid, dir);
    free(vid);
    return rc;
}

/* ---- flor_project_diff ----------------------------------------------------- */

/* Appends column COL of ST as the diff shows a value: integers and reals
 * as numbers (a real keeps a ".0", and its shortest exact form), text as a
 * JSON string, NULL as null. */
static int put_value(flor__buf *b, sqlite3_stmt *st, int col)
{
    switch (sqlite3_column_type(st, col)) {
    case SQLITE_INTEGER:
        return flor__buf_printf(b, "%lld", (long long)sqlite3_column_int64(st, col));
    case SQLITE_FLOAT: {
        double v = sqlite3_column_double(st, col);
        char s[40];
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(s, sizeof s, "%.*g", prec, v);
            if (strtod(s, NULL) == v)
                break;
        }
        int plain = isfinite(v) && !strpbrk(s, ".eE");
        return flor__buf_printf(b, "%s%s", s, plain ? ".0" : "");
    }
    case SQLITE_TEXT:
        return flor__buf_json_string(b, (const char *)sqlite3_column_text(st, col));
    case SQLITE_NULL:
        return flor__buf_puts(b, "null");
    default:
        return flor__buf_printf(b, "<%d bytes>", sqlite3_column_bytes(st, col));
    }
}

/* Appends the value of column COL of ST (or "(none)" when HAS is 0) to B
 * and returns where it starts. */
static size_t put_arg(flor__buf *b, sqlite3_stmt *st, int has, int col, int *rc)
{
    size_t at = b->len;
    if (!*rc)
        *rc = has ? put_value(b, st, col) : flor__buf_puts(b, "(none)");
    return at;
}

struct args_diff {
    flor__buf *out, line;
};

/* One row of flor__records_compare_args: a line when the values differ. */
static int diff_arg(void *ctx, sqlite3_stmt *st)
{
    struct args_diff *d = ctx;
    flor__buf *line = &d->line;
    line->len = 0;
    int err = flor__buf_printf(line, "\n  %s: ", (const char *)sqlite3_column_text(st, 0));
    size_t a = put_arg(line, st, sqlite3_column_int(st, 1), 2, &err);
    if (!err)
        err = flor__buf_puts(line, " -> ");
    size_t b = put_arg(line, st, sqlite3_column_int(st, 3), 4, &err);
    int same = !err && b - a - 4 == line->len - b &&
               memcmp(line->p + a, line->p + b, line->len - b) == 0;
    if (!err && !same)
        err = flor__buf_add(d->out, line->p, line->len);
    return err;
}

/* One line per arg whose value (or type) differs between the runs. */
static int diff_args(flor_project *p, int64_t run1, int64_t run2, flor__buf *out)
{
    struct args_diff d = {out, {0}};
    int err = flor__buf_printf(out, "args of run %lld -> run %lld:", (long long)run1,
                               (long long)run2);
    size_t header_end = out->len;
    if (!err)
        err = flor__records_compare_args(p->db, run1, run2, diff_arg, &d);
    if (!err)
        err = flor__buf_puts(out, out->len == header_end ? " same\n" : "\n");
    flor__buf_release(&d.line);
    return err;
}

/* The code part: the unified diff of the runs' snapshots. */
static int diff_code(flor_project *p, int64_t run1, const char *vid1, int64_t run2,
                     const char *vid2, flor__buf *out)
{
    int rc = flor__buf_printf(out, "code of run %lld (%.12s) -> run %lld (%.12s):",
                              (long long)run1, vid1, (long long)run2, vid2);
    size_t header_end = out->len;
    if (!rc)
        rc = flor__buf_puts(out, "\n");
    if (!rc)
        rc = flor__git_diff(p->place.root, vid1, vid2, out);
    if (!rc && out->len == header_end + 1) {
        out->len = header_end;
        rc = flor__buf_puts(out, " same\n");
    }
    return rc;
}

int flor_project_diff(flor_project *p, int64_t run1, int64_t run2, char **out)
{
    *out = NULL;
    flor__err_clear();
    char *vid1 = NULL, *vid2 = NULL;
    flor__buf b = {0};
    int rc = flor__run_commit(p, run1, &vid1);
    if (!rc)
        rc = flor__run_commit(p, run2, &vid2);
    if (!rc)
        rc = diff_args(p, run1, run2, &b);
    if (!rc)
        rc = diff_code(p, run1, vid1, run2, vid2, &b);
    free(vid1);
    free(vid2);
    if (rc) {
        flor__buf_release(&b);
        return rc;
    }
    *out = b.p;
    return 0;
}
