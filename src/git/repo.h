/*
 * git/repo.h -- what the files of src/git share: libgit2 set up once, its
 * errors as flor errors, opening the repository and finding a commit.
 * Private to src/git (it needs <git2.h>); the layer's interface is git.h.
 *
 *   repo.c      these, and flor__git_discover / flor__git_has_commit
 *   snapshot.c  a run's code version: the working tree committed to
 *               flor.shadow (flor__git_snapshot)
 *   checkout.c  a version's tree written into a directory
 *   diff.c      reading versions' text: the diff of two, the lines the
 *               working tree adds, one file, a three-way merge
 *   link.c      the user's data (untracked and ignored files) linked into
 *               a version's work area
 */
#ifndef FLOR_GIT_REPO_H
#define FLOR_GIT_REPO_H

#include "git/git.h"

#include <git2.h>

/* Initializes libgit2 once per process (any thread may call it). */
void flor__git_init(void);
/* libgit2's last error as FLOR_EIO, "WHAT: MESSAGE"; returns the code. */
int flor__git_fail(const char *what);
/* Opens the repository at ROOT into *REPO (NULL on failure). */
int flor__git_open(const char *root, git_repository **repo);
/* Commit VID of REPO (at ROOT, for messages) into *OUT: FLOR_ECORRUPT when
 * VID is not a commit id, FLOR_ENOTFOUND when the repository lacks it. */
int flor__git_lookup_commit(git_repository *repo, const char *root, const char *vid,
                            git_commit **out);
/* Opens the repository at ROOT and looks up the trees of commit VID and,
 * when VID2 is not NULL, of VID2.  Whatever was got is in the outputs, for
 * the caller to free, failure or not. */
int flor__git_open_trees(const char *root, const char *vid, const char *vid2,
                         git_repository **repo, git_tree **tree, git_tree **tree2);

#endif /* FLOR_GIT_REPO_H */
