/*
 * snapshot.c -- the snapshot of the working tree that is each run's code
 * version (flor__git_snapshot).  The other files of src/git: git/repo.h.
 *
 * The snapshot
 * ------------
 * When a run starts, flor commits the working tree as it is -- tracked
 * files with their staged and unstaged changes, and untracked files that
 * are not ignored -- to the branch flor.shadow.  The tree is built in a
 * private index that lives only in memory.  The repository's index file,
 * HEAD, the current branch, the stash and the working files are only ever
 * read, and no index.lock is taken, so runs that start together do not
 * collide.
 *
 * Speed comes from git's own stat cache: an index entry remembers the
 * size, times and inode of the file it hashed, and a file whose stat data
 * still match is not read again.  The private index starts from the
 * repository's index entries, overridden by those of the previous
 * snapshot, plus the previous snapshot's untracked files that are still
 * not ignored.  flor keeps those entries in a cache file of its own in
 * the data directory (written under a temporary name and renamed: no
 * lock, last writer wins; not rewritten when nothing changed).  Then
 * (1) seeded entries whose stat data changed but whose content did not
 * get fresh stat data, (2) libgit2's working-tree diff finds what is new,
 * changed or gone, and (3) the trees are written straight from the
 * sorted entries.  Only changed files are hashed.  As in git, stat data
 * taken less than RACY_NS after the file's mtime prove nothing (a change
 * within the same clock tick leaves no trace), so such entries are
 * "smudged" -- their times zeroed -- and hashed again next time.
 *
 * Files larger than FLOR__CODE_MAX_FILE, and files that cannot be read,
 * are left out with one warning naming them; a tracked one keeps the
 * content of the repository's index (or of the previous snapshot).
 *
 * The commit's first parent is the previous tip of flor.shadow, so the
 * branch is the history of runs (`git log --first-parent flor.shadow`);
 * the second is the user's HEAD commit when there is one, so that
 * `git diff VID^2 VID` shows what was not committed yet.  The branch
 * moves by compare-and-swap under git's ref lock, retried when another
 * run moved it first, so no snapshot is lost when runs start together.
 * When the branch cannot be moved (it is checked out, or its lock file
 * is stale), the commit is kept by refs/flor/snapshots/<id> instead.
 */
#include "git/repo.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <git2/sys/commit.h>
#include <git2/sys/repository.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SHADOW_REF "refs/heads/flor.shadow"
#define KEEP_PREFIX "refs/flor/snapshots/"
#define RACY_NS 2000000000LL     /* stat data this close to the mtime prove nothing */
#define PUBLISH_TRIES 400        /* compare-and-swap attempts on flor.shadow */


/* ---- stat data ------------------------------------------------------------ */

typedef struct snap {
    git_repository *repo;
    git_odb *odb;
    git_index *idx;          /* the private index, in memory only */
    git_index *cache;        /* the previous snapshot's entries, or NULL */
    const char *root;
    int trust_mode;          /* core.filemode: the executable bit counts */
    int nsec;                /* libgit2 keeps nanoseconds in stat data */
    int64_t t0;              /* when the snapshot began, ns since the epoch */
    flor__buf big, unreadable; /* paths left out, ", "-separated */
    int nbig, nunreadable;
    char path[PATH_MAX];     /* scratch: ROOT/relative */
} snap;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t mtime_ns(const git_index_entry *e)
{
    return (int64_t)e->mtime.seconds * 1000000000 + e->mtime.nanoseconds;
}

static const char *abs_path(snap *s, const char *rel)
{
    snprintf(s->path, sizeof s->path, "%s/%s", s->root, rel);
    return s->path;
}

