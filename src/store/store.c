/*
 * store.c -- the checkpoint store: chunks named by their XXH3-128, appended
 * to a few pack files, found through per-pack append-only indexes.
 *
 *   DIR/LOCK               writers hold it shared, gc exclusive (flock)
 *   DIR/pack-NNNNNN.pack   16-byte header, then chunk records (64-byte
 *                          header + stored bytes); one writer at a time,
 *                          the one holding the file's flock
 *   DIR/pack-NNNNNN.idx    16-byte header, then 64-byte records (hash,
 *                          offset, lengths, codec, checksum), appended only
 *                          after the pack data they describe is fdatasync'ed
 *
 * Every handle loads all indexes into one hash table at open and reads new
 * records again when it misses a chunk.  A put hashes and encodes chunks on
 * a small pool of threads (the caller is one of them); appends to the pack
 * are serialized.  docs/store.md has the formats and the crash-safety
 * argument.
 *
 * Locks, always taken in this order: opmu (one public operation at a time),
 * wmu (the writer: appends, rotation, sync), mu (index, packs, cache).
 */
#include "internal.h"
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <xxhash.h>
#if defined(__x86_64__) && defined(__has_include)
#if __has_include(<xxh_x86dispatch.h>)
/* XXH3 through libxxhash's run-time dispatch to its AVX2/AVX-512 kernels:
 * three times the SSE2 speed here, and the same hashes. */
#include <xxh_x86dispatch.h>
#endif
#endif

#define PACK_MAGIC "FLORPACK"
#define IDX_MAGIC "FLORINDX"
#define FORMAT_VERSION 1      /* of the pack and index files */
/* Chunk records: version 1, or 2 when the stored bytes use a plane mode that
 * version 1 did not have (the nibble code).  Both are read. */
#define REC_VERSION_MAX 2
#define FILE_HDR 16
#define REC_HDR 64
#define IDX_REC 64
#define CHUNK_MAGIC "FLCK"
#define MAX_DEPTH 8          /* longest delta chain a put creates */
#define MAX_CHAIN 64         /* longest chain a get follows */
#define DEFERRED 255         /* a put's chunk stored by another of its tasks */
#define MAX_CHUNK (64u << 20)
#define MAX_STORED (MAX_CHUNK + 4096)

#define DEFAULT_CHUNK (1u << 20)
#define DEFAULT_PACK_LIMIT (1ull << 30)
#define DEFAULT_CACHE ((size_t)2 << 30)
#define DEFAULT_MAX_THREADS 4
#define MAX_THREADS 64

/* ---- hash tables keyed by chunk hash ------------------------------------- */

/* Open addressing with linear probing; an entry starts with its key.  Used
 * for the index, the cache map and gc's live set. */
struct htab {
    uint8_t *e;
    uint8_t *used;
    size_t esz, cap, n;
};

static size_t ht_home(const struct htab *t, const flor__hash *k)
{
    uint64_t v;
    memcpy(&v, k->b, 8);
    return (size_t)(v ^ (v >> 31)) & (t->cap - 1);
}

static void *ht_at(const struct htab *t, size_t i) { return t->e + i * t->esz; }

static void *ht_find(const struct htab *t, const flor__hash *k)
{
    if (!t->cap)
        return NULL;
    for (size_t i = ht_home(t, k);; i = (i + 1) & (t->cap - 1)) {
        if (!t->used[i])
            return NULL;
        if (memcmp(ht_at(t, i), k, 16) == 0)
            return ht_at(t, i);
    }
}

static int ht_grow(struct htab *t)
{
    size_t cap = t->cap ? t->cap * 2 : 1024;
    struct htab n = {calloc(cap, t->esz), calloc(cap, 1), t->esz, cap, 0};
    if (!n.e || !n.used) {
        free(n.e);
        free(n.used);
        return flor__err(FLOR_ENOMEM, "out of memory for the chunk index");
    }
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->used[i])
            continue;
        size_t j = ht_home(&n, (const flor__hash *)ht_at(t, i));
        while (n.used[j])
            j = (j + 1) & (cap - 1);
        memcpy(ht_at(&n, j), ht_at(t, i), t->esz);
        n.used[j] = 1;
        n.n++;
    }
    free(t->e);
    free(t->used);
    *t = n;
    return 0;
}

/* The entry for K, created (zeroed but for the key) when missing.  *FRESH
 * says which.  NULL on ENOMEM.  Invalidates pointers into the table. */
static void *ht_put(struct htab *t, const flor__hash *k, int *fresh)
{
    if ((t->n + 1) * 10 > t->cap * 7 && ht_grow(t))
        return NULL;
    size_t i = ht_home(t, k);
    for (; t->used[i]; i = (i + 1) & (t->cap - 1))
        if (memcmp(ht_at(t, i), k, 16) == 0) {
            *fresh = 0;
            return ht_at(t, i);
        }
    memset(ht_at(t, i), 0, t->esz);
    memcpy(ht_at(t, i), k, 16);
    t->used[i] = 1;
    t->n++;
    *fresh = 1;
    return ht_at(t, i);
}

/* Removes K, shifting back the entries of its probe run. */
static void ht_del(struct htab *t, const flor__hash *k)
{
    uint8_t *e = ht_find(t, k);
    if (!e)
        return;
    size_t hole = (size_t)(e - t->e) / t->esz, mask = t->cap - 1;
    for (size_t j = (hole + 1) & mask; t->used[j]; j = (j + 1) & mask) {
        size_t home = ht_home(t, (const flor__hash *)ht_at(t, j));
        /* Entry j may fill the hole unless its home lies after the hole. */
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            memcpy(ht_at(t, hole), ht_at(t, j), t->esz);
            hole = j;
        }
    }
    t->used[hole] = 0;
    t->n--;
}

static void ht_clear(struct htab *t)
{
    if (t->cap)
        memset(t->used, 0, t->cap);
    t->n = 0;
}

static void ht_free(struct htab *t)
{
    free(t->e);
    free(t->used);
    t->e = t->used = NULL;
    t->cap = t->n = 0;
}

/* ---- the store's state --------------------------------------------------- */

struct ient { /* an index entry */
    flor__hash hash, base;
    uint64_t off;
    uint32_t slot; /* in packs[] */
    uint32_t stored_len, raw_len;
    uint8_t codec, esize, depth;
};

struct pack {
    uint32_t id;
    dev_t dev;
    ino_t ino;
    int fd;            /* for reading; the locked O_RDWR one while writing */
    uint64_t idx_done; /* bytes of its index consumed */
    int writing;
    int bad;           /* wrong header: not loaded */
    uint64_t bad_recs; /* index records that failed their checksum */
};

struct writer { /* the pack a handle (or gc) appends to */
    int slot;       /* -1: none */
    int idx_fd;
    uint64_t end;   /* where the next record goes */
    uint64_t idx_end;
    uint8_t *pend;  /* index records waiting for the next sync */
    size_t npend, pcap;
};

struct cbuf {
    uint8_t *buf;
    size_t len;
};
struct cmap { /* cache map entry */
    flor__hash hash;
    int32_t buf;
};

struct wctx { /* one thread's work buffers */
    flor__codec *codec;
    uint8_t *rbuf;
    size_t rcap;
    XXH3_state_t *xs;
};

struct job;
typedef int (*task_fn)(flor__store *, struct wctx *, struct job *, size_t);
struct job {
    task_fn fn;
    void *arg;
    size_t n;
    _Atomic size_t next;
    _Atomic int failed;
    int err;
    char msg[1024];
};

struct worker {
    flor__store *s;
    int k;
    pthread_t th;
};

struct flor__store {
    char *dir;
    int dirfd, lockfd;
    int locked;               /* holds LOCK shared */
    pid_t pid;
    size_t chunk_size;
    uint64_t pack_limit;
    int nthreads;

    pthread_mutex_t opmu, wmu, mu;
    struct htab index;        /* struct ient */
    struct pack *packs;
    size_t npacks, cappacks;
    struct writer w;
    int lost;                 /* pending chunks were dropped since the last sync */
    char lost_msg[512];
    uint64_t bad_records;

    struct htab cache;        /* struct cmap */
    int cache_stale;          /* to be cleared once the running put ends */
    struct htab inflight;     /* hashes being written by the running put */
    struct cbuf *cbufs;
    int32_t *cfree;
    size_t ncbufs, capcbufs, nfree, cache_bytes, cache_limit;
    struct cbuf *slabs;       /* where the buffers are carved from */
    size_t nslabs, capslabs, slab_used;

    pthread_mutex_t pm;
    pthread_cond_t pcv, dcv;
    struct job *job;
    unsigned long gen;
    int nactive, stop, nworkers;
    struct worker *workers;
    struct wctx *wctx[MAX_THREADS]; /* [0] is the calling thread's */

    struct flor__store_stats st;

    /* during flor__store_check (struct chk_ent) */
    struct htab *chk_bad, *chk_seen;
    int chk_rebuilt;
};

static void lock(pthread_mutex_t *m) { pthread_mutex_lock(m); }
static void unlock(pthread_mutex_t *m) { pthread_mutex_unlock(m); }

static void pack_name(char *buf, size_t n, uint32_t id, const char *ext)
{
    snprintf(buf, n, "pack-%06u.%s", id, ext);
}

/* "DIR/pack-000001.pack" for messages. */
static const char *pack_path(const flor__store *s, uint32_t id, const char *ext)
{
    static _Thread_local char buf[4096 + 32];
    char name[32];
    pack_name(name, sizeof name, id, ext);
    snprintf(buf, sizeof buf, "%s/%s", s->dir, name);
    return buf;
}

/* ---- I/O with fault injection -------------------------------------------- */

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

static int io_pwritev(int fd, struct iovec *iov, int cnt, uint64_t off)
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
        while (cnt > 0 && (size_t)r >= iov->iov_len) {
            r -= (ssize_t)iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (char *)iov->iov_base + r;
            iov->iov_len -= (size_t)r;
        }
    }
    return 0;
}

static int io_pwrite(int fd, const void *p, size_t n, uint64_t off)
{
    struct iovec v = {(void *)p, n};
    return io_pwritev(fd, &v, 1, off);
}

static int io_fdatasync(int fd) { return fault() ? -1 : fdatasync(fd); }
static int io_fsync(int fd) { return fault() ? -1 : fsync(fd); }
static int io_ftruncate(int fd, uint64_t n) { return fault() ? -1 : ftruncate(fd, (off_t)n); }

static int io_create(int dirfd, const char *name)
{
    if (fault())
        return -1;
    return openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
}

/* Reads exactly N bytes (fewer only at end of file). */
static ssize_t io_preadv(int fd, struct iovec *iov, int cnt, uint64_t off)
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
        while (cnt > 0 && (size_t)r >= iov->iov_len) {
            r -= (ssize_t)iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (char *)iov->iov_base + r;
            iov->iov_len -= (size_t)r;
        }
    }
    return total;
}

/* ---- on-disk records ----------------------------------------------------- */

static void file_header(uint8_t h[FILE_HDR], const char *magic)
{
    memset(h, 0, FILE_HDR);
    memcpy(h, magic, 8);
    flor__put_le32(h + 8, FORMAT_VERSION);
    flor__put_le32(h + 12, magic[4] == 'I' ? IDX_REC : REC_HDR);
}

static int file_header_ok(const uint8_t h[FILE_HDR], const char *magic)
{
    uint8_t want[FILE_HDR];
    file_header(want, magic);
    return memcmp(h, want, FILE_HDR) == 0;
}

/*
 * Chunk record header (64 bytes, little-endian):
 *   0 "FLCK"  4 version  5 codec  6 element size  7 depth
 *   8 raw length (u32)  12 stored length (u32)  16 hash  32 base (zero if none)
 *  48 XXH3-64 of the stored bytes  56 XXH3-64 of bytes 0..55
 */
static void rec_header(uint8_t h[REC_HDR], const struct ient *e, int version, uint64_t sum)
{
    memcpy(h, CHUNK_MAGIC, 4);
    h[4] = (uint8_t)version;
    h[5] = e->codec;
    h[6] = e->esize;
    h[7] = e->depth;
    flor__put_le32(h + 8, e->raw_len);
    flor__put_le32(h + 12, e->stored_len);
    memcpy(h + 16, e->hash.b, 16);
    memcpy(h + 32, e->base.b, 16);
    flor__put_le64(h + 48, sum);
    flor__put_le64(h + 56, XXH3_64bits(h, 56));
}

