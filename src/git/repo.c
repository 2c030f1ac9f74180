/*
 * repo.c -- the repository: libgit2 set up once, its errors as flor's,
 * where the repository around a directory is, and finding a commit and
 * its tree (git/repo.h).
 */
#include "git/repo.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t git_once = PTHREAD_ONCE_INIT;
static void git_setup(void) { git_libgit2_init(); }

void flor__git_init(void) { pthread_once(&git_once, git_setup); }

int flor__git_fail(const char *what)
{
    const git_error *e = git_error_last();
    int rc = flor__err(FLOR_EIO, "%s: %s", what, e && e->message ? e->message : "git error");
    git_error_clear();
    return rc;
}

int flor__git_open(const char *root, git_repository **repo)
{
    flor__git_init();
    *repo = NULL;
    if (git_repository_open(repo, root) < 0)
        return flor__git_fail(root);
    return 0;
}

int flor__git_discover(const char *dir, char **workdir, char **gitdir)
{
    flor__git_init();
    *workdir = *gitdir = NULL;
    git_repository *repo = NULL;
    int rc = git_repository_open_ext(&repo, dir, 0, NULL);
    if (rc == GIT_ENOTFOUND)
        return 0;
    if (rc < 0)
        return flor__git_fail(dir);
    const char *wd = git_repository_workdir(repo);
    if (wd) {
        *workdir = flor__strdup(wd);
        *gitdir = flor__strdup(git_repository_commondir(repo));
        size_t n = strlen(*workdir);
        if (n > 1 && (*workdir)[n - 1] == '/')
            (*workdir)[n - 1] = 0;
        n = strlen(*gitdir);
        if (n > 1 && (*gitdir)[n - 1] == '/')
            (*gitdir)[n - 1] = 0;
    }
    git_repository_free(repo);
    return 0;
}

int flor__git_lookup_commit(git_repository *repo, const char *root, const char *vid,
                            git_commit **out)
{
    git_oid oid;
    *out = NULL;
    if (git_oid_fromstr(&oid, vid) < 0) {
        git_error_clear();
        return flor__err(FLOR_ECORRUPT, "code version '%s' is not a commit id", vid);
    }
    int rc = git_commit_lookup(out, repo, &oid);
    if (rc == GIT_ENOTFOUND) {
        git_error_clear();
        return flor__err(FLOR_ENOTFOUND, "code version %s is not in the repository at %s", vid,
                         root);
    }
    return rc < 0 ? flor__git_fail(vid) : 0;
}

int flor__git_has_commit(const char *root, const char *vid)
{
    git_repository *repo;
    git_commit *c = NULL;
    int rc = flor__git_open(root, &repo);
    if (!rc)
        rc = flor__git_lookup_commit(repo, root, vid, &c);
    if (!rc)
        git_commit_free(c);
    git_repository_free(repo);
    return rc;
}

/* The tree of commit VID. */
static int commit_tree(git_repository *repo, const char *root, const char *vid, git_tree **out)
{
    git_commit *c = NULL;
    int rc = flor__git_lookup_commit(repo, root, vid, &c);
    if (!rc && git_commit_tree(out, c) < 0)
        rc = flor__git_fail(vid);
    git_commit_free(c);
    return rc;
}

int flor__git_open_trees(const char *root, const char *vid, const char *vid2, git_repository **repo,
                         git_tree **tree, git_tree **tree2)
{
    *tree = NULL;
    if (tree2)
        *tree2 = NULL;
    int rc = flor__git_open(root, repo);
    if (!rc)
        rc = commit_tree(*repo, root, vid, tree);
    if (!rc && vid2)
        rc = commit_tree(*repo, root, vid2, tree2);
    return rc;
}