/* Copies ST into the stat fields of E, as libgit2 fills them. */
static void set_stat(const snap *s, git_index_entry *e, const struct stat *st)
{
    e->ctime.seconds = (int32_t)st->st_ctim.tv_sec;
    e->ctime.nanoseconds = s->nsec ? (uint32_t)st->st_ctim.tv_nsec : 0;
    e->mtime.seconds = (int32_t)st->st_mtim.tv_sec;
    e->mtime.nanoseconds = s->nsec ? (uint32_t)st->st_mtim.tv_nsec : 0;
    e->dev = (uint32_t)st->st_dev;
    e->ino = (uint32_t)st->st_ino;
    e->uid = st->st_uid;
    e->gid = st->st_gid;
    e->file_size = (uint32_t)st->st_size;
}

/* Zeroes E's times so that its file is hashed again. */
static void smudge(git_index_entry *e)
{
    e->ctime.seconds = e->mtime.seconds = 0;
    e->ctime.nanoseconds = e->mtime.nanoseconds = 0;
}

/* The index mode of a file with stat data ST (OLD: its mode so far); 0
 * for what is neither a regular file nor a symbolic link. */
static uint32_t mode_of(const snap *s, const struct stat *st, uint32_t old)
{
    if (S_ISLNK(st->st_mode))
        return GIT_FILEMODE_LINK;
    if (!S_ISREG(st->st_mode))
        return 0;
    if (!s->trust_mode && (old == GIT_FILEMODE_BLOB || old == GIT_FILEMODE_BLOB_EXECUTABLE))
        return old;
    return (st->st_mode & S_IXUSR) ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB;
}

/* True when E describes the file with stat data ST as libgit2's diff
 * compares them; a smudged entry never matches. */
static int stat_matches(const snap *s, const git_index_entry *e, const struct stat *st)
{
    if (e->ctime.seconds == 0 || e->mode != mode_of(s, st, e->mode))
        return 0;
    if (e->file_size != (uint32_t)st->st_size || e->ino != (uint32_t)st->st_ino ||
        e->uid != st->st_uid || e->gid != st->st_gid)
        return 0;
    if (e->mtime.seconds != (int32_t)st->st_mtim.tv_sec ||
        e->ctime.seconds != (int32_t)st->st_ctim.tv_sec)
        return 0;
    return !s->nsec || (e->mtime.nanoseconds == (uint32_t)st->st_mtim.tv_nsec &&
                        e->ctime.nanoseconds == (uint32_t)st->st_ctim.tv_nsec);
}

/* The blob id the file at REL would get, without writing it. */
static int hash_file(snap *s, const char *rel, const struct stat *st, git_oid *oid)
{
    if (!S_ISLNK(st->st_mode))
        return git_repository_hashfile(oid, s->repo, rel, GIT_OBJECT_BLOB, NULL);
    char target[PATH_MAX];
    ssize_t n = readlink(abs_path(s, rel), target, sizeof target);
    if (n < 0)
        return -1;
    return git_odb_hash(oid, target, (size_t)n, GIT_OBJECT_BLOB);
}

static int note(flor__buf *list, int *count, const char *path)
{
    (*count)++;
    if (*count > 10)
        return 0; /* the warning names the first ten */
    return (list->len ? flor__buf_puts(list, ", ") : 0) || flor__buf_puts(list, path) ? -1 : 0;
}

/* ---- the private index ----------------------------------------------------- */

/* Opens what the snapshot needs: the object database, the settings that
 * shape index entries, the cache of the previous snapshot. */
