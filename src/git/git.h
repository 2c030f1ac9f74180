/*
 * git/git.h -- code versions in git (libgit2): snapshots, checkouts, diffs, merges.
 * Internal to libflor: names start with flor__ (docs/architecture.md).
 */
#ifndef FLOR_GIT_GIT_H
#define FLOR_GIT_GIT_H

#include "flor.h"
#include "base/base.h"

/* ---- src/git: code versions (its files: see git/repo.h) --------------- */

/* The work tree and git directory of the repository containing DIR, both
 * malloc'd without a trailing slash; both NULL outside git (or bare). */
int flor__git_discover(const char *dir, char **workdir, char **gitdir);

/* Files larger than this are left out of code snapshots (with a warning). */
#define FLOR__CODE_MAX_FILE (50L * 1024 * 1024)
/* Commits the working tree of the repository whose work tree is ROOT --
 * tracked files as they are on disk, untracked files that are not ignored
 * -- with MESSAGE, on the branch flor.shadow (see the top of snapshot.c), and
 * sets *VID to the commit id (malloc'd hex).  Touches neither HEAD nor
 * the index file nor the working files.  CACHE_PATH: a file in which
 * flor keeps stat data between snapshots, so that unchanged files are
 * not read again (NULL: none). */
int flor__git_snapshot(const char *root, const char *cache_path, const char *message,
                       char **vid);
/* 0 when commit VID is in the repository at ROOT; FLOR_ENOTFOUND (with a
 * message naming VID and the repository) when it is not. */
int flor__git_has_commit(const char *root, const char *vid);
/* Writes the tree of commit VID into the existing, empty directory DIR. */
int flor__git_checkout(const char *root, const char *vid, const char *dir);
/* Appends to OUT the unified diff from commit VID1's tree to VID2's. */
int flor__git_diff(const char *root, const char *vid1, const char *vid2, flor__buf *out);
/* Whether PATH (relative to the root) names source code by its name:
 * C, C++, CUDA, Python and other languages' sources and headers, shell
 * scripts, and build files (Makefile, CMakeLists.txt, *.mk, *.cmake, ...). */
int flor__git_source_like(const char *path);
/* The code that differs between commit VID1's tree and VID2's: *COUNT files
 * changed, added or gone that count as code -- a file the repository at
 * ROOT tracks (in its index), or an untracked one whose name is source
 * code's (flor__git_source_like); untracked data (a program's outputs:
 * checkpoints, *.bin, logs, plots) is not code.  *FIRST: the first such
 * path, malloc'd (NULL when none). */
int flor__git_code_changes(const char *root, const char *vid1, const char *vid2, int *count,
                           char **first);
/* Calls FN for each line of the working tree (tracked files as they are on
 * disk, untracked files that are not ignored) that is not in commit VID's
 * tree: PATH relative to the root, LINE its 1-based number in the working
 * file, ANCHOR the line of VID's file it comes after (0: the top), TEXT
 * (LEN bytes, with its newline if it has one).  FN returns 0 or an error,
 * which stops the walk and is returned. */
typedef int (*flor__git_added_fn)(void *ctx, const char *path, int line, int anchor,
                                  int replaces, const char *text, size_t len);
/* VID2 non-NULL: compares commit VID with commit VID2 instead of the working
 * tree (LINE is then the line in VID2's file).  REPLACES: the line's hunk
 * also removes lines of VID's file (an edit, not a pure insertion). */
int flor__git_added_lines(const char *root, const char *vid, const char *vid2,
                          flor__git_added_fn fn, void *ctx);
/* Every file of the working tree under ROOT that git ignores or does not
 * track and that commit-less directory DIR (a checkout) lacks, as a
 * symbolic link in DIR to the working tree's file; see flor_project_carry
 * for which are left out.  Returns 0 or an error. */
int flor__git_link_data(const char *root, const char *dir, const char *skip);
/* The content of PATH in commit VID, into OUT (replacing what it held), and
 * its git file mode.  FLOR_ENOTFOUND when VID has no file PATH. */
int flor__git_file(const char *root, const char *vid, const char *path, flor__buf *out,
                   unsigned *mode);
/* git's three-way merge of a file's text: OUT gets the result, *CLEAN is 1
 * when it merged without a conflict (else OUT holds conflict markers). */
int flor__git_merge3(const char *path, const flor__buf *base, const flor__buf *ours,
                     const flor__buf *theirs, flor__buf *out, int *clean);

#endif
