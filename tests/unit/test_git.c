/*
 * test_git.c -- code versions: the snapshot of the working tree that each
 * run commits to flor.shadow, checked against git itself.  The snapshot's
 * tree must be what `git add -A` into a copy of the index would write;
 * the user's HEAD, branch, index, stash and working files must be
 * byte-identical before and after; unborn and detached HEADs, runs that
 * start together, large files, and the stat cache's blind spots.  Then
 * the read side: flor_project_checkout and flor_project_diff.
 */
#include "check.h"
#include "internal.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char repo[256];
static char cache[300];
static char out_buf[65536];

/* Runs the shell command FMT in the repository; returns its exit status. */
static int sh(const char *fmt, ...) FLOR__PRINTF(1, 2);
static int sh(const char *fmt, ...)
{
    char cmd[4096];
    int n = snprintf(cmd, sizeof cmd, "cd %s && ", repo);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd + n, sizeof cmd - (size_t)n, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* The standard output of the shell command FMT run in the repository,
 * without its last newline. */
static const char *out(const char *fmt, ...) FLOR__PRINTF(1, 2);
static const char *out(const char *fmt, ...)
{
    char cmd[4096];
    int n = snprintf(cmd, sizeof cmd, "cd %s && ( ", repo);
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(cmd + n, sizeof cmd - (size_t)n, fmt, ap);
    va_end(ap);
    snprintf(cmd + n, sizeof cmd - (size_t)n, " ) 2>/dev/null");
    out_buf[0] = 0;
    FILE *p = popen(cmd, "r");
    if (!p)
        return out_buf;
    size_t len = fread(out_buf, 1, sizeof out_buf - 1, p);
    out_buf[len] = 0;
    pclose(p);
    if (len && out_buf[len - 1] == '\n')
        out_buf[len - 1] = 0;
    return out_buf;
}

/* A fresh repository on branch main; COMMIT: with one commit of a.txt. */
static void new_repo(int commit)
{
    snprintf(repo, sizeof repo, "/tmp/flor-git-XXXXXX");
    if (!mkdtemp(repo))
        abort();
    snprintf(cache, sizeof cache, "%s/.flor/snapshot.index", repo);
    if (sh("git init -q -b main . && git config user.name tester && git config user.email t@x "
           "&& mkdir .flor && echo /.flor/ >> .git/info/exclude") != 0)
        abort();
    if (commit && sh("echo alpha > a.txt && git add a.txt && git commit -q -m first") != 0)
        abort();
}

static void remove_repo(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", repo);
    if (system(cmd) != 0)
        abort();
}

/* Snapshots the repository with MESSAGE; returns the vid (static). */
static const char *snap(const char *message)
{
    static char vid[64];
    char *v = NULL;
    vid[0] = 0;
    if (flor__git_snapshot(repo, cache, message, &v) != 0) {
        printf("    snapshot: %s\n", flor_errmsg());
        return vid;
    }
    snprintf(vid, sizeof vid, "%s", v);
    free(v);
    return vid;
}

/* Everything of the user's that a snapshot must leave alone, as text. */
static char *user_state(void)
{
    return flor__strdup(
        out("git rev-parse -q --verify HEAD || echo unborn; git symbolic-ref -q HEAD || "
            "echo detached; sha1sum .git/index 2>/dev/null || echo no-index; git stash list; "
            "git --no-optional-locks status --porcelain --untracked-files=all; git for-each-ref "
            "--format='%%(refname) %%(objectname)' refs/heads refs/tags refs/stash | grep -v "
            "flor.shadow; find . -path ./.git -prune -o -path ./.flor -prune -o -print | sort | "
            "while read f; do [ -f \"$f\" ] && sha1sum \"$f\" || ls -ld \"$f\" | cut -c1-10; done; "
            "ls .git/index.lock 2>&1"));
}

/* The tree `git add -A` writes into a copy of the repository's index: what
 * a snapshot must hold. */
static char *expected_tree(void)
{
    return flor__strdup(out("t=$(mktemp) && (cp .git/index $t 2>/dev/null || rm -f $t) && "
                            "GIT_INDEX_FILE=$t git add -A && GIT_INDEX_FILE=$t git write-tree; "
                            "rm -f $t"));
}

static int is_hex40(const char *s)
{
    return strlen(s) == 40 && strspn(s, "0123456789abcdef") == 40;
}

/* ---- the snapshot ---------------------------------------------------------- */

static void test_snapshot_is_the_working_tree_and_nothing_of_the_user_moves(void)
{
    new_repo(1);
    CHECK(sh("printf 'b\\nc\\nd\\n' > b.txt && echo c > c.txt && echo d > d.txt && mkdir -p "
             "src && echo main > src/main.c && chmod +x src/main.c && ln -s a.txt link && "
             "printf '*.log\\nbuild/\\n' > .gitignore && git add -A && git commit -q -m second") ==
          0);
    /* a stash entry, then every kind of change */
    CHECK(sh("echo stashed >> c.txt && git stash -q") == 0);
    CHECK(sh("echo staged >> a.txt && git add a.txt && echo b-staged > b.txt && git add b.txt && "
             "echo b-unstaged > b.txt && echo c-unstaged >> c.txt && rm d.txt && echo new > "
             "new.txt && mkdir -p deep/er && echo e > deep/er/e.txt && echo x > x.log && mkdir "
             "build && echo o > build/out.o && echo data > .flor/flor.db && echo intent > "
             "ita.txt && git add -N ita.txt && git rm -q --cached c.txt") == 0);
    char *before = user_state();
    char *want = expected_tree();
    const char *vid = snap("flor run 1: prog");
    CHECK(is_hex40(vid));
    CHECK_EQ_STR(out("git rev-parse %s^{tree}", vid), want);
    CHECK_EQ_STR(out("git show %s:b.txt", vid), "b-unstaged");
    CHECK_EQ_STR(out("git show %s:a.txt | tail -n 1", vid), "staged");
    CHECK_EQ_STR(out("git show %s:c.txt | tail -n 1", vid), "c-unstaged");
    CHECK_EQ_STR(out("git ls-tree %s src/main.c | cut -c1-6", vid), "100755");
    CHECK_EQ_STR(out("git ls-tree %s link | cut -c1-6", vid), "120000");
    CHECK_EQ_STR(out("git ls-tree -r --name-only %s | paste -sd' ' -", vid),
                 ".gitignore a.txt b.txt c.txt deep/er/e.txt ita.txt link new.txt src/main.c");
    char *after = user_state();
    CHECK_EQ_STR(after, before);
    CHECK_EQ_STR(out("git rev-parse flor.shadow"), vid);
    free(before);
    free(after);
    free(want);
    remove_repo();
}

static void test_parents_are_the_previous_snapshot_and_head(void)
{
    new_repo(1);
    const char *head = flor__strdup(out("git rev-parse HEAD"));
    char *v1 = flor__strdup(snap("flor run 1: prog"));
    char *v2 = flor__strdup(snap("flor run 2: prog --kwargs lr=0.1"));
    CHECK_EQ_STR(out("git log -1 --format=%%P %s", v1), head);
    char parents[128];
    snprintf(parents, sizeof parents, "%s %s", v1, head);
    CHECK_EQ_STR(out("git log -1 --format=%%P %s", v2), parents);
    CHECK_EQ_STR(out("git log --first-parent --format=%%s flor.shadow | tr '\\n' '|'"),
                 "flor run 2: prog --kwargs lr=0.1|flor run 1: prog|first|");
    CHECK_EQ_STR(out("git reflog show --format=%%gs flor.shadow | head -n 1"),
                 "flor run 2: prog --kwargs lr=0.1");
    CHECK_EQ_STR(out("git rev-parse HEAD"), head);
    free((char *)head);
    free(v1);
    free(v2);
    remove_repo();
}

static void test_unborn_head(void)
{
    new_repo(0);
    CHECK(sh("echo s > staged.txt && git add staged.txt && echo u > untracked.txt") == 0);
    char *before = user_state();
    char *want = expected_tree();
    char *v1 = flor__strdup(snap("flor run 1: prog"));
    CHECK(is_hex40(v1));
    CHECK_EQ_STR(out("git rev-parse %s^{tree}", v1), want);
    CHECK_EQ_STR(out("git log -1 --format=%%P %s", v1), "");
    CHECK(sh("git rev-parse -q --verify HEAD >/dev/null") != 0);
    CHECK_EQ_STR(out("git symbolic-ref HEAD"), "refs/heads/main");
    const char *v2 = snap("flor run 2: prog");
    CHECK_EQ_STR(out("git log -1 --format=%%P %s", v2), v1);
    char *after = user_state();
    CHECK_EQ_STR(after, before);
    free(before);
    free(after);
    free(want);
    free(v1);
    remove_repo();
}

static void test_detached_head(void)
{
    new_repo(1);
    CHECK(sh("echo beta > a.txt && git commit -q -am second && git checkout -q --detach HEAD~1 "
             "&& echo dirty > a.txt") == 0);
    char *head = flor__strdup(out("git rev-parse HEAD"));
    char *before = user_state();
    const char *vid = snap("flor run 1: prog");
    CHECK(is_hex40(vid));
    CHECK_EQ_STR(out("git log -1 --format=%%P %s", vid), head);
    CHECK_EQ_STR(out("git show %s:a.txt", vid), "dirty");
    CHECK(sh("git symbolic-ref -q HEAD >/dev/null") != 0); /* still detached */
    char *after = user_state();
    CHECK_EQ_STR(after, before);
    free(head);
    free(before);
    free(after);
    remove_repo();
}

/* One run in a child: waits on FD (a barrier), then flor_init + finish. */
static void run_child(int fd, int k)
{
    char c;
    if (read(fd, &c, 1) < 0 || chdir(repo) != 0)
        _exit(90);
    char arg[32];
    snprintf(arg, sizeof arg, "k=%d", k);
    char *args[] = {"prog", "--kwargs", arg, NULL}, **argv = args;
    int argc = 3;
    if (flor_init(&argc, &argv) != 0)
        _exit(91);
    flor_arg("k", 0L);
    flor_log("k_seen", 1); /* a run that logs nothing leaves no run */
    _exit(flor_finish() == 0 ? 0 : 92);
}

/* Runs that start together -- after a first run, which creates the
 * database: creating it is another race, and not this test's. */
static void test_runs_starting_together_each_keep_their_snapshot(void)
{
    new_repo(1);
    enum { N = 5 };
    int fds[2];
    CHECK(pipe(fds) == 0);
    fflush(stdout);
    pid_t pids[N];
    if ((pids[0] = fork()) == 0) {
        close(fds[1]);
        close(fds[0]);
        run_child(open("/dev/null", O_RDONLY), 0);
    }
    int st0;
    waitpid(pids[0], &st0, 0);
    CHECK(WIFEXITED(st0) && WEXITSTATUS(st0) == 0);
    for (int k = 1; k < N; k++)
        if ((pids[k] = fork()) == 0) {
            close(fds[1]);
            run_child(fds[0], k);
        }
    close(fds[0]);
    close(fds[1]); /* every child's read returns now */
    for (int k = 1; k < N; k++) {
        int st;
        waitpid(pids[k], &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    CHECK_EQ_STR(out("sqlite3 .flor/flor.db 'SELECT count(DISTINCT vid) FROM runs'"), "5");
    CHECK_EQ_STR(out("sqlite3 .flor/flor.db 'SELECT vid FROM runs' | while read v; do git "
                     "merge-base --is-ancestor $v flor.shadow && echo ok; done | wc -l"),
                 "5");
    /* the branch is a chain: 5 snapshots, then the user's commit */
    CHECK_EQ_STR(out("git rev-list --first-parent flor.shadow | wc -l"), "6");
    CHECK_EQ_STR(out("git for-each-ref refs/flor | wc -l"), "0");
    CHECK_EQ_STR(out("sqlite3 .flor/flor.db \"SELECT run_id || ' ' || vid FROM runs\" | while "
                     "read r v; do git log -1 --format=%%s $v | grep -c \"^flor run $r: prog "
                     "--kwargs k=\"; done | sort -u"),
                 "1");
    CHECK(sh("ls .flor/*.tmp >/dev/null 2>&1") != 0);
    remove_repo();
}

static void test_large_untracked_file_is_left_out_with_a_warning(void)
{
    new_repo(1);
    char path[300];
    snprintf(path, sizeof path, "%s/big.bin", repo);
    int fd = open(path, O_CREAT | O_WRONLY, 0666);
    CHECK(fd >= 0 && ftruncate(fd, FLOR__CODE_MAX_FILE + 1) == 0);
    close(fd);
    CHECK(sh("echo small > small.txt && head -c 1000 /dev/zero > fits.bin") == 0);
    char errpath[300];
    snprintf(errpath, sizeof errpath, "%s/.flor/stderr", repo);
    fflush(stderr);
    int saved = dup(2), efd = open(errpath, O_CREAT | O_WRONLY | O_TRUNC, 0666);
    dup2(efd, 2);
    unsetenv("FLOR_QUIET");
    const char *vid = snap("flor run 1: prog");
    setenv("FLOR_QUIET", "1", 1);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(efd);
    CHECK(is_hex40(vid));
    CHECK_EQ_STR(out("git ls-tree -r --name-only %s | paste -sd' ' -", vid),
                 "a.txt fits.bin small.txt");
    CHECK_EQ_STR(out("cat .flor/stderr"),
                 "flor: warning: left out of the code snapshot, over 50 MB: big.bin");
    remove_repo();
}

/* Sets PATH's times to SECONDS ago. */
static void age(const char *name, int seconds)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", repo, name);
    struct timespec ts[2];
    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= seconds;
    ts[1] = ts[0];
    CHECK(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) == 0);
}

/* "mtime: S:N" of PATH in the snapshot cache, as git reads it. */
static const char *cached_mtime(const char *path)
{
    return out("GIT_INDEX_FILE=.flor/snapshot.index git ls-files --debug %s | grep mtime | "
               "sed 's/.*mtime: *\\([0-9:]*\\).*/\\1/'",
               path);
}

static void test_the_stat_cache_misses_no_change(void)
{
    new_repo(1);
    CHECK(sh("echo one > u.txt && echo keep > t.txt && git add t.txt && echo old > o.txt") == 0);
    age("t.txt", 100);
    age("o.txt", 100);
    const char *vid = snap("1");
    /* stat data taken within 2 s of the mtime are kept smudged (0:0), so
     * that a change in the same clock tick cannot go unseen */
    CHECK_EQ_STR(cached_mtime("u.txt"), "0:0");
    CHECK(strcmp(cached_mtime("o.txt"), "0:0") != 0 && *cached_mtime("o.txt"));
    CHECK(strcmp(cached_mtime("t.txt"), "0:0") != 0 && *cached_mtime("t.txt"));
    /* changed with the same size */
    CHECK(sh("echo two > u.txt && echo KEEP > t.txt") == 0);
    vid = snap("2");
    CHECK_EQ_STR(out("git show %s:u.txt", vid), "two");
    CHECK_EQ_STR(out("git show %s:t.txt", vid), "KEEP");
    /* old files cached with trusted stat data, then changed with the same
     * size, inode and mtime: the ctime gives them away */
    age("u.txt", 100);
    age("t.txt", 100);
    snap("3");
    CHECK(strcmp(cached_mtime("u.txt"), "0:0") != 0);
    CHECK(sh("cp -p u.txt u.old && echo six > u.txt && touch -r u.old u.txt && cp -p t.txt t.old "
             "&& echo kept > t.txt && touch -r t.old t.txt && rm u.old t.old") == 0);
    vid = snap("4");
    CHECK_EQ_STR(out("git show %s:u.txt", vid), "six");
    CHECK_EQ_STR(out("git show %s:t.txt", vid), "kept");
    /* an untracked file now ignored, one deleted: both gone */
    CHECK(sh("echo v > v.txt") == 0);
    age("v.txt", 100);
    snap("5");
    CHECK(sh("echo u.txt > .gitignore && rm v.txt") == 0);
    char *want = expected_tree();
    vid = snap("6");
    CHECK_EQ_STR(out("git rev-parse %s^{tree}", vid), want);
    CHECK_EQ_STR(out("git ls-tree -r --name-only %s | paste -sd' ' -", vid),
                 ".gitignore a.txt o.txt t.txt");
    free(want);
    /* a damaged cache costs time, never content */
    CHECK(sh("echo garbage > .flor/snapshot.index && echo w > w.txt") == 0);
    want = expected_tree();
    vid = snap("7");
    CHECK_EQ_STR(out("git rev-parse %s^{tree}", vid), want);
    free(want);
    remove_repo();
}

static void test_checked_out_shadow_branch_is_not_moved(void)
{
    new_repo(1);
    CHECK(sh("git checkout -q -b flor.shadow && echo mine > a.txt") == 0);
    char *before = user_state();
    char *branch = flor__strdup(out("git rev-parse flor.shadow"));
    const char *vid = snap("flor run 1: prog");
    CHECK(is_hex40(vid));
    CHECK_EQ_STR(out("git rev-parse flor.shadow"), branch);
    char *after = user_state();
    CHECK_EQ_STR(after, before);
    CHECK_EQ_STR(out("git rev-parse refs/flor/snapshots/%s", vid), vid);
    CHECK_EQ_STR(out("git show %s:a.txt", vid), "mine");
    free(before);
    free(after);
    free(branch);
    remove_repo();
}

static void test_a_stale_lock_keeps_the_snapshot_by_its_own_ref(void)
{
    new_repo(1);
    char *v1 = flor__strdup(snap("1"));
    CHECK(sh("touch .git/refs/heads/flor.shadow.lock") == 0);
    const char *v2 = snap("2");
    CHECK(is_hex40(v2));
    CHECK_EQ_STR(out("git rev-parse flor.shadow"), v1);
    CHECK_EQ_STR(out("git rev-parse refs/flor/snapshots/%s", v2), v2);
    free(v1);
    remove_repo();
}

/* ---- reading snapshots back ------------------------------------------------ */

static void test_checkout_writes_files_modes_and_links(void)
{
    new_repo(1);
    CHECK(sh("mkdir -p d/e && echo run > d/e/run.sh && chmod +x d/e/run.sh && ln -s d/e/run.sh "
             "go && echo u > untracked.txt") == 0);
    const char *vid = snap("1");
    char dir[300];
    snprintf(dir, sizeof dir, "%s/.flor/co", repo);
    CHECK(mkdir(dir, 0777) == 0);
    CHECK_EQ_INT(flor__git_checkout(repo, vid, dir), 0);
    CHECK(sh("diff -r --no-dereference -x .git -x .flor . .flor/co") == 0);
    CHECK(sh("test -x .flor/co/d/e/run.sh && test -L .flor/co/go") == 0);
    CHECK_EQ_STR(out("readlink .flor/co/go"), "d/e/run.sh");
    CHECK_EQ_INT(flor__git_checkout(repo, "0123456789012345678901234567890123456789", dir),
                 FLOR_ENOTFOUND);
    CHECK(strstr(flor_errmsg(), "is not in the repository") != NULL);
    remove_repo();
}

/* A child that records one run of "prog" with ARGV's kwargs. */
static int record(int argc, char **args)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        char **argv = args;
        if (chdir(repo) != 0 || flor_init(&argc, &argv) != 0)
            _exit(91);
        flor_arg("lr", 0.5);
        flor_arg("name", "toy");
        flor_log("trained", 1); /* a run that logs nothing leaves no run */
        _exit(flor_finish() == 0 ? 0 : 92);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void test_project_checkout_and_diff(void)
{
    new_repo(1);
    char *a1[] = {"prog", NULL}, *a2[] = {"prog", "--kwargs", "lr=0.25", "name=b", NULL};
    CHECK(sh("echo 'v = 1' > model.py") == 0);
    CHECK_EQ_INT(record(1, a1), 0);
    CHECK(sh("echo 'v = 2' > model.py") == 0);
    CHECK_EQ_INT(record(4, a2), 0);
    flor_project *p = NULL;
    CHECK_EQ_INT(flor_project_open(&p, repo), 0);
    if (!p) {
        remove_repo();
        return;
    }
    char dir[300];
    snprintf(dir, sizeof dir, "%s/.flor/out/run1", repo);
    CHECK_EQ_INT(flor_project_checkout(p, 1, dir), 0);
    CHECK_EQ_STR(out("cat .flor/out/run1/model.py"), "v = 1");
    CHECK_EQ_INT(flor_project_checkout(p, 1, dir), FLOR_EINVAL);
    CHECK(strstr(flor_errmsg(), "exists and is not empty") != NULL);
    CHECK_EQ_INT(flor_project_checkout(p, 7, "/tmp/never-made"), FLOR_ENOTFOUND);
    CHECK(strstr(flor_errmsg(), "no run 7") != NULL);
    char *text = NULL;
    CHECK_EQ_INT(flor_project_diff(p, 1, 2, &text), 0);
    CHECK(text && strstr(text, "args of run 1 -> run 2:\n  lr: 0.5 -> 0.25\n"
                               "  name: \"toy\" -> \"b\"\ncode of run 1 ("));
    CHECK(text && strstr(text, "\n-v = 1\n+v = 2\n"));
    free(text);
    CHECK_EQ_INT(flor_project_diff(p, 2, 2, &text), 0);
    CHECK(text && strstr(text, "args of run 2 -> run 2: same\ncode of run 2 (") &&
          strstr(text, "): same\n"));
    free(text);
    flor_project_free(p);
    /* a vid the repository does not have */
    CHECK(sh("sqlite3 .flor/flor.db \"UPDATE runs SET vid='%s' WHERE run_id=2\"",
             "1111111111111111111111111111111111111111") == 0);
    CHECK_EQ_INT(flor_project_open(&p, repo), 0);
    CHECK_EQ_INT(flor_project_diff(p, 1, 2, &text), FLOR_ENOTFOUND);
    CHECK(strstr(flor_errmsg(), "run 2: code version 1111111111111111111111111111111111111111 "
                                "is not in the repository") != NULL);
    CHECK(text == NULL);
    flor_project_free(p);
    remove_repo();
}

int main(void)
{
    setenv("FLOR_QUIET", "1", 1);
    setenv("GIT_AUTHOR_NAME", "tester", 1);
    setenv("GIT_AUTHOR_EMAIL", "t@x", 1);
    setenv("GIT_COMMITTER_NAME", "tester", 1);
    setenv("GIT_COMMITTER_EMAIL", "t@x", 1);
    unsetenv("FLOR_DIR");
    unsetenv("FLOR_MODE");
    RUN(test_snapshot_is_the_working_tree_and_nothing_of_the_user_moves);
    RUN(test_parents_are_the_previous_snapshot_and_head);
    RUN(test_unborn_head);
    RUN(test_detached_head);
    RUN(test_runs_starting_together_each_keep_their_snapshot);
    RUN(test_large_untracked_file_is_left_out_with_a_warning);
    RUN(test_the_stat_cache_misses_no_change);
    RUN(test_checked_out_shadow_branch_is_not_moved);
    RUN(test_a_stale_lock_keeps_the_snapshot_by_its_own_ref);
    RUN(test_checkout_writes_files_modes_and_links);
    RUN(test_project_checkout_and_diff);
    return check_summary();
}