static int snap_open(snap *s, const char *root, const char *cache_path)
{
    s->root = root;
    s->t0 = now_ns();
    s->nsec = (git_libgit2_features() & GIT_FEATURE_NSEC) != 0;
    int rc = flor__git_open(root, &s->repo);
    if (rc)
        return rc;
    if (git_repository_odb(&s->odb, s->repo) < 0 || git_index_new(&s->idx) < 0)
        return flor__git_fail(root);
    git_config *cfg = NULL;
    int filemode = 1, ignorecase = 0, symlinks = 1;
    if (git_repository_config_snapshot(&cfg, s->repo) == 0) {
        git_config_get_bool(&filemode, cfg, "core.filemode");
        git_config_get_bool(&ignorecase, cfg, "core.ignorecase");
        git_config_get_bool(&symlinks, cfg, "core.symlinks");
        git_config_free(cfg);
    }
    git_error_clear();
    s->trust_mode = filemode;
    int caps = (ignorecase ? GIT_INDEX_CAPABILITY_IGNORE_CASE : 0) |
               (filemode ? 0 : GIT_INDEX_CAPABILITY_NO_FILEMODE) |
               (symlinks ? 0 : GIT_INDEX_CAPABILITY_NO_SYMLINKS);
    if (git_index_set_caps(s->idx, caps) < 0)
        return flor__git_fail(root);
    if (cache_path && access(cache_path, R_OK) == 0 && git_index_open(&s->cache, cache_path) < 0) {
        s->cache = NULL; /* unreadable cache: hash what changed since the index */
        git_error_clear();
    }
    return 0;
}

static void snap_close(snap *s)
{
    git_index_free(s->idx);
    git_index_free(s->cache);
    git_odb_free(s->odb);
    git_repository_free(s->repo);
    flor__buf_release(&s->big);
    flor__buf_release(&s->unreadable);
}

/* The entry to start from for E of the repository's index: the previous
 * snapshot's entry for the path when it is usable (its blob exists), else
 * E itself, smudged when its stat data are racy (taken at or after SINCE). */
static git_index_entry seed_entry(snap *s, const git_index_entry *e, int64_t since)
{
    git_index_entry c = *e;
    c.flags &= (uint16_t)~GIT_INDEX_ENTRY_VALID;            /* assume-unchanged: look anyway */
    c.flags_extended &= GIT_INDEX_ENTRY_SKIP_WORKTREE;
    if (mtime_ns(&c) >= since)
        smudge(&c);
    const git_index_entry *prev = s->cache ? git_index_get_bypath(s->cache, e->path, 0) : NULL;
    if (prev && prev->ctime.seconds &&
        (git_oid_equal(&prev->id, &e->id) || git_odb_exists(s->odb, &prev->id))) {
        c = *prev;
        c.flags_extended = e->flags_extended & GIT_INDEX_ENTRY_SKIP_WORKTREE;
    }
    return c;
}

/* HEAD's tree as an index without stat data (empty when HEAD is unborn),
 * for a repository whose index libgit2 cannot read (a split or sparse
 * index): nothing is lost, only the stat data come from flor's cache. */
static int head_index(snap *s, git_index **out)
{
    git_object *obj = NULL;
    git_tree *tree = NULL;
    git_error_clear();
    if (git_index_new(out) < 0)
        return flor__git_fail("cannot make an index");
    if (git_revparse_single(&obj, s->repo, "HEAD^{commit}") < 0) {
        git_error_clear();
        return 0;
    }
    int rc = git_commit_tree(&tree, (git_commit *)obj) < 0 || git_index_read_tree(*out, tree) < 0
                 ? flor__git_fail("cannot read HEAD's tree")
                 : 0;
    git_tree_free(tree);
    git_object_free(obj);
    return rc;
}

/* Fills the private index with the repository's index entries (stage 0:
 * a conflicted path is taken from the working tree). */
static int seed(snap *s)
{
    char *path = flor__printf("%sindex", git_repository_path(s->repo));
    if (!path)
        return flor__err(FLOR_ENOMEM, "out of memory");
    struct stat st;
    git_index *ri = NULL;
    int rc = 0;
    if (stat(path, &st) != 0) {
        free(path);
        return 0; /* nothing staged yet */
    }
    if (git_index_open(&ri, path) < 0) {
        git_index_free(ri);
        ri = NULL;
        rc = head_index(s, &ri);
    }
    free(path);
    int64_t since = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec - RACY_NS;
    size_t n = rc ? 0 : git_index_entrycount(ri);
    for (size_t i = 0; i < n && !rc; i++) {
        const git_index_entry *e = git_index_get_byindex(ri, i);
        if (GIT_INDEX_ENTRY_STAGE(e) != 0 || (e->flags_extended & GIT_INDEX_ENTRY_INTENT_TO_ADD))
            continue;
        git_index_entry c = seed_entry(s, e, since);
        if (git_index_add(s->idx, &c) < 0)
            rc = flor__git_fail(e->path);
    }
    git_index_free(ri);
    return rc;
}