/* Does the record header H describe entry E?  Returns what is wrong, or NULL. */
static const char *rec_header_check(const uint8_t h[REC_HDR], const struct ient *e)
{
    if (memcmp(h, CHUNK_MAGIC, 4) != 0)
        return "no chunk record here";
    if (flor__get_le64(h + 56) != XXH3_64bits(h, 56))
        return "record header checksum mismatch";
    if (h[4] < 1 || h[4] > REC_VERSION_MAX)
        return "unknown record version";
    if (memcmp(h + 16, e->hash.b, 16) != 0)
        return "record holds another chunk";
    if (h[5] != e->codec || h[6] != e->esize || h[7] != e->depth ||
        flor__get_le32(h + 8) != e->raw_len || flor__get_le32(h + 12) != e->stored_len ||
        (e->depth && memcmp(h + 32, e->base.b, 16) != 0))
        return "record header disagrees with the index";
    return NULL;
}

/*
 * Index record (64 bytes, little-endian):
 *   0 hash  16 base  32 offset of the chunk record (u64)  40 stored length
 *  44 raw length  48 codec  49 element size  50 depth  51..55 zero
 *  56 XXH3-64 of bytes 0..55
 */
static void idx_record(uint8_t r[IDX_REC], const struct ient *e)
{
    memset(r, 0, IDX_REC);
    memcpy(r, e->hash.b, 16);
    memcpy(r + 16, e->base.b, 16);
    flor__put_le64(r + 32, e->off);
    flor__put_le32(r + 40, e->stored_len);
    flor__put_le32(r + 44, e->raw_len);
    r[48] = e->codec;
    r[49] = e->esize;
    r[50] = e->depth;
    flor__put_le64(r + 56, XXH3_64bits(r, 56));
}

static int idx_parse(const uint8_t r[IDX_REC], struct ient *e)
{
    if (flor__get_le64(r + 56) != XXH3_64bits(r, 56))
        return -1;
    memset(e, 0, sizeof *e);
    memcpy(e->hash.b, r, 16);
    memcpy(e->base.b, r + 16, 16);
    e->off = flor__get_le64(r + 32);
    e->stored_len = flor__get_le32(r + 40);
    e->raw_len = flor__get_le32(r + 44);
    e->codec = r[48];
    e->esize = r[49];
    e->depth = r[50];
    if (e->codec >= FLOR__CODEC_COUNT || e->stored_len > MAX_STORED ||
        e->raw_len > MAX_CHUNK || e->off < FILE_HDR || e->depth > MAX_CHAIN ||
        (e->depth > 0) != (e->codec == FLOR__CODEC_XOR))
        return -1;
    return 0;
}

/* ---- packs and their indexes (mu held) ----------------------------------- */

static int add_slot(flor__store *s, const struct pack *p)
{
    if (s->npacks == s->cappacks) {
        size_t cap = s->cappacks ? s->cappacks * 2 : 16;
        struct pack *n = realloc(s->packs, cap * sizeof *n);
        if (!n)
            return flor__err(FLOR_ENOMEM, "out of memory");
        s->packs = n;
        s->cappacks = cap;
    }
    s->packs[s->npacks] = *p;
    return (int)s->npacks++;
}

static int index_insert(flor__store *s, const struct ient *e)
{
    int fresh;
    struct ient *slot = ht_put(&s->index, &e->hash, &fresh);
    if (!slot)
        return FLOR_ENOMEM;
    if (fresh)
        *slot = *e;
    return 0;
}

/* Reads the records of pack SLOT's index past what was read before.  A bad
 * record is skipped when records follow it; at the end it is left for the
 * next read (it may be a record being written right now). */
static int read_idx(flor__store *s, size_t slot)
{
    struct pack *p = &s->packs[slot];
    char name[32];
    pack_name(name, sizeof name, p->id, "idx");
    int fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0; /* not created yet, or removed by gc */
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size < FILE_HDR)
        goto out;
    if (p->idx_done < FILE_HDR) {
        uint8_t h[FILE_HDR];
        if (pread(fd, h, FILE_HDR, 0) != FILE_HDR || !file_header_ok(h, IDX_MAGIC)) {
            p->bad = 1;
            goto out;
        }
        p->idx_done = FILE_HDR;
    }
    static const size_t batch = 1024;
    uint8_t *buf = malloc(batch * IDX_REC);
    if (!buf) {
        rc = flor__err(FLOR_ENOMEM, "out of memory");
        goto out;
    }
    uint64_t end = FILE_HDR + ((uint64_t)st.st_size - FILE_HDR) / IDX_REC * IDX_REC;
    int stop = 0;
    while (p->idx_done < end && !rc && !stop) {
        size_t want = (size_t)(end - p->idx_done);
        if (want > batch * IDX_REC)
            want = batch * IDX_REC;
        ssize_t got = pread(fd, buf, want, (off_t)p->idx_done);
        if (got < IDX_REC)
            break;
        size_t nrec = (size_t)got / IDX_REC;
        for (size_t i = 0; i < nrec; i++) {
            struct ient e;
            if (idx_parse(buf + i * IDX_REC, &e) != 0) {
                if (p->idx_done + IDX_REC >= end) {
                    stop = 1;
                    break;
                }
                s->bad_records++;
                p->bad_recs++;
            } else {
                e.slot = (uint32_t)slot;
                if (index_insert(s, &e)) {
                    rc = flor__err(FLOR_ENOMEM, "out of memory for the chunk index");
                    break;
                }
            }
            p->idx_done += IDX_REC;
        }
    }
    free(buf);
out:
    close(fd);
    return rc;
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

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The ids of the files DIR/pack-*.EXT, sorted.  *IDS is malloc'd. */
static int list_ids(flor__store *s, const char *ext, uint32_t **ids, size_t *n)
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
        qsort(*ids, *n, sizeof **ids, cmp_u32);
    return 0;
}

static int find_slot(const flor__store *s, uint32_t id, dev_t dev, ino_t ino)
{
    for (size_t i = 0; i < s->npacks; i++)
        if (s->packs[i].id == id && s->packs[i].dev == dev && s->packs[i].ino == ino)
            return (int)i;
    return -1;
}

/* Makes pack ID known (a new slot when the file is new, or was replaced)
 * and reads its index's new records. */
static int load_pack(flor__store *s, uint32_t id)
{
    char name[32];
    pack_name(name, sizeof name, id, "pack");
    int fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return 0;
    }
    int slot = find_slot(s, id, st.st_dev, st.st_ino);
    if (slot >= 0) {
        close(fd);
        return s->packs[slot].bad ? 0 : read_idx(s, (size_t)slot);
    }
    uint8_t h[FILE_HDR];
    if (pread(fd, h, FILE_HDR, 0) != FILE_HDR) {
        close(fd); /* being created: its header is not there yet */
        return 0;
    }
    struct pack p = {.id = id, .dev = st.st_dev, .ino = st.st_ino, .fd = fd};
    if (!file_header_ok(h, PACK_MAGIC)) {
        close(fd);
        p.fd = -1;
        p.bad = 1;
    }
    slot = add_slot(s, &p);
    if (slot < 0) {
        if (p.fd >= 0)
            close(p.fd);
        return slot;
    }
    return p.bad ? 0 : read_idx(s, (size_t)slot);
}

/* Picks up packs and index records written since the last look. */
static int refresh(flor__store *s)
{
    uint32_t *ids;
    size_t n;
    int rc = list_ids(s, "pack", &ids, &n);
    for (size_t i = 0; i < n && !rc; i++)
        rc = load_pack(s, ids[i]);
    free(ids);
    return rc;
}

static void cache_clear(flor__store *s);

/* Forgets every pack and index entry and loads them again from disk. */
static int reload(flor__store *s)
{
    for (size_t i = 0; i < s->npacks; i++)
        if (s->packs[i].fd >= 0)
            close(s->packs[i].fd);
    s->npacks = 0;
    s->bad_records = 0;
    ht_clear(&s->index);
    cache_clear(s);
    return refresh(s);
}

/* ---- the delta-base cache (mu held) -------------------------------------- */

/* Raw bytes of recently put chunks, by hash, so that the next version of an
 * object can be XOR'ed against them without reading the store.  Buffers are
 * handed from the version they held to the version that replaces it, so a
 * steady stream of checkpoints allocates nothing.  When the cache is full,
 * new chunks are simply not cached (no eviction: a cyclic stream of objects
 * larger than the cache would otherwise never hit). */

/* Clears the cache if a failed sync made it stale; no task may be running. */
static void cache_settle(flor__store *s)
{
    lock(&s->mu);
    if (s->cache_stale)
        cache_clear(s);
    s->cache_stale = 0;
    unlock(&s->mu);
}

static void cache_clear(flor__store *s)
{
    for (size_t i = 0; i < s->nslabs; i++)
        munmap(s->slabs[i].buf, s->slabs[i].len);
    free(s->slabs);
    free(s->cbufs);
    free(s->cfree);
    s->slabs = NULL;
    s->cbufs = NULL;
    s->cfree = NULL;
    s->nslabs = s->capslabs = s->slab_used = 0;
    s->ncbufs = s->capcbufs = s->nfree = s->cache_bytes = 0;
    ht_free(&s->cache);
}

/* Takes the buffer holding H out of the map; -1 when not cached. */
static int32_t cache_claim(flor__store *s, const flor__hash *h)
{
    struct cmap *m = ht_find(&s->cache, h);
    if (!m)
        return -1;
    int32_t b = m->buf;
    ht_del(&s->cache, h);
    return b;
}

#define SLAB_BYTES ((size_t)32 << 20)

/* A new chunk-sized buffer, carved from large mappings that may use huge
 * pages: a first checkpoint fills the whole cache at once, and faulting
 * it in 4 KiB at a time would cost more than compressing. */
static uint8_t *slab_carve(flor__store *s)
{
    size_t cs = s->chunk_size;
    if (!s->nslabs || s->slab_used + cs > s->slabs[s->nslabs - 1].len) {
        size_t room = (s->cache_limit - s->cache_bytes) / cs * cs;
        size_t len = cs >= SLAB_BYTES ? cs : SLAB_BYTES / cs * cs;
        len = len < room ? len : room;
        if (s->nslabs == s->capslabs) {
            size_t cap = s->capslabs ? 2 * s->capslabs : 16;
            struct cbuf *p = realloc(s->slabs, cap * sizeof *p);
            if (!p)
                return NULL;
            s->slabs = p;
            s->capslabs = cap;
        }
        void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return NULL;
#ifdef MADV_HUGEPAGE
        madvise(m, len, MADV_HUGEPAGE);
#endif
        s->slabs[s->nslabs++] = (struct cbuf){m, len};
        s->slab_used = 0;
    }
    uint8_t *b = s->slabs[s->nslabs - 1].buf + s->slab_used;
    s->slab_used += cs;
    return b;
}

/* A free buffer of chunk_size bytes, or -1 when the cache is full. */
static int32_t cache_alloc(flor__store *s)
{
    if (s->nfree)
        return s->cfree[--s->nfree];
    if (s->cache_bytes + s->chunk_size > s->cache_limit || s->ncbufs >= INT32_MAX)
        return -1;
    if (s->ncbufs == s->capcbufs) {
        size_t cap = s->capcbufs ? 2 * s->capcbufs : 256;
        struct cbuf *nb = realloc(s->cbufs, cap * sizeof *nb);
        if (nb)
            s->cbufs = nb;
        int32_t *nf = realloc(s->cfree, cap * sizeof *nf);
        if (nf)
            s->cfree = nf;
        if (!nb || !nf)
            return -1;
        s->capcbufs = cap;
    }
    uint8_t *buf = slab_carve(s);
    if (!buf)
        return -1;
    s->cbufs[s->ncbufs] = (struct cbuf){buf, 0};
    s->cache_bytes += s->chunk_size;
    return (int32_t)s->ncbufs++;
}

static void cache_release(flor__store *s, int32_t b)
{
    if (b >= 0)
        s->cfree[s->nfree++] = b;
}

