/*
 * check.h -- the unit-test harness: a test is a function that states what
 * must hold with CHECK(...); main() lists the tests with RUN(...).
 *
 *     static void test_round_trip(void) { CHECK(x == 1); CHECK_EQ_STR(a, b); }
 *     int main(void) { RUN(test_round_trip); return check_summary(); }
 *
 * Each file prints "ok NAME" or "FAIL NAME: file:line: expression" per
 * test and a closing "N passed, N failed" line; it exits 1 on failure.
 */
#ifndef FLOR_CHECK_H
#define FLOR_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failed_now, check_passed, check_failed;
static const char *check_current;

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            if (!check_failed_now)                                               \
                printf("FAIL %s: %s:%d: %s\n", check_current, __FILE__, __LINE__, \
                       #cond);                                                   \
            check_failed_now = 1;                                                \
        }                                                                        \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                       \
    do {                                                                         \
        long long a_ = (long long)(a), b_ = (long long)(b);                      \
        if (a_ != b_) {                                                          \
            if (!check_failed_now)                                               \
                printf("FAIL %s: %s:%d: %s == %s (%lld != %lld)\n", check_current, \
                       __FILE__, __LINE__, #a, #b, a_, b_);                      \
            check_failed_now = 1;                                                \
        }                                                                        \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                       \
    do {                                                                         \
        const char *a_ = (a), *b_ = (b);                                         \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                 \
            if (!check_failed_now)                                               \
                printf("FAIL %s: %s:%d: %s == %s (\"%s\" != \"%s\")\n",          \
                       check_current, __FILE__, __LINE__, #a, #b,                \
                       a_ ? a_ : "(null)", b_ ? b_ : "(null)");                  \
            check_failed_now = 1;                                                \
        }                                                                        \
    } while (0)

#define RUN(fn)                                                                  \
    do {                                                                         \
        check_current = #fn;                                                     \
        check_failed_now = 0;                                                    \
        fn();                                                                    \
        if (check_failed_now)                                                    \
            check_failed++;                                                      \
        else {                                                                   \
            check_passed++;                                                      \
            printf("ok %s\n", #fn);                                              \
        }                                                                        \
    } while (0)

/* A scratch directory /tmp/flor-TAG-XXXXXX for a test's project, made
 * into DIR (DIR_SIZE bytes), a git repository when GIT; and its removal.
 * A failure to make one aborts the test program. */
static inline void check_scratch_dir(char *dir, size_t dir_size, const char *tag, int git)
{
    snprintf(dir, dir_size, "/tmp/flor-%s-XXXXXX", tag);
    if (!mkdtemp(dir))
        abort();
    char cmd[512];
    snprintf(cmd, sizeof cmd, "git init -q %s", dir);
    if (git && system(cmd) != 0)
        abort();
}

static inline void check_remove_dir(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        abort();
}

static inline int check_summary(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