/* True when adding PATH to IDX would clash with an entry: PATH is one of
 * its directories, or one of PATH's directories is a file in it. */
static int clashes(git_index *idx, const char *path)
{
    char buf[PATH_MAX];
    size_t pos;
    int n = snprintf(buf, sizeof buf, "%s/", path);
    if (n < 0 || (size_t)n >= sizeof buf || git_index_find_prefix(&pos, idx, buf) == 0)
        return 1;
    git_error_clear();
    for (char *sl = strchr(buf, '/'); sl && sl[1]; sl = strchr(sl + 1, '/')) {
        *sl = 0;
        int hit = git_index_get_bypath(idx, buf, 0) != NULL;
        *sl = '/';
        if (hit)
            return 1;
    }
    return 0;
}

/* Adds the previous snapshot's entries for the files that the
 * repository's index does not track (they were untracked and not ignored
 * then), when they are still not ignored and their blob is still there;
 * the stat data then spare the diff from treating them as new files. */
static int seed_untracked(snap *s)
{
    size_t n = s->cache ? git_index_entrycount(s->cache) : 0;
    for (size_t i = 0; i < n; i++) {
        const git_index_entry *c = git_index_get_byindex(s->cache, i);
        int ignored = 1;
        if (GIT_INDEX_ENTRY_STAGE(c) != 0 || git_index_get_bypath(s->idx, c->path, 0))
            continue;
        if (git_ignore_path_is_ignored(&ignored, s->repo, c->path) < 0)
            git_error_clear();
        if (ignored || !git_odb_exists(s->odb, &c->id) || clashes(s->idx, c->path))
            continue;
        if (git_index_add(s->idx, c) < 0)
            return flor__git_fail(c->path);
    }
    return 0;
}

/* Brings the stat data of seeded entries up to date where the file's
 * content is still the entry's, so that the working-tree diff that
 * follows passes them by.  Changed files are left for that diff. */
static int refresh(snap *s)
{
    size_t n = git_index_entrycount(s->idx);
    for (size_t i = 0; i < n; i++) {
        const git_index_entry *e = git_index_get_byindex(s->idx, i);
        struct stat st;
        if (lstat(abs_path(s, e->path), &st) != 0 || stat_matches(s, e, &st))
            continue;
        if (mode_of(s, &st, e->mode) != e->mode || st.st_size > FLOR__CODE_MAX_FILE)
            continue;
        git_oid oid;
        if (hash_file(s, e->path, &st, &oid) < 0) {
            git_error_clear();
            continue;
        }
        if (!git_oid_equal(&oid, &e->id))
            continue;
        git_index_entry c = *e;
        set_stat(s, &c, &st);
        if (git_index_add(s->idx, &c) < 0) /* replaces E in place */
            return flor__git_fail(c.path);
    }
    return 0;
}

/* A directory where the diff saw a path: a file became a directory (its
 * files come as paths of their own), or a repository inside the tree,
 * which is kept as git keeps a submodule (its HEAD commit). */
