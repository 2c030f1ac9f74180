/*
 * checkout.c -- a code version's tree written into a directory, as git's
 * checkout writes it (smudge filters applied, links as links), refusing
 * unsafe paths (flor__git_checkout).
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

typedef struct writer {
    git_repository *repo;
    const char *dir;
    git_oid commit;
    int rc;
} writer;

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Writes blob ID to PATH as a file (smudge filters applied, as git's
 * checkout does) or as a symbolic link. */
static int write_blob(writer *w, const char *rel, const char *path, const git_oid *id,
                      git_filemode_t mode)
{
    git_blob *blob = NULL;
    git_buf buf = {0};
    if (git_blob_lookup(&blob, w->repo, id) < 0)
        return flor__git_fail(rel);
    int rc = 0;
    if (mode == GIT_FILEMODE_LINK) {
        char *target = flor__printf("%.*s", (int)git_blob_rawsize(blob),
                                    (const char *)git_blob_rawcontent(blob));
        if (!target || symlink(target, path) != 0)
            rc = flor__err(FLOR_EIO, "%s: %s", path, target ? strerror(errno) : "out of memory");
        free(target);
        git_blob_free(blob);
        return rc;
    }
    git_blob_filter_options fo;
    git_blob_filter_options_init(&fo, GIT_BLOB_FILTER_OPTIONS_VERSION);
    fo.flags |= GIT_BLOB_FILTER_ATTRIBUTES_FROM_COMMIT;
    git_oid_cpy(&fo.attr_commit_id, &w->commit);
    if (git_blob_filter(&buf, blob, rel, &fo) < 0) {
        git_blob_free(blob);
        return flor__git_fail(rel);
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                  mode == GIT_FILEMODE_BLOB_EXECUTABLE ? 0777 : 0666);
    if (fd < 0 || write_all(fd, buf.ptr, buf.size) != 0 || close(fd) != 0) {
        rc = flor__err(FLOR_EIO, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    git_buf_dispose(&buf);
    git_blob_free(blob);
    return rc;
}

static int write_entry(const char *root, const git_tree_entry *entry, void *payload)
{
    writer *w = payload;
    const char *name = git_tree_entry_name(entry);
    if (!*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
        strcmp(name, ".git") == 0) {
        w->rc = flor__err(FLOR_ECORRUPT, "unsafe path in the code snapshot: '%s%s'", root, name);
        return -1;
    }
    char rel[PATH_MAX], path[PATH_MAX];
    int n1 = snprintf(rel, sizeof rel, "%s%s", root, name);
    int n2 = snprintf(path, sizeof path, "%s/%s", w->dir, rel);
    if (n1 < 0 || n2 < 0 || (size_t)n1 >= sizeof rel || (size_t)n2 >= sizeof path) {
        w->rc = flor__err(FLOR_EINVAL, "%s/%s%s: path too long", w->dir, root, name);
        return -1;
    }
    git_filemode_t mode = git_tree_entry_filemode(entry);
    if (mode == GIT_FILEMODE_TREE || mode == GIT_FILEMODE_COMMIT) {
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            w->rc = flor__err(FLOR_EIO, "%s: %s", path, strerror(errno));
    } else {
        w->rc = write_blob(w, rel, path, git_tree_entry_id(entry), mode);
    }
    return w->rc ? -1 : 0;
}

int flor__git_checkout(const char *root, const char *vid, const char *dir)
{
    git_repository *repo;
    git_commit *commit = NULL;
    git_tree *tree = NULL;
    int rc = flor__git_open(root, &repo);
    if (!rc)
        rc = flor__git_lookup_commit(repo, root, vid, &commit);
    if (!rc && git_commit_tree(&tree, commit) < 0)
        rc = flor__git_fail(vid);
    if (!rc) {
        writer w = {repo, dir, *git_commit_id(commit), 0};
        if (git_tree_walk(tree, GIT_TREEWALK_PRE, write_entry, &w) < 0)
            rc = w.rc ? w.rc : flor__git_fail(vid);
        git_error_clear();
    }
    git_tree_free(tree);
    git_commit_free(commit);
    git_repository_free(repo);
    return rc;
}