/* Files buffer B (now holding LEN bytes of chunk H) under H. */
static void cache_insert(flor__store *s, int32_t b, const flor__hash *h, size_t len)
{
    int fresh;
    struct cmap *m = ht_put(&s->cache, h, &fresh);
    if (!m || !fresh) {
        cache_release(s, b);
        return;
    }
    m->buf = b;
    s->cbufs[b].len = len;
}

/* ---- the writer (wmu held) ----------------------------------------------- */

/* Writers hold LOCK shared, so that gc (which takes it exclusively) never
 * runs while a writer may deduplicate against a chunk gc is deleting.  A gc
 * may have run since this handle read the indexes, so they are read again
 * once the lock is held; no put task may be running (the cache is cleared). */
static int take_shared_lock(flor__store *s)
{
    if (s->locked)
        return 0;
    if (s->lockfd < 0)
        return flor__err(FLOR_EIO, "cannot write into '%s': no LOCK file", s->dir);
    while (flock(s->lockfd, LOCK_SH) != 0)
        if (errno != EINTR)
            return flor__err(FLOR_EIO, "cannot lock '%s/LOCK': %s", s->dir, strerror(errno));
    s->locked = 1;
    lock(&s->mu);
    int rc = reload(s);
    unlock(&s->mu);
    return rc;
}

/* Stops appending to W's pack: releases its lock, keeps it for reading. */
static void writer_release(flor__store *s, struct writer *w)
{
    if (w->slot < 0)
        return;
    lock(&s->mu);
    struct pack *p = &s->packs[w->slot];
    flock(p->fd, LOCK_UN);
    p->writing = 0;
    unlock(&s->mu);
    if (w->idx_fd >= 0)
        close(w->idx_fd);
    w->idx_fd = -1;
    w->slot = -1;
    w->npend = 0;
}

/* Removes the pending chunks of W from the index: their data may not be on
 * disk.  The cache goes too (later), since it names chunks the index no
 * longer has. */
static void drop_pending(flor__store *s, struct writer *w)
{
    lock(&s->mu);
    for (size_t i = 0; i < w->npend; i++) {
        struct ient e;
        if (idx_parse(w->pend + i * IDX_REC, &e) != 0)
            continue;
        struct ient *cur = ht_find(&s->index, &e.hash);
        if (cur && cur->slot == (uint32_t)w->slot && cur->off == e.off)
            ht_del(&s->index, &e.hash);
    }
    s->cache_stale = 1; /* cleared when no task holds a buffer */
    unlock(&s->mu);
    w->npend = 0;
}

/* Makes W's appended records durable: pack data first, then their index
 * records.  On failure the pending chunks are forgotten and the pack is no
 * longer appended to (after a failed fsync its pages cannot be trusted). */
static int writer_sync(flor__store *s, struct writer *w, int in_index)
{
    if (w->slot < 0 || !w->npend)
        return 0;
    int pfd = s->packs[w->slot].fd;
    uint32_t id = s->packs[w->slot].id;
    const char *what = "pack";
    if (io_fdatasync(pfd) != 0)
        goto fail;
    what = "idx";
    if (io_pwrite(w->idx_fd, w->pend, w->npend * IDX_REC, w->idx_end) != 0 ||
        io_fdatasync(w->idx_fd) != 0)
        goto fail;
    w->idx_end += w->npend * IDX_REC;
    w->npend = 0;
    lock(&s->mu);
    s->packs[w->slot].idx_done = w->idx_end;
    unlock(&s->mu);
    return 0;
fail:;
    int e = errno;
    int rc = flor__err(FLOR_EIO, "cannot sync '%s': %s", pack_path(s, id, what), strerror(e));
    if (in_index) {
        drop_pending(s, w);
        s->lost = 1;
        snprintf(s->lost_msg, sizeof s->lost_msg, "%s", flor_errmsg());
    }
    w->npend = 0;
    writer_release(s, w);
    return rc;
}

/* The highest pack id in use by either file kind. */
static int max_id(flor__store *s, uint32_t *out)
{
    uint32_t *a, *b;
    size_t na, nb;
    int rc = list_ids(s, "pack", &a, &na);
    if (rc)
        return rc;
    rc = list_ids(s, "idx", &b, &nb);
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

static int writer_begin(flor__store *s, struct writer *w, int pfd, int ifd, uint32_t id,
                        uint64_t end, uint64_t idx_end)
{
    struct stat st;
    if (fstat(pfd, &st) != 0)
        return flor__err(FLOR_EIO, "cannot stat '%s': %s", pack_path(s, id, "pack"),
                         strerror(errno));
    lock(&s->mu);
    int slot = find_slot(s, id, st.st_dev, st.st_ino);
    if (slot >= 0) {
        struct pack *p = &s->packs[slot];
        if (p->fd >= 0 && p->fd != pfd)
            close(p->fd);
        p->fd = pfd;
        p->writing = 1;
        p->idx_done = idx_end;
    } else {
        struct pack p = {.id = id, .dev = st.st_dev, .ino = st.st_ino, .fd = pfd,
                         .idx_done = idx_end, .writing = 1};
        slot = add_slot(s, &p);
    }
    unlock(&s->mu);
    if (slot < 0)
        return slot;
    w->slot = slot;
    w->idx_fd = ifd;
    w->end = end;
    w->idx_end = idx_end;
    w->npend = 0;
    return 0;
}

/* Creates a new pack (and its index) under a fresh id, locked by W.  The
 * index is created first and both with O_EXCL, so an id is never shared and
 * a stale index never describes a new pack. */
static int create_pack(flor__store *s, struct writer *w)
{
    uint32_t id;
    int rc = max_id(s, &id);
    if (rc)
        return rc;
    for (int tries = 0; tries < 1000; tries++) {
        id++;
        char pn[32], in[32];
        pack_name(pn, sizeof pn, id, "pack");
        pack_name(in, sizeof in, id, "idx");
        int ifd = io_create(s->dirfd, in);
        if (ifd < 0 && errno == EEXIST)
            continue;
        if (ifd < 0)
            return flor__err(FLOR_EIO, "cannot create '%s': %s", pack_path(s, id, "idx"),
                             strerror(errno));
        int pfd = io_create(s->dirfd, pn);
        if (pfd < 0) {
            int e = errno;
            unlinkat(s->dirfd, in, 0);
            close(ifd);
            if (e == EEXIST)
                continue;
            return flor__err(FLOR_EIO, "cannot create '%s': %s", pack_path(s, id, "pack"),
                             strerror(e));
        }
        uint8_t ph[FILE_HDR], ih[FILE_HDR];
        file_header(ph, PACK_MAGIC);
        file_header(ih, IDX_MAGIC);
        if (flock(pfd, LOCK_EX | LOCK_NB) != 0 || io_pwrite(pfd, ph, FILE_HDR, 0) != 0 ||
            io_pwrite(ifd, ih, FILE_HDR, 0) != 0 || io_fsync(s->dirfd) != 0) {
            int e = errno;
            unlinkat(s->dirfd, in, 0);
            unlinkat(s->dirfd, pn, 0);
            close(ifd);
            close(pfd);
            return flor__err(FLOR_EIO, "cannot create '%s': %s", pack_path(s, id, "pack"),
                             strerror(e));
        }
        rc = writer_begin(s, w, pfd, ifd, id, FILE_HDR, FILE_HDR);
        if (rc) {
            close(ifd);
            close(pfd);
        }
        return rc;
    }
    return flor__err(FLOR_EIO, "cannot find a free pack name in '%s'", s->dir);
}

/* Takes over pack SLOT if no one holds it and it has room: returns 1 when
 * taken, 0 when not, or an error. */
static int adopt_pack(flor__store *s, struct writer *w, size_t slot)
{
    lock(&s->mu);
    struct pack p = s->packs[slot];
    unlock(&s->mu);
    if (p.bad || p.fd < 0 || p.writing)
        return 0;
    char pn[32], in[32];
    pack_name(pn, sizeof pn, p.id, "pack");
    pack_name(in, sizeof in, p.id, "idx");
    int pfd = openat(s->dirfd, pn, O_RDWR | O_CLOEXEC);
    if (pfd < 0)
        return 0;
    struct stat st, ist;
    int ifd = -1;
    if (fstat(pfd, &st) != 0 || st.st_ino != p.ino || st.st_dev != p.dev ||
        (uint64_t)st.st_size + (uint64_t)s->chunk_size + REC_HDR > s->pack_limit ||
        flock(pfd, LOCK_EX | LOCK_NB) != 0)
        goto skip;
    ifd = openat(s->dirfd, in, O_RDWR | O_CLOEXEC);
    if (ifd < 0 || fstat(ifd, &ist) != 0 || (uint64_t)ist.st_size < FILE_HDR)
        goto skip;
    /* Everything in its index is ours to know before appending to it. */
    lock(&s->mu);
    int rc = read_idx(s, slot);
    uint64_t done = s->packs[slot].idx_done;
    unlock(&s->mu);
    if (rc) {
        close(ifd);
        close(pfd);
        return rc;
    }
    uint64_t isz = (uint64_t)ist.st_size;
    uint64_t whole = FILE_HDR + (isz - FILE_HDR) / IDX_REC * IDX_REC;
    /* A last record that fails its checksum was torn by a crash (no one
     * else writes this index while we hold the pack): cut it off too. */
    if (done >= FILE_HDR && done < whole)
        whole = done;
    if (whole != isz && io_ftruncate(ifd, whole) != 0) {
        int e = errno;
        close(ifd);
        close(pfd);
        return flor__err(FLOR_EIO, "cannot truncate '%s': %s", pack_path(s, p.id, "idx"),
                         strerror(e));
    }
    rc = writer_begin(s, w, pfd, ifd, p.id, (uint64_t)st.st_size, whole);
    if (rc) {
        close(ifd);
        close(pfd);
        return rc;
    }
    return 1;
skip:
    if (ifd >= 0)
        close(ifd);
    close(pfd);
    return 0;
}

/* Gives the handle a pack to append to: an idle one with room, or a new one.
 * The caller holds LOCK (flor__store_put took it). */
static int writer_open(flor__store *s)
{
    int rc;
    lock(&s->mu);
    size_t n = s->npacks;
    unlock(&s->mu);
    for (size_t i = n; i-- > 0;) {
        rc = adopt_pack(s, &s->w, i);
        if (rc < 0)
            return rc;
        if (rc == 1)
            return 0;
    }
    return create_pack(s, &s->w);
}

/* Appends a record to W's pack (opening or rolling over to a new one as
 * needed) and queues its index record.  E gets its slot and offset. */
static int writer_append(flor__store *s, struct writer *w, int is_main, struct ient *e,
                         const uint8_t hdr[REC_HDR], const struct flor__enc *enc)
{
    uint64_t need = REC_HDR + (uint64_t)e->stored_len;
    if (w->slot >= 0 && w->end > FILE_HDR && w->end + need > s->pack_limit) {
        int rc = writer_sync(s, w, is_main);
        writer_release(s, w);
        if (rc)
            return rc;
    }
    if (w->slot < 0) {
        int rc = is_main ? writer_open(s) : create_pack(s, w);
        if (rc)
            return rc;
    }
    if (w->npend == w->pcap) {
        size_t cap = w->pcap ? w->pcap * 2 : 256;
        uint8_t *p = realloc(w->pend, cap * IDX_REC);
        if (!p)
            return flor__err(FLOR_ENOMEM, "out of memory");
        w->pend = p;
        w->pcap = cap;
    }
    struct iovec iov[1 + FLOR__ENC_MAXIOV];
    iov[0] = (struct iovec){(void *)hdr, REC_HDR};
    for (int i = 0; i < enc->niov; i++)
        iov[1 + i] = (struct iovec){(void *)enc->iov[i].p, enc->iov[i].n};
    int fd = s->packs[w->slot].fd;
    if (io_pwritev(fd, iov, 1 + enc->niov, w->end) != 0)
        return flor__err(FLOR_EIO, "cannot write '%s': %s",
                         pack_path(s, s->packs[w->slot].id, "pack"), strerror(errno));
#ifdef SYNC_FILE_RANGE_WRITE
    /* Start writeback now, so that the sync finds little left to do. */
    sync_file_range(fd, (off_t)w->end, (off_t)need, SYNC_FILE_RANGE_WRITE);
#endif
    e->slot = (uint32_t)w->slot;
    e->off = w->end;
    w->end += need;
    idx_record(w->pend + w->npend * IDX_REC, e);
    w->npend++;
    return 0;
}

/* ---- per-thread contexts and the worker pool ----------------------------- */

static void wctx_free(struct wctx *w)
{
    if (!w)
        return;
    flor__codec_free(w->codec);
    free(w->rbuf);
    XXH3_freeState(w->xs);
    free(w);
}

static struct wctx *wctx_new(void)
{
    struct wctx *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->codec = flor__codec_new();
    w->xs = XXH3_createState();
    if (!w->codec || !w->xs) {
        wctx_free(w);
        return NULL;
    }
    return w;
}

static int wctx_reserve(struct wctx *w, size_t n)
{
    if (n <= w->rcap)
        return 0;
    uint8_t *p = malloc(n);
    if (!p)
        return flor__err(FLOR_ENOMEM, "out of memory for a %zu-byte chunk", n);
    free(w->rbuf);
    w->rbuf = p;
    w->rcap = n;
    return 0;
}

static void job_loop(flor__store *s, struct wctx *w, struct job *j)
{
    while (!atomic_load(&j->failed)) {
        size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n)
            break;
        int rc = j->fn(s, w, j, i);
        if (rc && atomic_exchange(&j->failed, 1) == 0) {
            j->err = rc;
            snprintf(j->msg, sizeof j->msg, "%s", flor_errmsg());
        }
    }
}

