/*
 * io.c -- the store's files: pack and index file names, listing them, and
 * the system calls that write them, wrapped so that the tests can make the
 * Nth write, sync or creation fail with ENOSPC
 * (flor__store_fail_write_after).
 */
#include "store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void flor__pack_name(char *buf, size_t n, uint32_t id, const char *ext)
{
    snprintf(buf, n, "pack-%06u.%s", id, ext);
}

/* "DIR/pack-000001.pack" for messages. */
const char *flor__pack_path(const flor__store *s, uint32_t id, const char *ext)
{
    static _Thread_local char buf[4096 + 32];
    char name[32];
    flor__pack_name(name, sizeof name, id, ext);
    snprintf(buf, sizeof buf, "%s/%s", s->dir, name);
    return buf;
}

static _Atomic long fault_countdown;

long flor__store_fail_write_after(long n) { return atomic_exchange(&fault_countdown, n); }

/* True (errno = ENOSPC) when this is the write the test asked to fail. */
static int fault(void)
{
    long v = atomic_load(&fault_countdown);
    while (v > 0) {
        if (atomic_compare_exchange_weak(&fault_countdown, &v, v - 1)) {
            if (v == 1) {
                errno = ENOSPC;
                return 1;
            }
            return 0;
        }
    }
    return 0;
}

/* Steps the vector *IOV of *CNT buffers past R bytes transferred: drops the
 * buffers done, and moves the start of the one cut in the middle. */
static void iov_advance(struct iovec **iov, int *cnt, size_t r)
{
    while (*cnt > 0 && r >= (*iov)->iov_len) {
        r -= (*iov)->iov_len;
        (*iov)++;
        (*cnt)--;
    }
    if (*cnt > 0) {
        (*iov)->iov_base = (char *)(*iov)->iov_base + r;
        (*iov)->iov_len -= r;
    }
}

int flor__io_pwritev(int fd, struct iovec *iov, int cnt, uint64_t off)
{
    if (fault())
        return -1;
    while (cnt > 0) {
        ssize_t r = pwritev(fd, iov, cnt, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = EIO;
            return -1;
        }
        off += (uint64_t)r;
        iov_advance(&iov, &cnt, (size_t)r);
    }
    return 0;
}

int flor__io_pwrite(int fd, const void *p, size_t n, uint64_t off)
{
    struct iovec v = {(void *)p, n};
    return flor__io_pwritev(fd, &v, 1, off);
}

int flor__io_fdatasync(int fd) { return fault() ? -1 : fdatasync(fd); }
int flor__io_fsync(int fd) { return fault() ? -1 : fsync(fd); }
int flor__io_ftruncate(int fd, uint64_t n) { return fault() ? -1 : ftruncate(fd, (off_t)n); }

int flor__io_create(int dirfd, const char *name)
{
    if (fault())
        return -1;
    return openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
}

/* Reads exactly N bytes (fewer only at end of file). */
ssize_t flor__io_preadv(int fd, struct iovec *iov, int cnt, uint64_t off)
{
    ssize_t total = 0;
    while (cnt > 0) {
        ssize_t r = preadv(fd, iov, cnt, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        total += r;
        off += (uint64_t)r;
        iov_advance(&iov, &cnt, (size_t)r);
    }
    return total;
}

/* Parses "pack-NNNNNN.EXT"; returns 1 and the number when NAME is one. */
static int parse_name(const char *name, const char *ext, uint32_t *id)
{
    if (strncmp(name, "pack-", 5) != 0)
        return 0;
    char *end;
    errno = 0;
    unsigned long v = strtoul(name + 5, &end, 10);
    if (end == name + 5 || errno || v > UINT32_MAX || *end != '.' || strcmp(end + 1, ext))
        return 0;
    *id = (uint32_t)v;
    return 1;
}

int flor__cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The ids of the files DIR/pack-*.EXT, sorted.  *IDS is malloc'd. */
int flor__pack_list(flor__store *s, const char *ext, uint32_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    int fd = openat(s->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return flor__err(FLOR_EIO, "cannot read directory '%s': %s", s->dir, strerror(errno));
    }
    size_t cap = 0;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        uint32_t id;
        if (!parse_name(de->d_name, ext, &id))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            uint32_t *p = realloc(*ids, cap * sizeof *p);
            if (!p) {
                rc = flor__err(FLOR_ENOMEM, "out of memory");
                break;
            }
            *ids = p;
        }
        (*ids)[(*n)++] = id;
    }
    closedir(d);
    if (rc) {
        free(*ids);
        *ids = NULL;
        *n = 0;
        return rc;
    }
    if (*n)
        qsort(*ids, *n, sizeof **ids, flor__cmp_u32);
    return 0;
}

/* The highest pack id in use by either file kind. */
int flor__pack_max_id(flor__store *s, uint32_t *out)
{
    uint32_t *a, *b;
    size_t na, nb;
    int rc = flor__pack_list(s, "pack", &a, &na);
    if (rc)
        return rc;
    rc = flor__pack_list(s, "idx", &b, &nb);
    if (rc) {
        free(a);
        return rc;
    }
    *out = 0;
    if (na && a[na - 1] > *out)
        *out = a[na - 1];
    if (nb && b[nb - 1] > *out)
        *out = b[nb - 1];
    free(a);
    free(b);
    return 0;
}

uint64_t flor__pack_file_size(int dirfd, uint32_t id, const char *ext)
{
    char name[32];
    struct stat st;
    flor__pack_name(name, sizeof name, id, ext);
    return fstatat(dirfd, name, &st, 0) == 0 ? (uint64_t)st.st_size : 0;
}
