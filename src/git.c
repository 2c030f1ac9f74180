/*
 * git.c -- everything flor asks of git, through libgit2: where the
 * repository is, and which commit a run's code is.
 */
#include "internal.h"

#include <git2.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t git_once = PTHREAD_ONCE_INIT;
static void git_setup(void) { git_libgit2_init(); }

static int git_fail(const char *what)
{
    const git_error *e = git_error_last();
    return flor__err(FLOR_EIO, "%s: %s", what, e && e->message ? e->message : "git error");
}

int flor__git_discover(const char *dir, char **workdir, char **gitdir)
{
    pthread_once(&git_once, git_setup);
    *workdir = *gitdir = NULL;
    git_repository *repo = NULL;
    int rc = git_repository_open_ext(&repo, dir, 0, NULL);
    if (rc == GIT_ENOTFOUND)
        return 0;
    if (rc < 0)
        return git_fail(dir);
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

int flor__git_head(const char *root, char **out)
{
    pthread_once(&git_once, git_setup);
    *out = NULL;
    git_repository *repo = NULL;
    if (git_repository_open(&repo, root) < 0)
        return git_fail(root);
    git_oid oid;
    int rc = git_reference_name_to_id(&oid, repo, "HEAD");
    if (rc == 0) {
        char hex[GIT_OID_HEXSZ + 1];
        git_oid_tostr(hex, sizeof hex, &oid);
        *out = flor__strdup(hex);
    }
    git_repository_free(repo);
    return 0; /* an unborn HEAD has no commit: vid stays NULL */
}