static int add_dir(snap *s, const char *path)
{
    char name[PATH_MAX];
    snprintf(name, sizeof name, "%s", path);
    size_t n = strlen(name);
    if (n > 1 && name[n - 1] == '/')
        name[n - 1] = 0; /* the diff names a repository "dir/" */
    const git_index_entry *e = git_index_get_bypath(s->idx, name, 0);
    if (e && e->mode != GIT_FILEMODE_COMMIT)
        return git_index_remove_bypath(s->idx, name) < 0 ? -1 : 1;
    if (git_index_add_bypath(s->idx, name) < 0) {
        git_error_clear(); /* a repository with no commit yet, as `git add` says */
        return note(&s->unreadable, &s->nunreadable, path) ? -1 : 1;
    }
    return 1;
}

static int same_stat(const struct stat *a, const struct stat *b)
{
    return a->st_size == b->st_size && a->st_ino == b->st_ino &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Hashes the file at PATH (stat data ST) into the object database and the
 * private index.  A file that vanishes is dropped; one that cannot be
 * read, or keeps changing while it is read (a log another run writes),
 * is left out and named in the warning.  Returns 1, or < 0 on an error
 * that is not the file's (the object database cannot be written). */
static int add_file(snap *s, const char *path, struct stat *st)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        int rc = git_index_add_bypath(s->idx, path);
        if (rc == 0)
            return 1;
        struct stat now;
        if (rc == GIT_ENOTFOUND || lstat(abs_path(s, path), &now) != 0) {
            git_error_clear(); /* gone since the diff saw it */
            return git_index_remove_bypath(s->idx, path) < 0 ? -1 : 1;
        }
        if (access(s->path, R_OK) != 0)
            break;
        if (same_stat(st, &now))
            return rc; /* the file did not change: the error is real */
        *st = now;
    }
    git_error_clear();
    return note(&s->unreadable, &s->nunreadable, path) ? -1 : 1;
}

/* git_index_add_all's callback, called for each path that is untracked
 * or whose stat data changed: this adds (or removes) the path itself and
 * returns 1, so that add_all does nothing more; < 0 aborts. */
static int on_path(const char *path, const char *matched, void *payload)
{
    (void)matched;
    snap *s = payload;
    struct stat st;
    if (lstat(abs_path(s, path), &st) != 0) {
        const git_index_entry *e = git_index_get_bypath(s->idx, path, 0);
        if (e && !(e->flags_extended & GIT_INDEX_ENTRY_SKIP_WORKTREE) &&
            git_index_remove_bypath(s->idx, path) < 0)
            return -1;
        return 1;
    }
    if (S_ISDIR(st.st_mode))
        return add_dir(s, path);
    if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
        return 1; /* a socket or a fifo: nothing to keep */
    if (st.st_size > FLOR__CODE_MAX_FILE)
        return note(&s->big, &s->nbig, path) ? -1 : 1;
    const git_index_entry *c = s->cache ? git_index_get_bypath(s->cache, path, 0) : NULL;
    if (c && stat_matches(s, c, &st) && git_odb_exists(s->odb, &c->id))
        return git_index_add(s->idx, c) < 0 ? -1 : 1;
    return add_file(s, path, &st);
}

/* Adds what the working tree has that the private index lacks. */
static int add_worktree(snap *s)
{
    if (git_repository_set_index(s->repo, s->idx) < 0)
        return flor__git_fail(s->root);
    int rc = git_index_add_all(s->idx, NULL, GIT_INDEX_ADD_DEFAULT, on_path, s);
    if (rc < 0) {
        if (!git_error_last() && rc == -1)
            return flor__err(FLOR_ENOMEM, "out of memory");
        return flor__git_fail(s->root);
    }
    return 0;
}

static void warn_left_out(const snap *s)
{
    if (s->nbig)
        flor__warn("left out of the code snapshot, over %d MB: %s%s",
                   (int)(FLOR__CODE_MAX_FILE >> 20), s->big.p, s->nbig > 10 ? " and more" : "");
    if (s->nunreadable)
        flor__warn("left out of the code snapshot, could not be read (or kept changing): %s%s",
                   s->unreadable.p,
                   s->nunreadable > 10 ? " and more" : "");
}

