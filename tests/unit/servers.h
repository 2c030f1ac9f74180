/*
 * servers.h -- starting a test's real server with its script
 * (tests/KIND/server.sh start|stop DIR; exit status 2: not installed) in a
 * directory of its own, stopped and removed when the test exits.
 */
#ifndef FLOR_TEST_SERVERS_H
#define FLOR_TEST_SERVERS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char test_server_kind[16];
static char test_server_dir[64];

static void test_server_stop(void)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "sh tests/%s/server.sh stop %s; rm -rf %s", test_server_kind,
             test_server_dir, test_server_dir);
    if (system(cmd) != 0)
        printf("  could not stop the server in %s\n", test_server_dir);
}

/* Starts tests/KIND/server.sh in /tmp/flor-KIND-PID (test_server_dir) for
 * the test TEST; WHAT names the server in messages.  0; -1 to skip, the
 * reason printed (WHAT is not installed); -2 for a failure, printed (an
 * installed server that does not start fails the test). */
static int test_server_start(const char *kind, const char *test, const char *what)
{
    snprintf(test_server_kind, sizeof test_server_kind, "%s", kind);
    snprintf(test_server_dir, sizeof test_server_dir, "/tmp/flor-%s-%d", kind, (int)getpid());
    char cmd[256];
    snprintf(cmd, sizeof cmd, "tests/%s/server.sh", kind);
    if (access(cmd, R_OK) != 0) { /* sh's status 2 for a missing script is not "not installed" */
        printf("FAIL %s: no %s here: run the test from the repository's root\n", test, cmd);
        return -2;
    }
    snprintf(cmd, sizeof cmd, "sh tests/%s/server.sh start %s", kind, test_server_dir);
    int st = system(cmd);
    if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 2) {
        printf("skip %s: %s is not installed (scripts/install-deps.sh installs it)\n", test, what);
        return -1;
    }
    if (st != 0) {
        printf("FAIL %s: tests/%s/server.sh could not start %s in %s\n", test, kind, what,
               test_server_dir);
        return -2;
    }
    atexit(test_server_stop);
    return 0;
}

/* The first line of the file NAME that the server's script left in
 * test_server_dir (its port: "port"), without its newline, into BUF (N
 * bytes).  0; -2 for a failure of TEST, printed. */
static inline int test_server_file(const char *test, const char *name, char *buf, size_t n)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", test_server_dir, name);
    FILE *f = fopen(path, "r");
    int ok = f && fgets(buf, (int)n, f);
    if (f)
        fclose(f);
    if (!ok) {
        printf("FAIL %s: no %s in %s\n", test, name, test_server_dir);
        return -2;
    }
    buf[strcspn(buf, "\n")] = 0;
    return 0;
}

#endif
