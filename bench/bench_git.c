/*
 * bench_git.c -- what a run's code snapshot costs at run start: a
 * repository of 10,000 committed files (100 directories of 100 files of
 * 1-2 KB) in /tmp, snapshotted by flor__git_snapshot as flor_init does.
 *
 * Printed: the first snapshot (every file is read: the index's stat data
 * are too fresh to trust, see git.c), the second with nothing changed, one
 * after editing 10 files and adding 10, and the same for a tree of 10,000
 * untracked files; and, side by side, `git status --porcelain` on the
 * same tree (which also looks at every file), as a ratio.
 *
 *   make build/bench/bench_git && build/bench/bench_git [NFILES]
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[256];

static void sh(const char *fmt, ...) FLOR__PRINTF(1, 2);
static void sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (system(cmd) != 0) {
        fprintf(stderr, "bench_git: failed: %s\n", cmd);
        exit(1);
    }
}

/* NFILES files of 1-2 KB of text in directories of 100 under DIR. */
static void make_tree(const char *dir, int nfiles, unsigned seed)
{
    char path[512], line[96];
    for (int i = 0; i < nfiles; i++) {
        snprintf(path, sizeof path, "%s/d%03d", dir, i / 100);
        mkdir(path, 0777);
        snprintf(path, sizeof path, "%s/d%03d/f%05d.c", dir, i / 100, i);
        FILE *f = fopen(path, "w");
        if (!f)
            exit(1);
        int lines = 16 + (int)(rand_r(&seed) % 16);
        for (int l = 0; l < lines; l++) {
            snprintf(line, sizeof line, "int v%d_%d = %u; /* %08x */\n", i, l, rand_r(&seed),
                     rand_r(&seed));
            fputs(line, f);
        }
        fclose(f);
    }
}

static double snapshot(const char *cache, int n)
{
    char msg[64], *vid = NULL;
    snprintf(msg, sizeof msg, "bench snapshot %d", n);
    double t = flor__mono();
    if (flor__git_snapshot(root, cache, msg, &vid) != 0) {
        fprintf(stderr, "bench_git: snapshot: %s\n", flor_errmsg());
        exit(1);
    }
    t = flor__mono() - t;
    free(vid);
    return t;
}

static double git_status(void)
{
    double t = flor__mono();
    sh("cd %s && git status --porcelain >/dev/null", root);
    return flor__mono() - t;
}

static void edit_some(int nfiles)
{
    for (int i = 0; i < 10; i++) {
        int k = (i * 7919) % nfiles;
        sh("echo '/* edited */' >> %s/d%03d/f%05d.c && echo new > %s/new%d.txt", root, k / 100, k,
           root, i);
    }
}

static void scenario(const char *name, int nfiles, int commit)
{
    snprintf(root, sizeof root, "/tmp/flor-bench-git-XXXXXX");
    if (!mkdtemp(root))
        exit(1);
    sh("git init -q %s", root);
    make_tree(root, nfiles, 42);
    if (commit)
        sh("cd %s && git add -A && git -c user.name=b -c user.email=b@b commit -q -m files", root);
    /* Stat data younger than 2 s are not trusted (git.c); a project's files
     * are usually older than that. */
    sleep(3);
    char cache[300];
    snprintf(cache, sizeof cache, "%s/.git/flor-bench.index", root);
    double first = snapshot(cache, 1);
    double second = snapshot(cache, 2);
    double third = snapshot(cache, 3);
    double status = git_status();
    edit_some(nfiles);
    sleep(3);
    double edited = snapshot(cache, 4);
    double after = snapshot(cache, 5);
    printf("%-28s %6d files: first %7.1f ms, unchanged %6.1f ms / %6.1f ms, "
           "10 edited + 10 new %6.1f ms, then %6.1f ms\n",
           name, nfiles, first * 1e3, second * 1e3, third * 1e3, edited * 1e3, after * 1e3);
    printf("%-28s %6s        git status --porcelain %6.1f ms: unchanged snapshot / git status "
           "= %.2f\n",
           "", "", status * 1e3, second / status);
    sh("rm -rf %s", root);
}

int main(int argc, char **argv)
{
    int nfiles = argc > 1 ? atoi(argv[1]) : 10000;
    setenv("FLOR_QUIET", "1", 1);
    scenario("committed files", nfiles, 1);
    scenario("untracked files", nfiles, 0);
    return 0;
}