static void *worker_main(void *arg)
{
    struct worker *wk = arg;
    flor__store *s = wk->s;
    unsigned long seen = 0;
    lock(&s->pm);
    for (;;) {
        while (!s->stop && s->gen == seen)
            pthread_cond_wait(&s->pcv, &s->pm);
        if (s->stop)
            break;
        seen = s->gen;
        struct job *j = s->job;
        unlock(&s->pm);
        job_loop(s, s->wctx[wk->k], j);
        lock(&s->pm);
        if (--s->nactive == 0)
            pthread_cond_signal(&s->dcv);
    }
    unlock(&s->pm);
    return NULL;
}

static void pool_stop(flor__store *s)
{
    if (!s->nworkers)
        return;
    lock(&s->pm);
    s->stop = 1;
    pthread_cond_broadcast(&s->pcv);
    unlock(&s->pm);
    for (int i = 0; i < s->nworkers; i++)
        pthread_join(s->workers[i].th, NULL);
    for (int i = 1; i <= s->nworkers; i++) {
        wctx_free(s->wctx[i]);
        s->wctx[i] = NULL;
    }
    free(s->workers);
    s->workers = NULL;
    s->nworkers = 0;
    s->stop = 0;
}

/* Starts nthreads - 1 workers; on any failure runs with fewer. */
static void pool_start(flor__store *s)
{
    int want = s->nthreads - 1;
    if (s->nworkers || want <= 0)
        return;
    s->workers = calloc((size_t)want, sizeof *s->workers);
    if (!s->workers)
        return;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* signals stay with the program's threads */
    for (int i = 0; i < want; i++) {
        s->wctx[i + 1] = wctx_new();
        s->workers[i] = (struct worker){.s = s, .k = i + 1};
        if (!s->wctx[i + 1] ||
            pthread_create(&s->workers[i].th, NULL, worker_main, &s->workers[i]) != 0) {
            wctx_free(s->wctx[i + 1]);
            s->wctx[i + 1] = NULL;
            break;
        }
        s->nworkers++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!s->nworkers) {
        free(s->workers);
        s->workers = NULL;
    }
}

/* Runs J's tasks on the calling thread and the pool; returns the first
 * failure with its message. */
static int run_job(flor__store *s, struct job *j)
{
    atomic_store(&j->next, 0);
    atomic_store(&j->failed, 0);
    if (!s->wctx[0] && !(s->wctx[0] = wctx_new()))
        return flor__err(FLOR_ENOMEM, "out of memory");
    int posted = 0;
    if (j->n > 1 && s->nthreads > 1 && getpid() == s->pid) {
        pool_start(s);
        if (s->nworkers) {
            lock(&s->pm);
            s->job = j;
            s->gen++;
            s->nactive = s->nworkers;
            pthread_cond_broadcast(&s->pcv);
            unlock(&s->pm);
            posted = 1;
        }
    }
    job_loop(s, s->wctx[0], j);
    if (posted) {
        lock(&s->pm);
        while (s->nactive)
            pthread_cond_wait(&s->dcv, &s->pm);
        s->job = NULL;
        unlock(&s->pm);
    }
    if (atomic_load(&j->failed))
        return flor__err(j->err, "%s", j->msg);
    return 0;
}

/* ---- put ----------------------------------------------------------------- */

struct put_arg {
    const uint8_t *data;
    size_t n, cs, esize;
    int cheap;
    const struct flor__obj *prev; /* NULL unless its chunks line up with ours */
    struct flor__obj *out;
    struct flor__put_stats st;    /* under mu */
};

static size_t chunk_len(size_t n, size_t cs, size_t i)
{
    size_t off = i * cs;
    return n - off < cs ? n - off : cs;
}

/* Under mu: a chunk with hash H was found already stored.  Returns a cache
 * buffer to fill with its bytes (so the next version can XOR against it),
 * or -1 when it is cached already or cannot be. */
static int32_t cache_for_dedup(flor__store *s, const flor__hash *h, const flor__hash *bh)
{
    if (!s->cache_limit || ht_find(&s->cache, h))
        return -1;
    int32_t b = bh ? cache_claim(s, bh) : -1;
    return b >= 0 ? b : cache_alloc(s);
}

/* Under mu: the cached base for a delta against BH, if it may be used.
 * *DEPTH gets the base's depth.  -1 when none. */
static int32_t claim_base(flor__store *s, const flor__hash *bh, size_t len, uint8_t *depth)
{
    struct ient *be = ht_find(&s->index, bh);
    int32_t b = cache_claim(s, bh);
    if (b < 0)
        return -1;
    if (!be || be->raw_len != len || s->cbufs[b].len != len || be->depth >= MAX_DEPTH) {
        /* still handy as a buffer for this chunk's own bytes */
        *depth = 255;
        return b;
    }
    *depth = be->depth;
    return b;
}

static void ref_from_entry(struct flor__chunk_ref *r, const struct ient *e)
{
    r->depth = e->depth;
    memset(&r->base, 0, sizeof r->base);
    if (e->depth)
        r->base = e->base;
}

static uint64_t enc_checksum(struct wctx *w, const struct flor__enc *enc)
{
    XXH3_64bits_reset(w->xs);
    for (int i = 0; i < enc->niov; i++)
        XXH3_64bits_update(w->xs, enc->iov[i].p, enc->iov[i].n);
    return XXH3_64bits_digest(w->xs);
}

/* Encodes and appends chunk I unless the store has it. */
static int put_task(flor__store *s, struct wctx *w, struct job *j, size_t i)
{
    struct put_arg *a = j->arg;
    size_t len = chunk_len(a->n, a->cs, i);
    const uint8_t *p = a->data + i * a->cs;
    struct flor__chunk_ref *ref = &a->out->chunks[i];
    ref->hash = flor__hash_of(p, len);
    const flor__hash *bh = a->prev ? &a->prev->chunks[i].hash : NULL;

    lock(&s->mu);
    struct ient *have = ht_find(&s->index, &ref->hash);
    int32_t cb = -1;
    uint8_t bdepth = 255;
    if (!have) {
        int fresh;
        if (!ht_put(&s->inflight, &ref->hash, &fresh)) {
            unlock(&s->mu);
            return flor__err(FLOR_ENOMEM, "out of memory");
        }
        if (!fresh) { /* another thread is writing the same bytes */
            ref->depth = DEFERRED;
            unlock(&s->mu);
            return 0;
        }
    }
    if (have) {
        ref_from_entry(ref, have);
        a->st.dedup++;
        cb = cache_for_dedup(s, &ref->hash, bh);
    } else if (bh && s->cache_limit) {
        cb = claim_base(s, bh, len, &bdepth);
        if (cb < 0)
            cb = cache_alloc(s);
    } else if (s->cache_limit) {
        cb = cache_alloc(s);
    }
    uint8_t *cbuf = cb >= 0 ? s->cbufs[cb].buf : NULL;
    unlock(&s->mu);

    int rc = 0;
    if (!have) {
        const uint8_t *base = cbuf && bdepth < MAX_DEPTH && !a->cheap ? cbuf : NULL;
        struct flor__enc enc = {0};
        rc = flor__codec_encode(w->codec, p, len, a->esize, base, a->cheap, &enc);
        struct ient e = {.hash = ref->hash, .raw_len = (uint32_t)len,
                         .stored_len = (uint32_t)enc.stored_len, .codec = enc.codec,
                         .esize = enc.esize};
        if (!rc && enc.codec == FLOR__CODEC_XOR) {
            e.base = *bh;
            e.depth = (uint8_t)(bdepth + 1);
        }
        if (!rc) {
            uint8_t hdr[REC_HDR];
            rec_header(hdr, &e, enc.version, enc_checksum(w, &enc));
            lock(&s->wmu);
            rc = writer_append(s, &s->w, 1, &e, hdr, &enc);
            if (!rc) {
                lock(&s->mu);
                rc = index_insert(s, &e) ? flor__err(FLOR_ENOMEM, "out of memory") : 0;
                struct ient *cur = ht_find(&s->index, &e.hash);
                if (cur)
                    ref_from_entry(ref, cur);
                a->st.stored += REC_HDR + e.stored_len;
                a->st.by_codec[e.codec]++;
                unlock(&s->mu);
            }
            unlock(&s->wmu);
        }
    }
    if (cb >= 0 && !rc)
        memcpy(cbuf, p, len);
    lock(&s->mu);
    if (cb >= 0 && !rc)
        cache_insert(s, cb, &ref->hash, len);
    else
        cache_release(s, cb);
    unlock(&s->mu);
    return rc;
}

/* Chunks that were being written by another thread when their turn came:
 * they are in the index now. */
static int resolve_deferred(flor__store *s, struct put_arg *a)
{
    int rc = 0;
    lock(&s->mu);
    for (uint32_t i = 0; i < a->out->nchunks && !rc; i++) {
        struct flor__chunk_ref *ref = &a->out->chunks[i];
        if (ref->depth != DEFERRED)
            continue;
        struct ient *e = ht_find(&s->index, &ref->hash);
        if (e) {
            ref_from_entry(ref, e);
            a->st.dedup++;
        } else {
            rc = flor__err(FLOR_EIO, "chunk %u of the object was not stored", i);
        }
    }
    unlock(&s->mu);
    return rc;
}

static int check_pid(const flor__store *s)
{
    if (getpid() != s->pid)
        return flor__err(FLOR_EUSAGE,
                         "store '%s' was opened by process %ld: open it again after fork",
                         s->dir, (long)s->pid);
    return 0;
}