/* An entry as the cache keeps it: smudged when its stat data are racy. */
static git_index_entry cache_form(const snap *s, const git_index_entry *e)
{
    git_index_entry c = *e;
    if (mtime_ns(&c) >= s->t0 - RACY_NS)
        smudge(&c);
    return c;
}

static int same_entry(const git_index_entry *a, const git_index_entry *b)
{
    return strcmp(a->path, b->path) == 0 && a->mode == b->mode && git_oid_equal(&a->id, &b->id) &&
           a->file_size == b->file_size && a->ino == b->ino && a->uid == b->uid &&
           a->gid == b->gid && a->mtime.seconds == b->mtime.seconds &&
           a->mtime.nanoseconds == b->mtime.nanoseconds && a->ctime.seconds == b->ctime.seconds &&
           a->ctime.nanoseconds == b->ctime.nanoseconds;
}

/* True when the cache holds exactly what save_cache would write (both
 * indexes are sorted by path). */
static int cache_current(const snap *s)
{
    size_t n = git_index_entrycount(s->idx);
    if (!s->cache || git_index_entrycount(s->cache) != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        git_index_entry c = cache_form(s, git_index_get_byindex(s->idx, i));
        if (!same_entry(&c, git_index_get_byindex(s->cache, i)))
            return 0;
    }
    return 1;
}

/* Keeps the private index's entries as the next snapshot's stat cache.
 * Best effort: a snapshot without a cache is only slower. */
static void save_cache(const snap *s, const char *cache_path)
{
    if (cache_current(s))
        return;
    char *tmp = flor__printf("%s.%ld.tmp", cache_path, (long)getpid());
    git_index *ci = NULL;
    if (!tmp)
        return;
    unlink(tmp);
    int rc = git_index_open(&ci, tmp);
    size_t n = rc < 0 ? 0 : git_index_entrycount(s->idx);
    for (size_t i = 0; i < n && rc >= 0; i++) {
        git_index_entry c = cache_form(s, git_index_get_byindex(s->idx, i));
        rc = git_index_add(ci, &c);
    }
    if (rc >= 0)
        rc = git_index_write(ci);
    if (rc >= 0)
        rc = rename(tmp, cache_path);
    if (rc < 0)
        unlink(tmp);
    git_index_free(ci);
    git_error_clear();
    free(tmp);
}

/* Writes the tree of the entries of the private index from *I on whose
 * paths start with PREFIX (PLEN bytes: "" or "dir/"), subtrees first, and
 * advances *I.  The index's order (bytes of the path) is git's tree
 * order, so each tree is written in one pass; blobs are not looked up
 * again, as libgit2's tree builder would. */
static int write_tree_at(snap *s, size_t *i, const char *prefix, size_t plen, git_oid *out)
{
    flor__buf b = {0};
    int rc = 0;
    size_t n = git_index_entrycount(s->idx);
    while (!rc && *i < n) {
        const git_index_entry *e = git_index_get_byindex(s->idx, *i);
        if (strncmp(e->path, prefix, plen) != 0)
            break;
        const char *name = e->path + plen, *slash = strchr(name, '/');
        size_t len = slash ? (size_t)(slash - name) : strlen(name);
        uint32_t mode = e->mode;
        git_oid sub;
        const git_oid *id = &e->id;
        if (slash) {
            char *dir = flor__printf("%.*s", (int)(plen + len + 1), e->path);
            rc = dir ? write_tree_at(s, i, dir, plen + len + 1, &sub)
                     : flor__err(FLOR_ENOMEM, "out of memory");
            free(dir);
            mode = GIT_FILEMODE_TREE;
            id = &sub;
        } else {
            (*i)++;
            if (GIT_INDEX_ENTRY_STAGE(e) != 0)
                continue;
        }
        if (!rc && (flor__buf_printf(&b, "%o %.*s", (unsigned)mode, (int)len, name) ||
                    flor__buf_add(&b, "", 1) || flor__buf_add(&b, id->id, GIT_OID_RAWSZ)))
            rc = flor__err(FLOR_ENOMEM, "out of memory");
    }
    if (!rc && git_odb_write(out, s->odb, b.p ? b.p : "", b.len, GIT_OBJECT_TREE) < 0)
        rc = flor__git_fail("cannot write the code snapshot's tree");
    flor__buf_release(&b);
    return rc;
}

