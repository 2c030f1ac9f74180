/*
 * store_int.h -- what the files of the checkpoint store share, private to
 * src/store/ (the rest of the library uses store.h).
 *
 * The store is one directory:
 *
 *   DIR/LOCK               writers hold it shared, gc and fsck exclusive (flock)
 *   DIR/pack-NNNNNN.pack   16-byte header, then chunk records (64-byte
 *                          header + stored bytes); one writer at a time,
 *                          the one holding the file's flock
 *   DIR/pack-NNNNNN.idx    16-byte header, then 64-byte records (hash,
 *                          offset, lengths, codec, checksum), appended only
 *                          after the pack data they describe is fdatasync'ed
 *
 * The files, bottom to top: each calls only files above it in this list,
 * and codec.c / planes.c / manifest.c (which call only base) for the bytes
 * of one chunk or one manifest:
 *
 *   htab.c    hash tables keyed by chunk hash (index, cache, live sets)
 *   io.c      file names, directory listing, I/O with fault injection
 *   format.c  the 16-byte file headers, chunk record headers, index records
 *   cache.c   the delta-base cache of recently put chunks
 *   index.c   the in-memory index: packs known, their index files read
 *   pack.c    the writer: adopting or creating a pack, appending, syncing
 *   pool.c    per-thread work buffers and the worker pool that runs a job
 *   store.c   open, close, settings, stats
 *   get.c     flor__store_get and flor__store_has
 *   put.c     flor__store_put and flor__store_sync
 *   gc.c      flor__store_gc: mark, plan, verify, rewrite, remove
 *   check.c   flor__store_check (fsck's engine): scan, compare, repair
 *   records.c records as bytes: the durable ones listed and read (for
 *             spooling), fetched ones checked and added, packs evicted
 *
 * Locks, always taken in this order: opmu (one public operation at a time),
 * wmu (the writer: appends, rotation, sync), mu (index, packs, cache).
 * A function's comment says which it needs held.  docs/store.md has the
 * formats and the crash-safety argument.
 */
#ifndef FLOR_STORE_INT_H
#define FLOR_STORE_INT_H

#include "base/base.h"
#include "base/bytes.h"
#include "base/xxh.h"
#include "store/store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

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

/* ---- htab.c: hash tables keyed by chunk hash ----------------------------- */

/* Open addressing with linear probing; an entry starts with its key.  Used
 * for the index, the cache map and gc's live set. */
struct htab {
    uint8_t *e;
    uint8_t *used;
    size_t esz, cap, n;
};

static inline void *flor__ht_at(const struct htab *t, size_t i) { return t->e + i * t->esz; }
/* The entry for K, or NULL. */
void *flor__ht_find(const struct htab *t, const flor__hash *k);
/* The entry for K, created (zeroed but for the key) when missing.  *FRESH
 * says which.  NULL on ENOMEM.  Invalidates pointers into the table. */
void *flor__ht_put(struct htab *t, const flor__hash *k, int *fresh);
/* Removes K (no-op when missing). */
void flor__ht_del(struct htab *t, const flor__hash *k);
/* Empties the table, keeping its memory. */
void flor__ht_clear(struct htab *t);
/* Frees the table's memory; it is empty and usable afterwards. */
void flor__ht_free(struct htab *t);

/* ---- the store's state ------------------------------------------------------ */

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
    unsigned long seen; /* the last job generation it ran (or saw posted before it started) */
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

    /* where chunks the packs lack can be fetched (flor__store_set_remote) */
    struct flor__store_remote remote;
    pthread_mutex_t fmu;      /* one fetch at a time (before opmu's holders' wmu) */

    /* during flor__store_check (struct chk_ent) */
    struct htab *chk_bad, *chk_seen;
    int chk_rebuilt;
};

static inline void lock(pthread_mutex_t *m) { pthread_mutex_lock(m); }
static inline void unlock(pthread_mutex_t *m) { pthread_mutex_unlock(m); }

/* Bytes in chunk I of an object of N bytes cut into chunks of CS bytes. */
static inline size_t flor__chunk_len(size_t n, size_t cs, size_t i)
{
    size_t off = i * cs;
    return n - off < cs ? n - off : cs;
}

/* ---- io.c: the store's files ----------------------------------------------- */

/* "pack-000001.EXT" into BUF. */
void flor__pack_name(char *buf, size_t n, uint32_t id, const char *ext);
/* "DIR/pack-000001.EXT" for messages (a per-thread buffer, valid until the
 * next call). */
const char *flor__pack_path(const flor__store *s, uint32_t id, const char *ext);
/* qsort/bsearch order of uint32_t. */
int flor__cmp_u32(const void *a, const void *b);
/* The ids of the files DIR/pack-*.EXT, sorted.  *IDS is malloc'd. */
int flor__pack_list(flor__store *s, const char *ext, uint32_t **ids, size_t *n);
/* The highest pack id in use by either file kind (0 when none). */
int flor__pack_max_id(flor__store *s, uint32_t *out);
/* Size of DIR/pack-ID.EXT, 0 when missing. */
uint64_t flor__pack_file_size(int dirfd, uint32_t id, const char *ext);

/* System calls that flor__store_fail_write_after() can fail with ENOSPC.
 * The writes and reads loop over short transfers and EINTR; they return 0
 * (preadv: the bytes read, fewer only at end of file) or -1 with errno. */
int flor__io_pwritev(int fd, struct iovec *iov, int cnt, uint64_t off);
int flor__io_pwrite(int fd, const void *p, size_t n, uint64_t off);
int flor__io_fdatasync(int fd);
int flor__io_fsync(int fd);
int flor__io_ftruncate(int fd, uint64_t n);
/* Creates DIRFD/NAME exclusively (O_EXCL), read-write. */
int flor__io_create(int dirfd, const char *name);
ssize_t flor__io_preadv(int fd, struct iovec *iov, int cnt, uint64_t off);

