/*
 * faultinject.c -- an LD_PRELOAD library that makes the Nth write or sync
 * of a process fail, as a full or failing disk would.  Tests load it in
 * front of a real flor program to see what that program does when the
 * disk says no: what it prints, what it keeps, how the run ends.
 *
 *   LD_PRELOAD=build/tests/libfaultinject.so
 *   FAULT_OPS=write,sync   which calls count (default: both)
 *                          write: write, pwrite, pwrite64, writev, pwritev
 *                          sync:  fsync, fdatasync
 *   FAULT_AT=N             the Nth counted call fails (1-based; 0 or unset:
 *                          none fails, the calls are only counted)
 *   FAULT_ERRNO=ENOSPC     or EIO, EDQUOT (default ENOSPC)
 *   FAULT_STICKY=1         every counted call from the Nth on fails (a disk
 *                          that stays full); otherwise only the Nth (a
 *                          transient error)
 *   FAULT_PATH=SUBSTRING   count only calls on regular files whose path
 *                          contains SUBSTRING (default: every regular file;
 *                          pipes, terminals and sockets never count)
 *   FAULT_REPORT=FILE      at exit, append "<calls counted> <calls failed>"
 *                          to FILE, so a test can sweep N over 1..calls
 *
 * Only the process that loaded it and its children that keep LD_PRELOAD
 * are affected; nothing on disk is changed by the library itself.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum { OP_WRITE = 1, OP_SYNC = 2 };

static int ops_mask = OP_WRITE | OP_SYNC;
static long fail_at;
static int fail_errno = ENOSPC;
static int sticky;
static const char *path_filter;
static const char *report_path;
static atomic_long counted, failed;

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off64_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);

static void report(void)
{
    if (!report_path)
        return;
    int fd = open(report_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0)
        return;
    char line[64];
    int n = snprintf(line, sizeof line, "%ld %ld\n", atomic_load(&counted), atomic_load(&failed));
    if (n > 0 && real_write)
        (void)!real_write(fd, line, (size_t)n);
    close(fd);
}

__attribute__((constructor)) static void setup(void)
{
    real_write = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    real_pwrite = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
    real_pwrite64 = (ssize_t(*)(int, const void *, size_t, off64_t))dlsym(RTLD_NEXT, "pwrite64");
    real_writev = (ssize_t(*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "writev");
    real_pwritev = (ssize_t(*)(int, const struct iovec *, int, off_t))dlsym(RTLD_NEXT, "pwritev");
    real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");

    const char *s = getenv("FAULT_OPS");
    if (s && *s) {
        ops_mask = 0;
        if (strstr(s, "write"))
            ops_mask |= OP_WRITE;
        if (strstr(s, "sync"))
            ops_mask |= OP_SYNC;
    }
    if ((s = getenv("FAULT_AT")))
        fail_at = strtol(s, NULL, 10);
    if ((s = getenv("FAULT_ERRNO"))) {
        if (strcmp(s, "EIO") == 0)
            fail_errno = EIO;
        else if (strcmp(s, "EDQUOT") == 0)
            fail_errno = EDQUOT;
    }
    sticky = (s = getenv("FAULT_STICKY")) && *s && strcmp(s, "0") != 0;
    path_filter = getenv("FAULT_PATH");
    if (path_filter && !*path_filter)
        path_filter = NULL;
    report_path = getenv("FAULT_REPORT");
    if (report_path && !*report_path)
        report_path = NULL;
    atexit(report);
}

/* Whether a call of kind OP on FD counts; when it does, whether it fails. */
static int should_fail(int op, int fd)
{
    if (!(ops_mask & op))
        return 0;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    if (path_filter) {
        char link[64], path[4096];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, path, sizeof path - 1);
        if (n < 0)
            return 0;
        path[n] = '\0';
        if (!strstr(path, path_filter))
            return 0;
    }
    long nth = atomic_fetch_add(&counted, 1) + 1;
    if (fail_at <= 0 || nth < fail_at || (!sticky && nth != fail_at))
        return 0;
    atomic_fetch_add(&failed, 1);
    errno = fail_errno;
    return 1;
}

ssize_t write(int fd, const void *buf, size_t n)
{
    return should_fail(OP_WRITE, fd) ? -1 : real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    return should_fail(OP_WRITE, fd) ? -1 : real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
    return should_fail(OP_WRITE, fd) ? -1 : real_pwrite64(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    return should_fail(OP_WRITE, fd) ? -1 : real_writev(fd, iov, cnt);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    return should_fail(OP_WRITE, fd) ? -1 : real_pwritev(fd, iov, cnt, off);
}

int fsync(int fd)
{
    return should_fail(OP_SYNC, fd) ? -1 : real_fsync(fd);
}

int fdatasync(int fd)
{
    return should_fail(OP_SYNC, fd) ? -1 : real_fdatasync(fd);
}