static int write_tree(snap *s, git_oid *tree)
{
    size_t i = 0;
    if (git_index_caps(s->idx) & GIT_INDEX_CAPABILITY_IGNORE_CASE) /* another order */
        return git_index_write_tree(tree, s->idx) < 0
                   ? flor__git_fail("cannot write the code snapshot's tree")
                   : 0;
    return write_tree_at(s, &i, "", 0, tree);
}

/* ---- the commit and the branch -------------------------------------------- */

/* True when flor.shadow is the user's current branch (born or not) here
 * or in another worktree: flor must not move it then. */
static int shadow_checked_out(git_repository *repo)
{
    git_reference *head = NULL, *ref = NULL;
    int out = 0;
    if (git_reference_lookup(&head, repo, "HEAD") == 0 &&
        git_reference_type(head) == GIT_REFERENCE_SYMBOLIC &&
        strcmp(git_reference_symbolic_target(head), SHADOW_REF) == 0)
        out = 1;
    else if (git_reference_lookup(&ref, repo, SHADOW_REF) == 0)
        out = git_branch_is_checked_out(ref) == 1;
    git_reference_free(head);
    git_reference_free(ref);
    git_error_clear();
    return out;
}

static void pause_a_little(int attempt)
{
    unsigned seed = (unsigned)getpid() * 2654435761u + (unsigned)attempt;
    struct timespec ts = {0, (long)(500000 + rand_r(&seed) % 3000000)};
    nanosleep(&ts, NULL);
}

/* The first line of MESSAGE, for the reflog. */
static void subject(const char *message, char *out, size_t n)
{
    size_t len = strcspn(message, "\n");
    snprintf(out, n, "%.*s", (int)(len < n ? len : n - 1), message);
}

/* Keeps commit ID reachable by a ref of its own. */
static int keep_by_own_ref(git_repository *repo, const git_oid *id, const char *why)
{
    char hex[GIT_OID_HEXSZ + 1], name[128];
    git_oid_tostr(hex, sizeof hex, id);
    snprintf(name, sizeof name, KEEP_PREFIX "%s", hex);
    git_reference *ref = NULL;
    if (git_reference_create(&ref, repo, name, id, 1, "flor: snapshot") < 0)
        return flor__git_fail("cannot keep the code snapshot");
    git_reference_free(ref);
    flor__warn("%s: this run's code snapshot is kept as %s", why, name);
    return 0;
}

/* When the branch's lock file is there, a message that names it and
 * says how to remove it (git records no owner in it, so flor never
 * removes it itself); 0 when there is none. */
static int shadow_lock_message(git_repository *repo, char *why, size_t n)
{
    char *lock = flor__printf("%s" SHADOW_REF ".lock", git_repository_commondir(repo));
    struct stat st;
    int found = lock && stat(lock, &st) == 0;
    if (found) {
        long age = (long)(time(NULL) - st.st_mtime);
        snprintf(why, n, "cannot update flor.shadow: its lock file '%s' is there (%ld s old), "
                         "left by a git or flor process that died or still held by one "
                         "running now; when no git command is running in this repository, "
                         "remove it: rm '%s'",
                 lock, age < 0 ? 0 : age, lock);
    }
    free(lock);
    return found;
}

/* Creates the commit of TREE and makes flor.shadow point to it,
 * compare-and-swap: when another run moved the branch in between, the
 * commit is made again on the new tip.  A commit that cannot go on the
 * branch is kept by a ref of its own. */