/* ---- format.c: headers and records on disk --------------------------------- */

/* The 16-byte header of a pack (MAGIC PACK_MAGIC) or index (IDX_MAGIC). */
void flor__file_header(uint8_t h[FILE_HDR], const char *magic);
int flor__file_header_ok(const uint8_t h[FILE_HDR], const char *magic);
/* The 64-byte header of E's chunk record; SUM is the XXH3-64 of its stored
 * bytes. */
void flor__rec_header(uint8_t h[REC_HDR], const struct ient *e, int version, uint64_t sum);
/* Does the record header H describe entry E?  Returns what is wrong, or NULL. */
const char *flor__rec_header_check(const uint8_t h[REC_HDR], const struct ient *e);
/* Parses a record header found by scanning a pack; -1 when it is not a sound
 * one.  E's slot and offset are left 0. */
int flor__rec_header_parse(const uint8_t h[REC_HDR], struct ient *e);
/* The 64-byte index record of E, and back (-1: checksum or fields wrong). */
void flor__idx_record(uint8_t r[IDX_REC], const struct ient *e);
int flor__idx_parse(const uint8_t r[IDX_REC], struct ient *e);

/* ---- cache.c: the delta-base cache (mu held) ------------------------------- */

/* Clears the cache if a failed sync made it stale; takes mu itself, and no
 * task may be running. */
void flor__cache_settle(flor__store *s);
void flor__cache_clear(flor__store *s);
/* Takes the buffer holding H out of the map; -1 when not cached. */
int32_t flor__cache_claim(flor__store *s, const flor__hash *h);
/* A free buffer of chunk_size bytes, or -1 when the cache is full. */
int32_t flor__cache_alloc(flor__store *s);
/* Gives buffer B back (B < 0: nothing). */
void flor__cache_release(flor__store *s, int32_t b);
/* Files buffer B (now holding LEN bytes of chunk H) under H. */
void flor__cache_insert(flor__store *s, int32_t b, const flor__hash *h, size_t len);

/* ---- index.c: packs known and the chunk index (mu held) -------------------- */

/* Appends P to s->packs; returns its slot or FLOR_ENOMEM. */
int flor__pack_add_slot(flor__store *s, const struct pack *p);
/* The slot of pack ID whose file is DEV/INO, or -1. */
int flor__pack_find_slot(const flor__store *s, uint32_t id, dev_t dev, ino_t ino);
/* Adds E to the index unless its chunk is there already. */
int flor__index_insert(flor__store *s, const struct ient *e);
/* Reads the records of pack SLOT's index past what was read before. */
int flor__index_read(flor__store *s, size_t slot);
/* Picks up packs and index records written since the last look. */
int flor__index_refresh(flor__store *s);
/* Forgets every pack, index entry and cached chunk, and loads them again. */
int flor__index_reload(flor__store *s);

/* ---- pack.c: the writer (wmu held) ------------------------------------------ */

/* Takes LOCK shared for the handle's first put and reads the indexes again. */
int flor__writer_lock_shared(flor__store *s);
/* Stops appending to W's pack: releases its lock, keeps it for reading. */
void flor__writer_release(flor__store *s, struct writer *w);
/* Makes W's appended records durable: pack data first, then their index
 * records.  IN_INDEX: W is the handle's writer, whose chunks are in the
 * index (forgotten again on failure). */
int flor__writer_sync(flor__store *s, struct writer *w, int in_index);
/* Appends a record (header HDR, bytes ENC) to W's pack, opening or rolling
 * over to a new one as needed (IS_MAIN: the handle's writer, which may adopt
 * an idle pack), and queues its index record.  E gets its slot and offset. */
int flor__writer_append(flor__store *s, struct writer *w, int is_main, struct ient *e,
                        const uint8_t hdr[REC_HDR], const struct flor__enc *enc);

/* ---- pool.c: per-thread contexts and the worker pool ------------------------ */

void flor__wctx_free(struct wctx *w);
/* Grows W's read buffer to N bytes. */
int flor__wctx_reserve(struct wctx *w, size_t n);
/* Runs J's tasks on the calling thread and the pool; returns the first
 * failure with its message. */
int flor__job_run(flor__store *s, struct job *j);
/* Stops and joins the workers (they start again on the next job). */
void flor__pool_stop(flor__store *s);

/* ---- store.c ----------------------------------------------------------------- */

/* FLOR_EUSAGE when the handle was opened by another process (before fork). */
int flor__store_check_pid(const flor__store *s);

/* ---- get.c ------------------------------------------------------------------- */

/* Sets the message "'PACK': chunk HASH at offset N: WHAT" and returns CODE. */
int flor__chunk_err(const flor__store *s, int code, uint32_t id, const struct ient *e,
                    const char *what);

/* ---- records.c ----------------------------------------------------------------- */

/* Called by a get that misses chunk H (opmu held, not wmu or mu): fetches
 * its record through the remote hook, checks it and adds it to the pack.
 * FLOR_ENOTFOUND when there is no hook or the remote lacks it. */
int flor__records_fetch(flor__store *s, const flor__hash *h);
/* Whether the remote hook says H can be fetched (opmu held, not mu). */
int flor__records_elsewhere(flor__store *s, const flor__hash *h);

/* ---- gc.c -------------------------------------------------------------------- */

/* Syncs and gives up the handle's writer, then takes LOCK exclusively
 * (FLOR_EBUSY while a process writes into the store).  opmu held. */
int flor__store_lock_exclusive(flor__store *s);

#endif /* FLOR_STORE_INT_H */
