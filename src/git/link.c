/*
 * link.c -- the user's data in a version's work area: every untracked or
 * ignored file of the working tree, as a symbolic link, so that a replay
 * of an old version reads the same data (flor__git_link_data).
 */
#include "git/repo.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the user's data in a version's work area ------------------------------- */

/* Build outputs and caches, which a version makes for itself: a link to
 * the working tree's would be stale, and writing it would write the
 * working tree's file. */
static int not_data(const char *rel, const struct stat *st)
{
    static const char *const ext[] = {".o", ".a", ".so", ".obj", ".dylib", ".gch", ".pyc",
                                      ".pyo"};
    if (st->st_mode & (S_IXUSR | S_IXGRP | S_IXOTH))
        return 1;
    for (const char *c = rel; c; c = strchr(c, '/') ? strchr(c, '/') + 1 : NULL)
        if (strncmp(c, "__pycache__/", 12) == 0 || strncmp(c, ".flor/", 6) == 0 ||
            strncmp(c, ".git/", 5) == 0)
            return 1;
    const char *dot = strrchr(rel, '.');
    for (size_t i = 0; dot && !strchr(dot, '/') && i < sizeof ext / sizeof ext[0]; i++)
        if (strcmp(dot, ext[i]) == 0)
            return 1;
    return 0;
}

/* Makes the directories above REL in DIR. */
static int make_parents(const char *dir, const char *rel)
{
    char *path = flor__printf("%s/%s", dir, rel);
    if (!path)
        return flor__err(FLOR_ENOMEM, "out of memory");
    int rc = 0;
    for (char *s = path + strlen(dir) + 1; !rc && (s = strchr(s, '/')); s++) {
        *s = 0;
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            rc = flor__err(FLOR_EIO, "%s: %s", path, strerror(errno));
        *s = '/';
    }
    free(path);
    return rc;
}

typedef struct linker {
    const char *workdir; /* with its trailing slash */
    const char *dir;
    const char *skip;
} linker;

/* Links the working tree's REL into the version's directory, when it is a
 * data file that the version lacks; walks into a directory. */
static int link_path(const linker *l, const char *rel)
{
    char *src = flor__printf("%s%s", l->workdir, rel), *dst = flor__printf("%s/%s", l->dir, rel);
    size_t skiplen = l->skip ? strlen(l->skip) : 0;
    struct stat st, there, own;
    int rc = 0;
    if (!src || !dst)
        rc = flor__err(FLOR_ENOMEM, "out of memory");
    else if (l->skip && strncmp(src, l->skip, skiplen) == 0 &&
             (src[skiplen] == '/' || src[skiplen] == 0))
        ; /* flor's own data */
    else if (stat(src, &st) != 0 || lstat(src, &own) != 0)
        ; /* gone, or a dangling link */
    else if (S_ISDIR(st.st_mode) && S_ISLNK(own.st_mode)) {
        /* a link to a directory (a dataset elsewhere) is linked whole, and
         * not walked: it may lead back up */
        if (lstat(dst, &there) != 0 && !(rc = make_parents(l->dir, rel)) && symlink(src, dst) != 0)
            rc = flor__err(FLOR_EIO, "%s: cannot link to %s: %s", dst, src, strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
        const char *base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
        DIR *d = strcmp(base, ".git") == 0 || strcmp(base, ".flor") == 0 ||
                         strcmp(base, "__pycache__") == 0
                     ? NULL
                     : opendir(src);
        for (struct dirent *e; !rc && d && (e = readdir(d));) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char *sub = flor__printf("%s/%s", rel, e->d_name);
            rc = sub ? link_path(l, sub) : flor__err(FLOR_ENOMEM, "out of memory");
            free(sub);
        }
        if (d)
            closedir(d);
    } else if (!S_ISREG(st.st_mode) || not_data(rel, &st) || lstat(dst, &there) == 0)
        ; /* not a data file, or the version has its own */
    else if (!(rc = make_parents(l->dir, rel)) && symlink(src, dst) != 0)
        rc = flor__err(FLOR_EIO, "%s: cannot link to %s: %s", dst, src, strerror(errno));
    free(src);
    free(dst);
    return rc;
}

int flor__git_link_data(const char *root, const char *dir, const char *skip)
{
    git_repository *repo;
    git_status_list *list = NULL;
    int rc = flor__git_open(root, &repo);
    git_status_options o;
    git_status_options_init(&o, GIT_STATUS_OPTIONS_VERSION);
    o.show = GIT_STATUS_SHOW_WORKDIR_ONLY;
    /* An ignored directory comes whole ("dir/"), and is walked here. */
    o.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS |
              GIT_STATUS_OPT_INCLUDE_IGNORED;
    if (!rc && git_status_list_new(&list, repo, &o) < 0)
        rc = flor__git_fail("cannot list the working tree's untracked and ignored files");
    linker l = {rc ? NULL : git_repository_workdir(repo), dir, skip};
    for (size_t i = 0, n = rc ? 0 : git_status_list_entrycount(list); !rc && i < n; i++) {
        const git_status_entry *e = git_status_byindex(list, i);
        if (!(e->status & (GIT_STATUS_WT_NEW | GIT_STATUS_IGNORED)) || !e->index_to_workdir)
            continue;
        char *rel = flor__strdup(e->index_to_workdir->new_file.path);
        size_t len = rel ? strlen(rel) : 0;
        if (!rel)
            rc = flor__err(FLOR_ENOMEM, "out of memory");
        else if (len && rel[len - 1] == '/')
            rel[len - 1] = 0;
        if (!rc && *rel)
            rc = link_path(&l, rel);
        free(rel);
    }
    git_error_clear();
    git_status_list_free(list);
    git_repository_free(repo);
    return rc;
}
