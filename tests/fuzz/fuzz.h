/*
 * fuzz.h -- what the libFuzzer targets in tests/fuzz/ share: a scratch
 * directory per process, writing a file into it, and failing loudly.
 *
 * A target finds a bug in one of three ways: a sanitizer report, a leak,
 * or FUZZ_CHECK(), which aborts when a reader breaks its contract (a
 * "success" that returns wrong bytes, an error code outside its list).
 */
#ifndef FLOR_FUZZ_H
#define FLOR_FUZZ_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FUZZ_CHECK(cond, ...)                                                              \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);       \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fputc('\n', stderr);                                                           \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

/* A directory of this process's own, made once, under /dev/shm when there
 * is one (the targets write a file per input), else TMPDIR or /tmp. */
static inline const char *fuzz_scratch(void)
{
    static char dir[256];
    if (dir[0])
        return dir;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/flor-fuzz-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir)) {
        perror("fuzz: cannot make a scratch directory");
        abort();
    }
    return dir;
}

/* Replaces PATH with N bytes at P (the whole file, exactly). */
static inline void fuzz_write(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    FUZZ_CHECK(fd >= 0, "cannot create '%s'", path);
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        FUZZ_CHECK(w > 0, "cannot write '%s'", path);
        c += w;
        n -= (size_t)w;
    }
    close(fd);
}

/* Removes a directory tree (the scratch directory's contents between
 * inputs).  Only plain files and directories live there. */
static inline void fuzz_rmtree(const char *path)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        abort();
}

/* Splits N bytes at P on NUL into an argv: "prog", then each piece, then a
 * NULL; every string is its own allocation (so ASan sees overreads).  Free
 * with fuzz_argv_free(ARGV, the count returned in *ARGC before any parser
 * removed entries: the parsers only shift pointers). */
static inline char **fuzz_argv(const uint8_t *p, size_t n, int *argc)
{
    int cnt = 2;
    for (size_t i = 0; i < n; i++)
        cnt += p[i] == 0;
    char **argv = calloc((size_t)cnt + 1, sizeof *argv);
    argv[0] = strdup("prog");
    int a = 1;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || p[i] == 0) {
            argv[a] = malloc(i - start + 1);
            memcpy(argv[a], p + start, i - start);
            argv[a][i - start] = 0;
            a++;
            start = i + 1;
        }
    }
    *argc = a;
    return argv;
}

static inline void fuzz_argv_free(char **argv, int argc)
{
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    free(argv);
}

#endif
