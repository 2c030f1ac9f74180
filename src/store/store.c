/*
 * store.c -- the store handle: open, close, tuning, `flor du` totals.
 *
 * The store is a directory of pack files holding chunks named by their
 * XXH3-128, found through per-pack append-only indexes; store_int.h lists
 * the files that implement it and the locks they take.  A put hashes and
 * encodes chunks on a small pool of threads (the caller is one of them);
 * appends to the pack are serialized.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int flor__store_check_pid(const flor__store *s)
{
    if (getpid() != s->pid)
        return flor__err(FLOR_EUSAGE,
                         "store '%s' was opened by process %ld: open it again after fork",
                         s->dir, (long)s->pid);
    return 0;
}

static int mkdir_p(const char *dir)
{
    char *p = flor__strdup(dir);
    if (!p)
        return -1;
    for (char *q = p + 1; *q; q++) {
        if (*q != '/')
            continue;
        *q = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            free(p);
            return -1;
        }
        *q = '/';
    }
    int r = mkdir(p, 0755) != 0 && errno != EEXIST ? -1 : 0;
    free(p);
    return r;
}

static int default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > DEFAULT_MAX_THREADS ? DEFAULT_MAX_THREADS : (int)n;
}

int flor__store_open(flor__store **out, const char *dir)
{
    *out = NULL;
    if (!dir || !*dir)
        return flor__err(FLOR_EINVAL, "no store directory given");
    flor__store *s = calloc(1, sizeof *s);
    if (!s || !(s->dir = flor__strdup(dir))) {
        free(s);
        return flor__err(FLOR_ENOMEM, "out of memory");
    }
    size_t L = strlen(s->dir);
    while (L > 1 && s->dir[L - 1] == '/')
        s->dir[--L] = 0;
    s->dirfd = s->lockfd = s->w.idx_fd = -1;
    s->w.slot = -1;
    s->pid = getpid();
    s->chunk_size = DEFAULT_CHUNK;
    s->pack_limit = DEFAULT_PACK_LIMIT;
    s->cache_limit = DEFAULT_CACHE;
    s->nthreads = default_threads();
    pthread_mutex_init(&s->opmu, NULL);
    pthread_mutex_init(&s->wmu, NULL);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->fmu, NULL);
    pthread_mutex_init(&s->pm, NULL);
    pthread_cond_init(&s->pcv, NULL);
    pthread_cond_init(&s->dcv, NULL);
    s->index.esz = sizeof(struct ient);
    s->cache.esz = sizeof(struct cmap);
    s->inflight.esz = sizeof(flor__hash);
    int rc = 0;
    if (mkdir_p(s->dir) != 0 ||
        (s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        rc = flor__err(FLOR_EIO, "cannot open store directory '%s': %s", s->dir,
                       strerror(errno));
    } else {
        s->lockfd = openat(s->dirfd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (s->lockfd < 0) /* read-only store: gets still work */
            s->lockfd = openat(s->dirfd, "LOCK", O_RDONLY | O_CLOEXEC);
        lock(&s->mu);
        rc = flor__index_refresh(s);
        unlock(&s->mu);
    }
    if (rc) {
        flor__store_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

int flor__store_close(flor__store *s)
{
    if (!s)
        return 0;
    int rc = 0;
    if (getpid() == s->pid) {
        lock(&s->opmu);
        lock(&s->wmu);
        rc = flor__writer_sync(s, &s->w, 1);
        flor__writer_release(s, &s->w);
        unlock(&s->wmu);
        unlock(&s->opmu);
        flor__pool_stop(s);
    }
    for (size_t i = 0; i < s->npacks; i++)
        if (s->packs[i].fd >= 0)
            close(s->packs[i].fd);
    if (s->w.idx_fd >= 0)
        close(s->w.idx_fd);
    for (int i = 0; i < MAX_THREADS; i++)
        flor__wctx_free(s->wctx[i]);
    if (s->lockfd >= 0)
        close(s->lockfd);
    if (s->dirfd >= 0)
        close(s->dirfd);
    flor__cache_clear(s);
    flor__ht_free(&s->index);
    flor__ht_free(&s->inflight);
    free(s->packs);
    free(s->w.pend);
    free(s->workers);
    pthread_mutex_destroy(&s->opmu);
    pthread_mutex_destroy(&s->wmu);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->fmu);
    pthread_mutex_destroy(&s->pm);
    pthread_cond_destroy(&s->pcv);
    pthread_cond_destroy(&s->dcv);
    free(s->dir);
    free(s);
    return rc;
}

size_t flor__store_set_chunk_size(flor__store *s, size_t bytes)
{
    lock(&s->opmu);
    size_t old = s->chunk_size;
    if (bytes >= 64 && bytes <= MAX_CHUNK && bytes % 8 == 0 && bytes != old) {
        lock(&s->mu);
        s->chunk_size = bytes;
        flor__cache_clear(s); /* its buffers have the old size */
        unlock(&s->mu);
    }
    unlock(&s->opmu);
    return old;
}

uint64_t flor__store_set_pack_limit(flor__store *s, uint64_t bytes)
{
    lock(&s->opmu);
    uint64_t old = s->pack_limit;
    if (bytes >= 4096)
        s->pack_limit = bytes;
    unlock(&s->opmu);
    return old;
}

int flor__store_set_threads(flor__store *s, int n)
{
    lock(&s->opmu);
    int old = s->nthreads;
    if (n >= 1 && n <= MAX_THREADS && n != old) {
        flor__pool_stop(s);
        s->nthreads = n;
    }
    unlock(&s->opmu);
    return old;
}

size_t flor__store_set_cache(flor__store *s, size_t bytes)
{
    lock(&s->opmu);
    lock(&s->mu);
    size_t old = s->cache_limit;
    s->cache_limit = bytes;
    if (s->cache_bytes > bytes)
        flor__cache_clear(s);
    unlock(&s->mu);
    unlock(&s->opmu);
    return old;
}
int flor__store_stats(flor__store *s, struct flor__store_stats *out)
{
    lock(&s->opmu);
    lock(&s->mu);
    int rc = flor__index_refresh(s);
    *out = s->st;
    out->packs = out->file_bytes = out->chunks = out->raw_bytes = out->stored_bytes = 0;
    memset(out->chunks_by_codec, 0, sizeof out->chunks_by_codec);
    for (size_t i = 0; !rc && i < s->index.cap; i++) {
        if (!s->index.used[i])
            continue;
        const struct ient *e = flor__ht_at(&s->index, i);
        out->chunks++;
        out->raw_bytes += e->raw_len;
        out->stored_bytes += REC_HDR + e->stored_len;
        out->chunks_by_codec[e->codec]++;
    }
    uint32_t *ids = NULL;
    size_t n = 0;
    if (!rc)
        rc = flor__pack_list(s, "pack", &ids, &n);
    for (size_t i = 0; i < n; i++) {
        uint64_t isz = flor__pack_file_size(s->dirfd, ids[i], "idx");
        out->packs += isz > 0;
        out->file_bytes += flor__pack_file_size(s->dirfd, ids[i], "pack") + isz;
    }
    free(ids);
    out->bad_records = s->bad_records;
    out->cache_bytes = s->cache_bytes;
    unlock(&s->mu);
    unlock(&s->opmu);
    return rc;
}