int flor__store_put(flor__store *s, const void *data, size_t n, int elemtype,
                    const struct flor__obj *prev, struct flor__obj *out,
                    struct flor__put_stats *stats)
{
    double t0 = flor__mono();
    memset(out, 0, sizeof *out);
    if (stats)
        memset(stats, 0, sizeof *stats);
    int type = elemtype & 0xff, cheap = (elemtype & FLOR__PUT_CHEAP) != 0;
    if ((elemtype & ~(0xff | FLOR__PUT_CHEAP)) || type >= FLOR__ELEM_COUNT)
        return flor__err(FLOR_EINVAL, "unknown element type %d", elemtype);
    if (!data && n)
        return flor__err(FLOR_EINVAL, "no data for an object of %zu bytes", n);
    int rc = check_pid(s);
    if (rc)
        return rc;
    lock(&s->opmu);
    size_t cs = s->chunk_size, nc = n / cs + (n % cs != 0);
    if (nc > UINT32_MAX) {
        unlock(&s->opmu);
        return flor__err(FLOR_EINVAL, "object of %zu bytes has too many chunks", n);
    }
    out->nbytes = n;
    out->chunk_size = (uint32_t)cs;
    out->elemtype = (uint8_t)type;
    out->nchunks = (uint32_t)nc;
    out->chunks = nc ? calloc(nc, sizeof *out->chunks) : NULL;
    if (nc && !out->chunks) {
        unlock(&s->opmu);
        memset(out, 0, sizeof *out);
        return flor__err(FLOR_ENOMEM, "out of memory");
    }
    rc = nc ? take_shared_lock(s) : 0;
    if (rc) {
        unlock(&s->opmu);
        flor__obj_release(out);
        return rc;
    }
    int aligned = prev && prev->nbytes == n && prev->chunk_size == cs && prev->nchunks == nc;
    struct put_arg a = {.data = data, .n = n, .cs = cs, .esize = flor__elem_size(type),
                        .cheap = cheap, .prev = aligned ? prev : NULL, .out = out};
    struct job j = {.fn = put_task, .arg = &a, .n = nc};
    lock(&s->mu);
    ht_clear(&s->inflight);
    unlock(&s->mu);
    rc = run_job(s, &j);
    cache_settle(s);
    if (!rc)
        rc = resolve_deferred(s, &a);
    if (!rc) {
        a.st.logical = n;
        a.st.chunks = (uint32_t)nc;
        a.st.seconds = flor__mono() - t0;
        s->st.put_objects++;
        s->st.put_logical += n;
        s->st.put_stored += a.st.stored;
        s->st.put_chunks += nc;
        s->st.put_dedup += a.st.dedup;
        for (int c = 0; c < FLOR__CODEC_COUNT; c++)
            s->st.put_by_codec[c] += a.st.by_codec[c];
        if (stats)
            *stats = a.st;
    }
    unlock(&s->opmu);
    if (rc)
        flor__obj_release(out);
    return rc;
}

int flor__store_sync(flor__store *s)
{
    int rc = check_pid(s);
    if (rc)
        return rc;
    lock(&s->opmu);
    lock(&s->wmu);
    rc = writer_sync(s, &s->w, 1);
    if (!rc && s->lost)
        rc = flor__err(FLOR_EIO, "chunks put since the last sync were lost: %s", s->lost_msg);
    s->lost = 0;
    unlock(&s->wmu);
    cache_settle(s);
    unlock(&s->opmu);
    return rc;
}

/* ---- get ----------------------------------------------------------------- */

struct get_arg {
    const struct flor__obj *obj;
    uint8_t *dst;
    _Atomic int refreshed;
};

/* Copies the index entry for H and its pack's fd and id.  On a miss the
 * indexes are read again once per get (another process may have written
 * the chunk since this handle looked). */
static int lookup(flor__store *s, struct get_arg *a, const flor__hash *h, struct ient *e,
                  int *fd, uint32_t *id)
{
    lock(&s->mu);
    struct ient *f = ht_find(&s->index, h);
    if (!f && atomic_exchange(&a->refreshed, 1) == 0) {
        int rc = refresh(s);
        if (rc) {
            unlock(&s->mu);
            return rc;
        }
        f = ht_find(&s->index, h);
    }
    if (f) {
        *e = *f;
        *fd = s->packs[f->slot].fd;
        *id = s->packs[f->slot].id;
    }
    unlock(&s->mu);
    if (!f) {
        char hex[33];
        flor__hash_hex(h, hex);
        return flor__err(FLOR_ENOTFOUND, "chunk %s not found in '%s'", hex, s->dir);
    }
    return 0;
}

static int chunk_err(const flor__store *s, int code, uint32_t id, const struct ient *e,
                     const char *what)
{
    char hex[33];
    flor__hash_hex(&e->hash, hex);
    return flor__err(code, "'%s': chunk %s at offset %llu: %s", pack_path(s, id, "pack"), hex,
                     (unsigned long long)e->off, what);
}

/* Restores chunk H (LEN bytes) into DST: its base first when it is a delta,
 * then its own record, verified. */
static int get_chunk(flor__store *s, struct wctx *w, struct get_arg *a, const flor__hash *h,
                     uint8_t *dst, size_t len, int level)
{
    struct ient e;
    int fd = -1;
    uint32_t id = 0;
    int rc = lookup(s, a, h, &e, &fd, &id);
    if (rc)
        return rc;
    if (e.raw_len != len)
        return chunk_err(s, FLOR_ECORRUPT, id, &e, "size differs from the manifest's");
    if (e.depth && level >= MAX_CHAIN)
        return chunk_err(s, FLOR_ECORRUPT, id, &e, "delta chain too long (a cycle?)");
    if (e.depth && (rc = get_chunk(s, w, a, &e.base, dst, len, level + 1)) != 0)
        return rc;
    int direct = e.codec == FLOR__CODEC_RAW;
    if (direct && e.stored_len != len) /* it is read straight into DST */
        return chunk_err(s, FLOR_ECORRUPT, id, &e, "raw record's length differs from the chunk's");
    if (!direct && (rc = wctx_reserve(w, e.stored_len)) != 0)
        return rc;
    uint8_t hdr[REC_HDR];
    uint8_t *data = direct ? dst : w->rbuf;
    struct iovec iov[2] = {{hdr, REC_HDR}, {data, e.stored_len}};
    ssize_t got = io_preadv(fd, iov, 2, e.off);
    if (got < 0)
        return chunk_err(s, FLOR_EIO, id, &e, strerror(errno));
    if ((size_t)got != REC_HDR + (size_t)e.stored_len)
        return chunk_err(s, FLOR_ECORRUPT, id, &e, "pack is truncated");
    const char *why = rec_header_check(hdr, &e);
    if (why)
        return chunk_err(s, FLOR_ECORRUPT, id, &e, why);
    if (XXH3_64bits(data, e.stored_len) != flor__get_le64(hdr + 48))
        return chunk_err(s, FLOR_ECORRUPT, id, &e, "checksum mismatch");
    if (!direct) {
        rc = flor__codec_decode(w->codec, e.codec, e.esize, data, e.stored_len, dst, len);
        if (rc) {
            char why_buf[256];
            snprintf(why_buf, sizeof why_buf, "%s", flor_errmsg());
            return chunk_err(s, rc, id, &e, why_buf);
        }
    }
    flor__hash got_hash = flor__hash_of(dst, len);
    if (memcmp(&got_hash, h, sizeof got_hash) != 0)
        return chunk_err(s, FLOR_ECORRUPT, id, &e, "content does not match its hash");
    return 0;
}

static int get_task(flor__store *s, struct wctx *w, struct job *j, size_t i)
{
    struct get_arg *a = j->arg;
    size_t cs = a->obj->chunk_size;
    return get_chunk(s, w, a, &a->obj->chunks[i].hash, a->dst + i * cs,
                     chunk_len(a->obj->nbytes, cs, i), 0);
}

static int obj_check(const struct flor__obj *o)
{
    if (!o)
        return flor__err(FLOR_EINVAL, "no object manifest");
    uint64_t cs = o->chunk_size;
    if ((o->nbytes && !cs) || cs > MAX_CHUNK ||
        (cs && o->nbytes / cs + (o->nbytes % cs != 0) != o->nchunks) ||
        (o->nchunks && !o->chunks))
        return flor__err(FLOR_EINVAL, "malformed object manifest");
    return 0;
}

int flor__store_get(flor__store *s, const struct flor__obj *obj, void *dst, size_t n)
{
    int rc = obj_check(obj);
    if (rc)
        return rc;
    if (n != obj->nbytes)
        return flor__err(FLOR_EINVAL, "object has %llu bytes, destination %zu",
                         (unsigned long long)obj->nbytes, n);
    if (n && !dst)
        return flor__err(FLOR_EINVAL, "no destination for %zu bytes", n);
    lock(&s->opmu);
    struct get_arg a = {.obj = obj, .dst = dst};
    struct job j = {.fn = get_task, .arg = &a, .n = obj->nchunks};
    rc = run_job(s, &j);
    unlock(&s->opmu);
    return rc;
}

/* Under mu: is H, with its chain of bases, in the index? */
static int have_chain(flor__store *s, const flor__hash *h)
{
    for (int level = 0; level <= MAX_CHAIN; level++) {
        struct ient *e = ht_find(&s->index, h);
        if (!e)
            return 0;
        if (!e->depth)
            return 1;
        h = &e->base;
    }
    return 0;
}

int flor__store_has(flor__store *s, const struct flor__obj *obj)
{
    if (obj_check(obj))
        return 0;
    lock(&s->opmu);
    lock(&s->mu);
    int ok = 1;
    for (int pass = 0; pass < 2; pass++) {
        ok = 1;
        for (uint32_t i = 0; i < obj->nchunks && ok; i++)
            ok = have_chain(s, &obj->chunks[i].hash);
        if (ok || pass || refresh(s))
            break;
    }
    unlock(&s->mu);
    unlock(&s->opmu);
    return ok;
}

/* ---- open, close, settings, stats ---------------------------------------- */

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
        rc = refresh(s);
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
        rc = writer_sync(s, &s->w, 1);
        writer_release(s, &s->w);
        unlock(&s->wmu);
        unlock(&s->opmu);
        pool_stop(s);
    }
    for (size_t i = 0; i < s->npacks; i++)
        if (s->packs[i].fd >= 0)
            close(s->packs[i].fd);
    if (s->w.idx_fd >= 0)
        close(s->w.idx_fd);
    for (int i = 0; i < MAX_THREADS; i++)
        wctx_free(s->wctx[i]);
    if (s->lockfd >= 0)
        close(s->lockfd);
    if (s->dirfd >= 0)
        close(s->dirfd);
    cache_clear(s);
    ht_free(&s->index);
    ht_free(&s->inflight);
    free(s->packs);
    free(s->w.pend);
    free(s->workers);
    pthread_mutex_destroy(&s->opmu);
    pthread_mutex_destroy(&s->wmu);
    pthread_mutex_destroy(&s->mu);
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
        cache_clear(s); /* its buffers have the old size */
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
        pool_stop(s);
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
        cache_clear(s);
    unlock(&s->mu);
    unlock(&s->opmu);
    return old;
}

static uint64_t file_size(int dirfd, uint32_t id, const char *ext)
{
    char name[32];
    struct stat st;
    pack_name(name, sizeof name, id, ext);
    return fstatat(dirfd, name, &st, 0) == 0 ? (uint64_t)st.st_size : 0;
}

int flor__store_stats(flor__store *s, struct flor__store_stats *out)
{
    lock(&s->opmu);
    lock(&s->mu);
    int rc = refresh(s);
    *out = s->st;
    out->packs = out->file_bytes = out->chunks = out->raw_bytes = out->stored_bytes = 0;
    memset(out->chunks_by_codec, 0, sizeof out->chunks_by_codec);
    for (size_t i = 0; !rc && i < s->index.cap; i++) {
        if (!s->index.used[i])
            continue;
        const struct ient *e = ht_at(&s->index, i);
        out->chunks++;
        out->raw_bytes += e->raw_len;
        out->stored_bytes += REC_HDR + e->stored_len;
        out->chunks_by_codec[e->codec]++;
    }
    uint32_t *ids = NULL;
    size_t n = 0;
    if (!rc)
        rc = list_ids(s, "pack", &ids, &n);
    for (size_t i = 0; i < n; i++) {
        uint64_t isz = file_size(s->dirfd, ids[i], "idx");
        out->packs += isz > 0;
        out->file_bytes += file_size(s->dirfd, ids[i], "pack") + isz;
    }
    free(ids);
    out->bad_records = s->bad_records;
    out->cache_bytes = s->cache_bytes;
    unlock(&s->mu);
    unlock(&s->opmu);
    return rc;
}

/* ---- garbage collection -------------------------------------------------- */

struct flor__live {
    struct htab set; /* 16-byte keys */
    flor__hash *list; /* the same hashes, in insertion order */
    size_t n, cap;
};

int flor__live_add(flor__live *l, const flor__hash *h)
{
    int fresh;
    if (!ht_put(&l->set, h, &fresh))
        return flor__err(FLOR_ENOMEM, "out of memory for the live set");
    if (!fresh)
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        flor__hash *p = realloc(l->list, cap * sizeof *p);
        if (!p)
            return flor__err(FLOR_ENOMEM, "out of memory for the live set");
        l->list = p;
        l->cap = cap;
    }
    l->list[l->n++] = *h;
    return 0;
}