static int publish(git_repository *repo, const git_oid *tree, const char *message, git_oid *out)
{
    git_signature *sig = NULL;
    if (git_signature_default(&sig, repo) < 0 &&
        git_signature_now(&sig, "flor", "flor@localhost") < 0)
        return flor__git_fail("cannot make the commit's signature");
    git_error_clear();
    git_oid head, tip, zero;
    memset(&zero, 0, sizeof zero);
    int has_head = git_reference_name_to_id(&head, repo, "HEAD") == 0;
    int guarded = shadow_checked_out(repo);
    char reflog[256], why[512] = "branch flor.shadow is checked out, and flor does not move it";
    subject(message, reflog, sizeof reflog);
    int rc = 0, moved = 0;
    for (int attempt = 0; attempt < PUBLISH_TRIES && !moved; attempt++) {
        if (attempt)
            pause_a_little(attempt);
        int has_tip = !guarded && git_reference_name_to_id(&tip, repo, SHADOW_REF) == 0;
        git_error_clear();
        const git_oid *parents[2];
        size_t n = 0;
        if (has_tip)
            parents[n++] = &tip;
        if (has_head && !(has_tip && git_oid_equal(&tip, &head)))
            parents[n++] = &head;
        if (git_commit_create_from_ids(out, repo, NULL, sig, sig, NULL, message, tree, n,
                                       parents) < 0) {
            rc = flor__git_fail("cannot commit the code snapshot");
            break;
        }
        if (guarded)
            break;
        git_reference *ref = NULL;
        int r = git_reference_create_matching(&ref, repo, SHADOW_REF, out, 1,
                                              has_tip ? &tip : &zero, reflog);
        git_reference_free(ref);
        moved = r == 0;
        if (r < 0 && shadow_lock_message(repo, why, sizeof why)) {
            git_error_clear();
        } else if (r < 0) {
            const git_error *e = git_error_last();
            snprintf(why, sizeof why, "cannot update flor.shadow (%s)",
                     e && e->message ? e->message : "it kept changing");
            git_error_clear();
            if (r != GIT_EMODIFIED && r != GIT_ELOCKED)
                break;
        }
    }
    git_signature_free(sig);
    if (rc || moved)
        return rc;
    return keep_by_own_ref(repo, out, why);
}

/* The private index of the working tree, and its tree object. */
static int build(snap *s, const char *root, const char *cache_path, git_oid *tree)
{
    int rc = snap_open(s, root, cache_path);
    if (!rc)
        rc = seed(s);
    if (!rc)
        rc = seed_untracked(s);
    if (!rc)
        rc = refresh(s);
    if (!rc)
        rc = add_worktree(s);
    if (!rc)
        rc = write_tree(s, tree);
    return rc;
}

int flor__git_snapshot(const char *root, const char *cache_path, const char *message, char **vid)
{
    *vid = NULL;
    snap s;
    memset(&s, 0, sizeof s);
    git_oid tree, commit;
    int rc = build(&s, root, cache_path, &tree);
    for (int attempt = 1; rc && rc != FLOR_ENOMEM && attempt < 3; attempt++) {
        snap_close(&s); /* a file may have shrunk while the diff read it: again */
        memset(&s, 0, sizeof s);
        rc = build(&s, root, cache_path, &tree);
    }
    if (!rc)
        rc = publish(s.repo, &tree, message, &commit);
    if (!rc) {
        char hex[GIT_OID_HEXSZ + 1];
        git_oid_tostr(hex, sizeof hex, &commit);
        *vid = flor__strdup(hex);
        warn_left_out(&s);
        if (cache_path)
            save_cache(&s, cache_path);
        if (!*vid)
            rc = flor__err(FLOR_ENOMEM, "out of memory");
    }
    snap_close(&s);
    return rc;
}