int flor__live_add_obj(flor__live *l, const struct flor__obj *o)
{
    int rc = 0;
    for (uint32_t i = 0; i < o->nchunks && !rc; i++) {
        rc = flor__live_add(l, &o->chunks[i].hash);
        if (!rc && o->chunks[i].depth)
            rc = flor__live_add(l, &o->chunks[i].base);
    }
    return rc;
}

/* Under mu: adds the bases of live deltas, recursively; counts live chunks
 * the index does not have. */
static int live_close(flor__store *s, flor__live *l, uint64_t *missing)
{
    for (size_t i = 0; i < l->n; i++) {
        flor__hash h = l->list[i];
        struct ient *e = ht_find(&s->index, &h);
        if (!e) {
            (*missing)++;
            continue;
        }
        if (e->depth) {
            flor__hash b = e->base;
            int rc = flor__live_add(l, &b);
            if (rc)
                return rc;
        }
    }
    return 0;
}

enum { GC_SKIP, GC_KEEP, GC_REWRITE, GC_REMOVE, GC_REFUSE };

struct gc_pack {
    uint32_t id;
    int slot;      /* -1: not loaded */
    int fd;        /* locked */
    int action;
    uint64_t size, isize;
    uint64_t rec_bytes, live_bytes, live_n, dead_n;
};

struct gc {
    flor__store *s;
    flor__live *live;
    struct gc_pack *p;
    size_t n;
    uint32_t *orphan_idx;
    size_t norphan;
    struct flor__gc_stats *st;
    char why[4400]; /* GC_REFUSE: what is wrong with the pack */
};

/* Locks pack G->id (skipping it when a writer holds it) and decides what to
 * do with it from the index's view of its records. */
static void gc_plan_pack(struct gc *g, struct gc_pack *gp)
{
    flor__store *s = g->s;
    char pn[32], in[32];
    struct stat st, ist;
    pack_name(pn, sizeof pn, gp->id, "pack");
    pack_name(in, sizeof in, gp->id, "idx");
    gp->fd = openat(s->dirfd, pn, O_RDWR | O_CLOEXEC);
    gp->action = GC_SKIP;
    gp->slot = -1;
    if (gp->fd < 0 || fstat(gp->fd, &st) != 0 || flock(gp->fd, LOCK_EX | LOCK_NB) != 0)
        return;
    gp->size = (uint64_t)st.st_size;
    int has_idx = fstatat(s->dirfd, in, &ist, 0) == 0;
    gp->isize = has_idx ? (uint64_t)ist.st_size : 0;
    gp->slot = find_slot(s, gp->id, st.st_dev, st.st_ino);
    if (gp->slot < 0) {
        if (gp->size < FILE_HDR) /* a creation cut short */
            gp->action = GC_REMOVE;
        return;
    }
    if (s->packs[gp->slot].bad)
        return;
    /* A pack with records but no sound index may hold chunks that kept
     * checkpoints need and that no index names: only fsck can tell. */
    if (!has_idx && gp->size > FILE_HDR) {
        gp->action = GC_REFUSE;
        snprintf(g->why, sizeof g->why, "'%s' has no index", pack_path(s, gp->id, "pack"));
        return;
    }
    if (!has_idx) {
        gp->action = GC_REMOVE; /* an empty pack */
        return;
    }
    if (s->packs[gp->slot].bad_recs) {
        gp->action = GC_REFUSE;
        snprintf(g->why, sizeof g->why, "'%s' has %llu damaged records",
                 pack_path(s, gp->id, "idx"), (unsigned long long)s->packs[gp->slot].bad_recs);
        return;
    }
    if (!gp->live_n)
        gp->action = GC_REMOVE;
    else if (gp->dead_n || gp->rec_bytes + FILE_HDR != gp->size ||
             gp->isize != FILE_HDR + (gp->live_n + gp->dead_n) * IDX_REC)
        gp->action = GC_REWRITE;
    else
        gp->action = GC_KEEP;
}

/* Adds each index entry to its pack's tallies. */
static int gc_tally(struct gc *g)
{
    flor__store *s = g->s;
    int *of_slot = malloc((s->npacks + 1) * sizeof *of_slot);
    if (!of_slot)
        return flor__err(FLOR_ENOMEM, "out of memory");
    for (size_t k = 0; k < s->npacks; k++) {
        of_slot[k] = -1;
        for (size_t i = 0; i < g->n; i++)
            if (g->p[i].id == s->packs[k].id)
                of_slot[k] = (int)i;
    }
    for (size_t i = 0; i < s->index.cap; i++) {
        if (!s->index.used[i])
            continue;
        const struct ient *e = ht_at(&s->index, i);
        if (of_slot[e->slot] < 0)
            continue;
        struct gc_pack *gp = &g->p[of_slot[e->slot]];
        gp->rec_bytes += REC_HDR + e->stored_len;
        if (ht_find(&g->live->set, &e->hash)) {
            gp->live_n++;
            gp->live_bytes += REC_HDR + e->stored_len;
        } else {
            gp->dead_n++;
        }
    }
    free(of_slot);
    return 0;
}

static int gc_plan(struct gc *g)
{
    flor__store *s = g->s;
    uint32_t *ids, *idx;
    size_t n, ni;
    int rc = list_ids(s, "pack", &ids, &n);
    if (rc)
        return rc;
    rc = list_ids(s, "idx", &idx, &ni);
    if (rc) {
        free(ids);
        return rc;
    }
    g->p = n ? calloc(n, sizeof *g->p) : NULL;
    g->orphan_idx = ni ? calloc(ni, sizeof *idx) : NULL;
    if ((n && !g->p) || (ni && !g->orphan_idx)) {
        free(ids);
        free(idx);
        return flor__err(FLOR_ENOMEM, "out of memory");
    }
    g->n = n;
    for (size_t i = 0; i < n; i++) {
        g->p[i].id = ids[i];
        g->p[i].fd = -1;
    }
    for (size_t i = 0; i < ni; i++)
        if (!bsearch(&idx[i], ids, n, sizeof *ids, cmp_u32))
            g->orphan_idx[g->norphan++] = idx[i];
    free(ids);
    free(idx);
    int rc2 = gc_tally(g);
    if (rc2)
        return rc2;
    for (size_t i = 0; i < n; i++) {
        struct gc_pack *gp = &g->p[i];
        gc_plan_pack(g, gp);
        g->st->packs++;
        g->st->bytes_before += gp->size + gp->isize;
        switch (gp->action) {
        case GC_SKIP: g->st->packs_skipped++; break;
        case GC_KEEP: g->st->packs_kept++; break;
        case GC_REWRITE: g->st->packs_rewritten++; break;
        case GC_REMOVE: g->st->packs_removed++; break;
        case GC_REFUSE: g->st->packs_skipped++; break;
        }
        if (gp->action == GC_REWRITE || gp->action == GC_REMOVE || gp->action == GC_KEEP) {
            g->st->chunks_live += gp->live_n;
            g->st->chunks_dead += gp->dead_n;
        }
    }
    for (size_t i = 0; i < g->norphan; i++)
        g->st->bytes_before += file_size(s->dirfd, g->orphan_idx[i], "idx");
    if (g->why[0])
        return flor__err(FLOR_ECORRUPT,
                         "gc changed nothing: %s; run 'flor fsck --repair' to rebuild it from "
                         "the pack, then run gc again", g->why);
    return 0;
}

/* Reads and checks the record of every live chunk before anything is
 * changed: header, header checksum and stored checksum. */
static int gc_verify(struct gc *g)
{
    flor__store *s = g->s;
    uint8_t *buf = malloc(REC_HDR + MAX_STORED);
    if (!buf)
        return flor__err(FLOR_ENOMEM, "out of memory");
    int rc = 0;
    for (size_t i = 0; i < s->index.cap && !rc; i++) {
        if (!s->index.used[i])
            continue;
        const struct ient *e = ht_at(&s->index, i);
        if (!ht_find(&g->live->set, &e->hash))
            continue;
        const struct pack *p = &s->packs[e->slot];
        size_t n = REC_HDR + e->stored_len;
        ssize_t got = pread(p->fd, buf, n, (off_t)e->off);
        const char *why = NULL;
        if (got < 0)
            rc = chunk_err(s, FLOR_EIO, p->id, e, strerror(errno));
        else if ((size_t)got != n)
            why = "pack is truncated";
        else if (!(why = rec_header_check(buf, e)) &&
                 XXH3_64bits(buf + REC_HDR, e->stored_len) != flor__get_le64(buf + 48))
            why = "checksum mismatch";
        if (why)
            rc = chunk_err(s, FLOR_ECORRUPT, p->id, e, why);
    }
    free(buf);
    if (rc == FLOR_ECORRUPT) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", flor_errmsg());
        rc = flor__err(FLOR_ECORRUPT,
                       "gc changed nothing: %s; a kept checkpoint needs that chunk: run 'flor fsck "
                       "--repair' to drop the checkpoints that cannot be read, then run gc again",
                       msg);
    }
    return rc;
}

/* Copies the live records of pack GP into W, verifying each. */
static int gc_copy_pack(struct gc *g, struct gc_pack *gp, struct writer *w, uint8_t *buf)
{
    flor__store *s = g->s;
    for (size_t i = 0; i < s->index.cap; i++) {
        if (!s->index.used[i])
            continue;
        struct ient e = *(const struct ient *)ht_at(&s->index, i);
        if (e.slot != (uint32_t)gp->slot || !ht_find(&g->live->set, &e.hash))
            continue;
        size_t n = REC_HDR + e.stored_len;
        ssize_t got = pread(gp->fd, buf, n, (off_t)e.off);
        if (got < 0)
            return chunk_err(s, FLOR_EIO, gp->id, &e, strerror(errno));
        if ((size_t)got != n)
            return chunk_err(s, FLOR_ECORRUPT, gp->id, &e, "pack is truncated");
        const char *why = rec_header_check(buf, &e);
        if (!why && XXH3_64bits(buf + REC_HDR, e.stored_len) != flor__get_le64(buf + 48))
            why = "checksum mismatch";
        if (why)
            return chunk_err(s, FLOR_ECORRUPT, gp->id, &e, why);
        struct flor__enc enc = {.codec = e.codec, .esize = e.esize,
                                .stored_len = e.stored_len, .niov = 1};
        enc.iov[0].p = buf + REC_HDR;
        enc.iov[0].n = e.stored_len;
        int rc = writer_append(s, w, 0, &e, buf, &enc);
        if (rc)
            return rc;
    }
    return 0;
}

static void remove_pack_files(flor__store *s, uint32_t id, int pack_too)
{
    char name[32];
    /* The pack first: an index without its pack is inert (nothing loads
     * it), while a pack without its index would look damaged to fsck. */
    if (pack_too) {
        pack_name(name, sizeof name, id, "pack");
        unlinkat(s->dirfd, name, 0);
    }
    pack_name(name, sizeof name, id, "idx");
    unlinkat(s->dirfd, name, 0);
}

/* Writes the live records of the packs to rewrite into new packs, synced;
 * on failure removes what it wrote. */
static int gc_rewrite(struct gc *g)
{
    flor__store *s = g->s;
    uint32_t before;
    int rc = max_id(s, &before);
    if (rc)
        return rc;
    uint8_t *buf = malloc(REC_HDR + MAX_STORED);
    if (!buf)
        return flor__err(FLOR_ENOMEM, "out of memory");
    struct writer w = {.slot = -1, .idx_fd = -1};
    for (size_t i = 0; i < g->n && !rc; i++)
        if (g->p[i].action == GC_REWRITE)
            rc = gc_copy_pack(g, &g->p[i], &w, buf);
    if (!rc)
        rc = writer_sync(s, &w, 0);
    writer_release(s, &w);
    free(w.pend);
    free(buf);
    if (rc) {
        uint32_t after;
        if (max_id(s, &after) == 0)
            for (uint32_t id = before + 1; id <= after; id++)
                remove_pack_files(s, id, 1);
        fsync(s->dirfd);
    }
    return rc;
}

static void gc_remove(struct gc *g)
{
    for (size_t i = 0; i < g->n; i++)
        if (g->p[i].action == GC_REWRITE || g->p[i].action == GC_REMOVE)
            remove_pack_files(g->s, g->p[i].id, 1);
    for (size_t i = 0; i < g->norphan; i++)
        remove_pack_files(g->s, g->orphan_idx[i], 0);
    fsync(g->s->dirfd);
}

static uint64_t dir_bytes(flor__store *s)
{
    uint64_t total = 0;
    const char *exts[2] = {"pack", "idx"};
    for (int k = 0; k < 2; k++) {
        uint32_t *ids;
        size_t n;
        if (list_ids(s, exts[k], &ids, &n) != 0)
            continue;
        for (size_t i = 0; i < n; i++)
            total += file_size(s->dirfd, ids[i], exts[k]);
        free(ids);
    }
    return total;
}

static void gc_estimate(struct gc *g)
{
    uint64_t after = 0;
    for (size_t i = 0; i < g->n; i++) {
        struct gc_pack *gp = &g->p[i];
        if (gp->action == GC_REWRITE)
            after += gp->live_bytes + gp->live_n * IDX_REC;
        else if (gp->action != GC_REMOVE)
            after += gp->size + gp->isize;
    }
    if (g->st->packs_rewritten)
        after += 2 * FILE_HDR;
    g->st->bytes_after = after;
}

/* Takes LOCK exclusively (after giving up this handle's writer). */
static int gc_lock(flor__store *s)
{
    lock(&s->wmu);
    int rc = writer_sync(s, &s->w, 1);
    if (!rc && s->lost)
        rc = flor__err(FLOR_EIO, "chunks put since the last sync were lost: %s", s->lost_msg);
    s->lost = 0;
    writer_release(s, &s->w);
    unlock(&s->wmu);
    if (rc)
        return rc;
    if (s->lockfd < 0)
        return flor__err(FLOR_EIO, "cannot collect garbage in '%s': no LOCK file", s->dir);
    if (s->locked) {
        flock(s->lockfd, LOCK_UN);
        s->locked = 0;
    }
    if (flock(s->lockfd, LOCK_EX | LOCK_NB) != 0)
        return flor__err(errno == EWOULDBLOCK ? FLOR_EBUSY : FLOR_EIO,
                         "store '%s' is in use by a process writing checkpoints; "
                         "try again when it has finished", s->dir);
    return 0;
}

static void gc_release(struct gc *g)
{
    for (size_t i = 0; i < g->n; i++)
        if (g->p[i].fd >= 0)
            close(g->p[i].fd);
    free(g->p);
    free(g->orphan_idx);
    if (g->live) {
        ht_free(&g->live->set);
        free(g->live->list);
        free(g->live);
    }
}

int flor__store_gc(flor__store *s, flor__gc_mark_fn mark, flor__gc_commit_fn commit,
                   void *ctx, int dry_run, struct flor__gc_stats *stats)
{
    struct flor__gc_stats st0, *st = stats ? stats : &st0;
    memset(st, 0, sizeof *st);
    int rc = check_pid(s);
    if (rc)
        return rc;
    if (!mark)
        return flor__err(FLOR_EINVAL, "gc needs a function that marks live objects");
    lock(&s->opmu);
    rc = gc_lock(s);
    if (rc) {
        unlock(&s->opmu);
        return rc;
    }
    struct gc g = {.s = s, .st = st};
    lock(&s->mu);
    rc = reload(s); /* only what is on disk now counts */
    unlock(&s->mu);
    if (!rc && !(g.live = calloc(1, sizeof *g.live)))
        rc = flor__err(FLOR_ENOMEM, "out of memory");
    if (!rc) {
        g.live->set.esz = sizeof(flor__hash);
        rc = mark(ctx, g.live);
    }
    lock(&s->mu);
    if (!rc)
        rc = live_close(s, g.live, &st->chunks_missing);
    unlock(&s->mu);
    /* opmu keeps every other operation on this handle out, so the index and
     * the packs stay as they are without mu (which the writer takes). */
    if (!rc)
        rc = gc_plan(&g);
    if (!rc && st->chunks_missing)
        rc = flor__err(FLOR_ECORRUPT,
                       "gc changed nothing: %llu chunks that kept checkpoints need are in no "
                       "index of '%s'; run 'flor fsck' to see which checkpoints, and 'flor fsck "
                       "--repair' to rebuild the indexes from the packs and drop what cannot be "
                       "read", (unsigned long long)st->chunks_missing, s->dir);
    if (!rc)
        rc = gc_verify(&g);
    if (!rc && dry_run) {
        gc_estimate(&g);
    } else if (!rc) {
        /* The new packs are durable before the caller lets go of anything
         * (COMMIT), and the old files go only after that. */
        rc = gc_rewrite(&g);
        if (!rc && commit)
            rc = commit(ctx);
        if (!rc)
            gc_remove(&g);
        lock(&s->mu);
        int rc2 = reload(s);
        unlock(&s->mu);
        rc = rc ? rc : rc2;
        st->bytes_after = dir_bytes(s);
    }
    if (st->bytes_before > st->bytes_after)
        st->bytes_freed = st->bytes_before - st->bytes_after;
    gc_release(&g);
    flock(s->lockfd, LOCK_UN);
    unlock(&s->opmu);
    return rc;
}

/* ---- checking and repair (fsck) ------------------------------------------ */

/* What a check learned about a chunk: where a sound record of it is (SEEN),
 * or why the record its index entry names cannot be read (BAD). */
struct chk_ent {
    flor__hash hash;
    uint32_t pack;
    uint64_t off;
    const char *why;
};

struct chk_rec { /* a sound record found by scanning a pack */
    struct ient e;
    int indexed;
};

struct chk_pack {
    flor__store *s;
    uint32_t id;
    int fd;
    uint64_t size;
    struct chk_rec *r;   /* sound records, by offset */
    size_t n, cap;
    uint64_t *corrupt;   /* offsets of records whose stored bytes fail */
    size_t nc, ccap;
    uint8_t *buf;        /* a record's stored bytes */
    size_t bcap;
};

/* Parses a chunk record header found by scanning (no index to compare
 * with): magic, header checksum, version and sane fields. */
static int rec_header_parse(const uint8_t h[REC_HDR], struct ient *e)
{
    if (memcmp(h, CHUNK_MAGIC, 4) != 0 || flor__get_le64(h + 56) != XXH3_64bits(h, 56) ||
        h[4] < 1 || h[4] > REC_VERSION_MAX)
        return -1;
    memset(e, 0, sizeof *e);
    e->codec = h[5];
    e->esize = h[6];
    e->depth = h[7];
    e->raw_len = flor__get_le32(h + 8);
    e->stored_len = flor__get_le32(h + 12);
    memcpy(e->hash.b, h + 16, 16);
    memcpy(e->base.b, h + 32, 16);
    if (e->codec >= FLOR__CODEC_COUNT || e->stored_len > MAX_STORED || e->raw_len > MAX_CHUNK ||
        e->depth > MAX_CHAIN || (e->depth > 0) != (e->codec == FLOR__CODEC_XOR))
        return -1;
    return 0;
}

/* The offset of the next sound record header after OFF, or SIZE. */
static uint64_t chk_resync(struct chk_pack *c, uint64_t off)
{
    enum { WIN = 1 << 20 };
    uint8_t *w = malloc(WIN);
    if (!w)
        return c->size;
    uint64_t pos = off + 1;
    while (pos + REC_HDR <= c->size) {
        ssize_t got = pread(c->fd, w, WIN, (off_t)pos);
        if (got < REC_HDR)
            break;
        for (size_t i = 0; i + REC_HDR <= (size_t)got; i++) {
            if (w[i] != 'F' || memcmp(w + i, CHUNK_MAGIC, 4) != 0)
                continue;
            struct ient e;
            if (rec_header_parse(w + i, &e) == 0) {
                free(w);
                return pos + i;
            }
        }
        pos += (uint64_t)got - REC_HDR + 1;
    }
    free(w);
    return c->size;
}

/* Reads every record of the pack: sound ones go to C->r, those whose bytes
 * fail their checksum to C->corrupt; damaged headers are stepped over. */
static int chk_scan(struct chk_pack *c, uint64_t *done, flor__check_progress_fn progress,
                    void *ctx, uint64_t total)
{
    flor__store *s = c->s;
    uint64_t off = FILE_HDR, last = *done;
#ifdef POSIX_FADV_SEQUENTIAL
    posix_fadvise(c->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
    while (off + REC_HDR <= c->size) {
        uint8_t h[REC_HDR];
        struct ient e;
        if (pread(c->fd, h, REC_HDR, (off_t)off) != REC_HDR)
            return flor__err(FLOR_EIO, "cannot read '%s': %s", pack_path(s, c->id, "pack"),
                             errno ? strerror(errno) : "short read");
        if (rec_header_parse(h, &e) != 0) {
            off = chk_resync(c, off);
            continue;
        }
        uint64_t end = off + REC_HDR + e.stored_len;
        if (end > c->size)
            break; /* a torn last record */
        if (e.stored_len > c->bcap) {
            uint8_t *nb = realloc(c->buf, e.stored_len);
            if (!nb)
                return flor__err(FLOR_ENOMEM, "out of memory");
            c->buf = nb;
            c->bcap = e.stored_len;
        }
        ssize_t got = pread(c->fd, c->buf, e.stored_len, (off_t)(off + REC_HDR));
        if (got != (ssize_t)e.stored_len)
            return flor__err(FLOR_EIO, "cannot read '%s' at offset %llu: %s",
                             pack_path(s, c->id, "pack"), (unsigned long long)off,
                             got < 0 ? strerror(errno) : "short read");
        e.off = off;
        if (XXH3_64bits(c->buf, e.stored_len) != flor__get_le64(h + 48)) {
            if (c->nc == c->ccap) {
                size_t cap = c->ccap ? 2 * c->ccap : 16;
                uint64_t *p = realloc(c->corrupt, cap * sizeof *p);
                if (!p)
                    return flor__err(FLOR_ENOMEM, "out of memory");
                c->corrupt = p;
                c->ccap = cap;
            }
            c->corrupt[c->nc++] = off;
            /* Its length cannot be trusted either: a record torn by a
             * crash claims bytes that the next writer's records took. */
            off = chk_resync(c, off);
            continue;
        } else {
            if (c->n == c->cap) {
                size_t cap = c->cap ? 2 * c->cap : 256;
                struct chk_rec *p = realloc(c->r, cap * sizeof *p);
                if (!p)
                    return flor__err(FLOR_ENOMEM, "out of memory");
                c->r = p;
                c->cap = cap;
            }
            c->r[c->n++] = (struct chk_rec){e, 0};
        }
        *done += end - off;
        off = end;
        if (progress && *done - last >= (64u << 20)) {
            progress(ctx, *done, total);
            last = *done;
        }
    }
    return 0;
}

static struct chk_rec *chk_at(struct chk_pack *c, uint64_t off)
{
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->r[mid].e.off < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < c->n && c->r[lo].e.off == off ? &c->r[lo] : NULL;
}

static int chk_corrupt_at(const struct chk_pack *c, uint64_t off)
{
    for (size_t i = 0; i < c->nc; i++)
        if (c->corrupt[i] == off)
            return 1;
    return 0;
}

struct chk {
    flor__store *s;
    int repair;
    flor__check_report_fn report;
    void *ctx;
    struct flor__check_stats *st;
};

static int chk_problem(struct chk *k, const char *kind, const char *file, uint64_t off,
                       const flor__hash *h, int repaired, const char *fmt, ...)
    FLOR__PRINTF(7, 8);
static int chk_problem(struct chk *k, const char *kind, const char *file, uint64_t off,
                       const flor__hash *h, int repaired, const char *fmt, ...)
{
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    k->st->problems++;
    struct flor__store_problem pr = {kind, file, off, h, detail, repaired};
    return k->report ? k->report(k->ctx, &pr) : 0;
}

/* Remembers that the index entry the store uses for E's chunk names a
 * record that cannot be read (when it is that entry). */
static int chk_mark_bad(flor__store *s, uint32_t id, const struct ient *e, const char *why)
{
    struct ient *cur = ht_find(&s->index, &e->hash);
    if (!cur || s->packs[cur->slot].id != id || cur->off != e->off)
        return 0;
    int fresh;
    struct chk_ent *b = ht_put(s->chk_bad, &e->hash, &fresh);
    if (!b)
        return flor__err(FLOR_ENOMEM, "out of memory");
    *b = (struct chk_ent){e->hash, id, e->off, why};
    return 0;
}

/* Writes a new index for the pack from its sound records: a temporary
 * file, synced, renamed over the old index, and the directory synced.  The
 * pack's bytes are synced first (an index names only durable records). */
static int chk_rebuild(struct chk_pack *c)
{
    flor__store *s = c->s;
    char tmp[48], in[32];
    snprintf(tmp, sizeof tmp, "tmp-pack-%06u.idx", c->id);
    pack_name(in, sizeof in, c->id, "idx");
    if (io_fdatasync(c->fd) != 0)
        return flor__err(FLOR_EIO, "cannot sync '%s': %s", pack_path(s, c->id, "pack"),
                         strerror(errno));
    size_t n = FILE_HDR + c->n * IDX_REC;
    uint8_t *b = malloc(n);
    if (!b)
        return flor__err(FLOR_ENOMEM, "out of memory");
    file_header(b, IDX_MAGIC);
    for (size_t i = 0; i < c->n; i++)
        idx_record(b + FILE_HDR + i * IDX_REC, &c->r[i].e);
    int fd = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = 0;
    if (fd < 0 || io_pwrite(fd, b, n, 0) != 0 || io_fdatasync(fd) != 0)
        rc = flor__err(FLOR_EIO, "cannot write '%s/%s': %s", s->dir, tmp, strerror(errno));
    free(b);
    if (fd >= 0)
        close(fd);
    if (!rc && renameat(s->dirfd, tmp, s->dirfd, in) != 0)
        rc = flor__err(FLOR_EIO, "cannot rename '%s/%s' to '%s': %s", s->dir, tmp,
                       pack_path(s, c->id, "idx"), strerror(errno));
    if (rc) {
        unlinkat(s->dirfd, tmp, 0);
        return rc;
    }
    if (io_fsync(s->dirfd) != 0)
        return flor__err(FLOR_EIO, "cannot sync directory '%s': %s", s->dir, strerror(errno));
    c->s->chk_rebuilt = 1;
    return 0;
}

/* Checks pack ID and its index; with repair, fixes its header and rebuilds
 * its index when either is damaged. */
static int chk_pack(struct chk *k, uint32_t id, uint64_t *done, uint64_t total,
                    flor__check_progress_fn progress)
{
    flor__store *s = k->s;
    char pn[32], in[32], ppath[4200], ipath[4200];
    pack_name(pn, sizeof pn, id, "pack");
    pack_name(in, sizeof in, id, "idx");
    snprintf(ppath, sizeof ppath, "%s", pack_path(s, id, "pack"));
    snprintf(ipath, sizeof ipath, "%s", pack_path(s, id, "idx"));
    struct chk_pack c = {.s = s, .id = id, .fd = -1};
    int rc = 0, damaged = 0;
    c.fd = openat(s->dirfd, pn, (k->repair ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    struct stat st;
    if (c.fd < 0 || fstat(c.fd, &st) != 0) {
        rc = flor__err(FLOR_EIO, "cannot open '%s': %s", ppath, strerror(errno));
        goto out;
    }
    c.size = (uint64_t)st.st_size;
    k->st->packs++;
    if (c.size < FILE_HDR)
        goto out; /* a creation cut short: holds nothing */
    uint8_t h[FILE_HDR];
    if (pread(c.fd, h, FILE_HDR, 0) != FILE_HDR) {
        rc = flor__err(FLOR_EIO, "cannot read '%s': %s", ppath, strerror(errno));
        goto out;
    }
    if ((rc = chk_scan(&c, done, progress, k->ctx, total)) != 0)
        goto out;
    k->st->records += c.n;
    if (!file_header_ok(h, PACK_MAGIC)) {
        int fixed = 0;
        if (k->repair) {
            uint8_t good[FILE_HDR];
            file_header(good, PACK_MAGIC);
            if (io_pwrite(c.fd, good, FILE_HDR, 0) != 0 || io_fdatasync(c.fd) != 0) {
                rc = flor__err(FLOR_EIO, "cannot write '%s': %s", ppath, strerror(errno));
                goto out;
            }
            fixed = 1;
            s->chk_rebuilt = 1;
            k->st->headers_fixed++;
        }
        if ((rc = chk_problem(k, "pack", ppath, 0, NULL, fixed,
                              "damaged pack header (not FLORPACK version 1); its %zu sound "
                              "records cannot be read%s", c.n,
                              fixed ? "; header rewritten" : "")) != 0)
            goto out;
    }
    /* The index, against what the scan found. */
    int ifd = openat(s->dirfd, in, O_RDONLY | O_CLOEXEC);
    uint8_t *ib = NULL;
    size_t isz = 0;
    if (ifd >= 0) {
        struct stat ist;
        if (fstat(ifd, &ist) == 0 && (ib = malloc((size_t)ist.st_size + 1)) != NULL) {
            ssize_t got = pread(ifd, ib, (size_t)ist.st_size, 0);
            isz = got > 0 ? (size_t)got : 0;
        }
        close(ifd);
        if (!ib) {
            rc = flor__err(FLOR_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (ifd < 0) {
        if (c.n || c.nc) {
            damaged = 1;
            rc = chk_problem(k, "index", ipath, 0, NULL, k->repair,
                             "index missing: no index names the %zu records of '%s'", c.n,
                             ppath);
        }
    } else if (isz < FILE_HDR || !file_header_ok(ib, IDX_MAGIC)) {
        damaged = 1;
        rc = chk_problem(k, "index", ipath, 0, NULL, k->repair,
                         "damaged index header (not FLORINDX version 1)");
    } else {
        uint64_t badrecs = 0;
        size_t whole = (isz - FILE_HDR) / IDX_REC;
        for (size_t i = 0; i < whole && !rc; i++) {
            struct ient e;
            uint64_t ioff = FILE_HDR + i * IDX_REC;
            if (idx_parse(ib + ioff, &e) != 0) {
                /* the last one may be a record torn by a crash (crash
                 * point 2): loads ignore it, the next writer cuts it off */
                if (i + 1 < whole)
                    badrecs++;
                continue;
            }
            struct chk_rec *r = chk_at(&c, e.off);
            const char *why = NULL;
            if (!r)
                why = chk_corrupt_at(&c, e.off) ? "checksum mismatch"
                      : e.off + REC_HDR + e.stored_len > c.size ? "pack is truncated"
                                                                 : "no sound chunk record there";
            else if (memcmp(r->e.hash.b, e.hash.b, 16) != 0 || r->e.codec != e.codec ||
                     r->e.esize != e.esize || r->e.depth != e.depth ||
                     r->e.raw_len != e.raw_len || r->e.stored_len != e.stored_len ||
                     (e.depth && memcmp(r->e.base.b, e.base.b, 16) != 0))
                why = "record header disagrees with the index";
            else
                r->indexed = 1;
            if (why) {
                damaged = 1;
                rc = chk_mark_bad(s, id, &e, why);
                if (!rc)
                    rc = chk_problem(k, "chunk", ppath, e.off, &e.hash, k->repair,
                                     "the index names a chunk at offset %llu: %s",
                                     (unsigned long long)e.off, why);
            }
        }
        if (!rc && badrecs) {
            damaged = 1;
            rc = chk_problem(k, "index", ipath, 0, NULL, k->repair,
                             "%llu index records fail their checksum",
                             (unsigned long long)badrecs);
        }
        /* Sound records no index names are dead space after a crash; a
         * rebuild below names them again, in case a checkpoint needs one. */
        for (size_t i = 0; i < c.n && !damaged; i++)
            if (!c.r[i].indexed && k->repair)
                damaged = 1;
    }
    free(ib);
    for (size_t i = 0; i < c.n && !rc; i++) {
        int fresh;
        struct chk_ent *e = ht_put(s->chk_seen, &c.r[i].e.hash, &fresh);
        if (!e)
            rc = flor__err(FLOR_ENOMEM, "out of memory");
        else if (fresh)
            *e = (struct chk_ent){c.r[i].e.hash, id, c.r[i].e.off, NULL};
    }
    if (!rc && damaged && k->repair) {
        rc = chk_rebuild(&c);
        if (!rc)
            k->st->indexes_rebuilt++;
    }
out:
    if (c.fd >= 0)
        close(c.fd);
    free(c.r);
    free(c.corrupt);
    free(c.buf);
    return rc;
}

static void chk_free(flor__store *s)
{
    for (int i = 0; i < 2; i++) {
        struct htab *t = i ? s->chk_bad : s->chk_seen;
        if (t) {
            ht_free(t);
            free(t);
        }
    }
    s->chk_bad = s->chk_seen = NULL;
}

int flor__store_check(flor__store *s, int repair, flor__check_report_fn report,
                      flor__check_then_fn then, flor__check_progress_fn progress, void *ctx,
                      struct flor__check_stats *stats)
{
    struct flor__check_stats st0, *st = stats ? stats : &st0;
    memset(st, 0, sizeof *st);
    int rc = check_pid(s);
    if (rc)
        return rc;
    lock(&s->opmu);
    rc = gc_lock(s); /* no writer may append while the packs are read */
    if (rc) {
        unlock(&s->opmu);
        return rc;
    }
    s->chk_rebuilt = 0;
    s->chk_bad = calloc(1, sizeof *s->chk_bad);
    s->chk_seen = calloc(1, sizeof *s->chk_seen);
    if (!s->chk_bad || !s->chk_seen)
        rc = flor__err(FLOR_ENOMEM, "out of memory");
    else
        s->chk_bad->esz = s->chk_seen->esz = sizeof(struct chk_ent);
    lock(&s->mu);
    if (!rc)
        rc = reload(s);
    unlock(&s->mu);
    uint32_t *ids = NULL;
    size_t n = 0;
    if (!rc)
        rc = list_ids(s, "pack", &ids, &n);
    uint64_t total = 0, done = 0;
    for (size_t i = 0; i < n; i++)
        total += file_size(s->dirfd, ids[i], "pack");
    struct chk k = {s, repair, report, ctx, st};
    for (size_t i = 0; i < n && !rc; i++)
        rc = chk_pack(&k, ids[i], &done, total, progress);
    free(ids);
    st->bytes = done;
    if (progress && !rc)
        progress(ctx, done, total);
    if (!rc && s->chk_rebuilt) {
        /* every damaged index was rebuilt: read them all again */
        lock(&s->mu);
        rc = reload(s);
        unlock(&s->mu);
        ht_clear(s->chk_bad);
    }
    if (!rc && then)
        rc = then(ctx);
    chk_free(s);
    flock(s->lockfd, LOCK_UN);
    unlock(&s->opmu);
    return rc;
}

int flor__store_check_chunk(flor__store *s, const flor__hash *h0)
{
    flor__hash h = *h0;
    char hex[33];
    lock(&s->mu);
    int rc = 0;
    for (int level = 0; level <= MAX_CHAIN; level++) {
        const struct ient *e = ht_find(&s->index, &h);
        flor__hash_hex(&h, hex);
        const char *what = level ? "base chunk" : "chunk";
        if (!e) {
            const struct chk_ent *seen = s->chk_seen ? ht_find(s->chk_seen, &h) : NULL;
            if (seen)
                rc = flor__err(FLOR_ENOTFOUND,
                               "%s %s is in no index ('%s' holds it at offset %llu: "
                               "'flor fsck --repair' rebuilds the index)",
                               what, hex, pack_path(s, seen->pack, "pack"),
                               (unsigned long long)seen->off);
            else
                rc = flor__err(FLOR_ENOTFOUND, "%s %s not found in '%s'", what, hex, s->dir);
            break;
        }
        const struct chk_ent *bad = s->chk_bad ? ht_find(s->chk_bad, &h) : NULL;
        if (bad) {
            rc = flor__err(FLOR_ECORRUPT, "'%s': %s %s at offset %llu: %s",
                           pack_path(s, bad->pack, "pack"), what, hex,
                           (unsigned long long)bad->off, bad->why);
            break;
        }
        if (!e->depth)
            break;
        if (level == MAX_CHAIN) {
            rc = flor__err(FLOR_ECORRUPT, "chunk %s: delta chain longer than %d", hex, MAX_CHAIN);
            break;
        }
        h = e->base;
    }
    unlock(&s->mu);
    return rc;
}
