/*
 * store.h -- the checkpoint store (private to libflor): a content-addressed,
 * compressed, deduplicated chunk store in one directory (DATADIR/objects/).
 *
 * An object is a byte buffer with an element type.  flor__store_put() cuts
 * it into fixed-size chunks, names each chunk by the XXH3-128 of its bytes,
 * stores only chunks the store does not have yet, and returns a manifest
 * (struct flor__obj: the list of chunk hashes) that the caller keeps, as a
 * BLOB from flor__obj_encode(), in SQLite.  flor__store_get() restores an
 * object from its manifest into the caller's memory.
 *
 * Chunks are appended to a few large pack files (pack-NNNNNN.pack), each
 * with an append-only index (pack-NNNNNN.idx).  docs/store.md describes the
 * formats and why a crash at any moment loses nothing that was synced.
 * The implementation is one file per noun in src/store/ (store_int.h lists
 * them); codec.h, included here, declares how one chunk is encoded.
 *
 * Conventions: every int function returns 0 or a negative FLOR_E* code and
 * sets the thread's message (flor_errmsg()); messages name the store
 * directory, the pack file, the offset and the chunk hash involved.  A store
 * handle may be used from several threads (calls are serialized where they
 * must be), but not across fork(): a child must open its own handle.
 */
#ifndef FLOR_STORE_H
#define FLOR_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "base/bytes.h"   /* flor__hash, flor__hash_of, the little-endian helpers */
#include "store/codec.h"  /* element types, codec ids, encoding one chunk */

struct flor__buf; /* base/util.c's growable buffer (base/base.h) */

typedef struct flor__store flor__store;

/* ---- element types (enum flor__elem: codec.h) ------------------------------ */

/* OR'd into the element type given to flor__store_put(): store chunks raw
 * (hash, dedup and write only; no compression work).  For a writer that is
 * falling behind. */
#define FLOR__PUT_CHEAP 0x100

/* ---- chunks and manifests ----------------------------------------------- */

/* One chunk of an object, as the manifest records it. */
struct flor__chunk_ref {
    flor__hash hash;  /* of the chunk's raw bytes */
    flor__hash base;  /* depth > 0: the chunk it is stored as a delta against */
    uint8_t depth;    /* 0: stored whole; else the length of its delta chain */
};

/* An object's manifest.  Chunk i covers bytes [i*chunk_size, min(n, (i+1)*
 * chunk_size)).  Owned by the caller; release with flor__obj_release(). */
struct flor__obj {
    uint64_t nbytes;
    uint32_t chunk_size;
    uint8_t elemtype;
    uint32_t nchunks;
    struct flor__chunk_ref *chunks; /* nchunks entries (NULL when 0) */
};

/* manifest.c: appends a compact serialization of O (magic, version, chunk list, XXH3-64
 * trailer) to B.  @return 0 or FLOR_ENOMEM. */
int flor__obj_encode(const struct flor__obj *o, struct flor__buf *b);
/* Parses what flor__obj_encode() wrote.  On success *OUT is owned by the
 * caller.  @return 0, or FLOR_ECORRUPT ("manifest: ...") for anything that
 * is not a well-formed manifest of this version, or FLOR_ENOMEM. */
int flor__obj_decode(const void *p, size_t n, struct flor__obj *out);
/* Frees O's chunk list and zeroes it.  Accepts NULL. */
void flor__obj_release(struct flor__obj *o);

/* ---- the store ----------------------------------------------------------- */

/* Opens the store in DIR, creating the directory (and its parents) when
 * missing, and loads the index of every pack.  Nothing is written until the
 * first put.  @param[out] out  the new handle, NULL on failure.
 * @return 0, FLOR_EIO (directory cannot be created or read), FLOR_ENOMEM. */
int flor__store_open(flor__store **out, const char *dir);
/* Syncs what was put (as flor__store_sync()), stops the worker threads and
 * frees the handle.  Accepts NULL.  @return the sync's result: a caller that
 * commits manifests must have called flor__store_sync() itself first. */
int flor__store_close(flor__store *s);

/* Tuning; each returns the previous value.  Defaults: chunk size 1 MiB
 * (a multiple of 8, between 64 bytes and 64 MiB), pack files roll over at
 * 1 GiB, threads = online CPUs up to 4 (the calling thread counts as one),
 * delta-base cache 2 GiB (0 turns delta encoding off). */
size_t flor__store_set_chunk_size(flor__store *s, size_t bytes);
uint64_t flor__store_set_pack_limit(flor__store *s, uint64_t bytes);
int flor__store_set_threads(flor__store *s, int n);
size_t flor__store_set_cache(flor__store *s, size_t bytes);

/* What one put did. */
struct flor__put_stats {
    uint64_t logical;   /* bytes given */
    uint64_t stored;    /* bytes appended to packs (records with headers) */
    uint32_t chunks;    /* chunks in the object */
    uint32_t dedup;     /* chunks that were already stored */
    uint32_t by_codec[FLOR__CODEC_COUNT]; /* newly stored chunks per codec */
    double seconds;
};

/*
 * Stores N bytes at DATA as an object of element type ELEMTYPE (a
 * flor__elem, optionally | FLOR__PUT_CHEAP) and fills *OUT with its
 * manifest (owned by the caller).
 *
 * PREV, when not NULL, is the manifest of the previous version of the same
 * object.  When it has the same size, each chunk may be stored as the XOR
 * against the same chunk of PREV (if that is measured to be smaller, the
 * base's bytes are still in the handle's cache, and the chain stays at most
 * 8 deep).  Chunks already in the store are not written again.
 *
 * The chunks are durable only after flor__store_sync() returns 0: commit a
 * manifest only after that.  When a put fails, treat every put since the
 * last successful sync as lost (a pack rollover inside it may have failed
 * to sync them; the next flor__store_sync() then reports that as well).
 * The first put of a handle takes the store's shared lock (see
 * flor__store_gc), held until flor__store_close().  A handle must not be
 * used after fork().
 *
 * @param[out] out    the manifest; zeroed on failure
 * @param[out] stats  may be NULL
 * @return 0, FLOR_EINVAL (unknown element type, NULL data), FLOR_EIO (a
 *         pack could not be written: "cannot write '<dir>/pack-000003.pack':
 *         No space left on device"), FLOR_ENOMEM, FLOR_EUSAGE (after fork).
 */
int flor__store_put(flor__store *s, const void *data, size_t n, int elemtype,
                    const struct flor__obj *prev, struct flor__obj *out,
                    struct flor__put_stats *stats);

/*
 * Makes every chunk put so far durable and visible to other processes: the
 * pack data is fdatasync'ed, then its index records are appended and
 * fdatasync'ed.  On failure every chunk put since the last successful sync is
 * forgotten (the manifests of those puts must not be committed; putting them
 * again rewrites the chunks) and FLOR_EIO is returned.
 */
int flor__store_sync(flor__store *s);

/*
 * Restores the object described by OBJ into DST (N bytes, which must equal
 * obj->nbytes).  Every record's header and checksum and the XXH3-128 of every
 * decoded chunk (bases of deltas included) are verified.
 * @return 0, FLOR_EINVAL (N differs from the manifest's size), FLOR_ENOTFOUND
 *         ("chunk <hash> not found in '<dir>'"), FLOR_ECORRUPT ("'<pack>':
 *         chunk <hash> at offset N: ..."), FLOR_EIO, FLOR_ENOMEM.  DST is
 *         undefined after a failure.
 */
int flor__store_get(flor__store *s, const struct flor__obj *obj, void *dst, size_t n);

/* True when every chunk of OBJ (and every base it needs) is in the index. */
int flor__store_has(flor__store *s, const struct flor__obj *obj);

/* Totals for `flor du`. */
struct flor__store_stats {
    /* on disk (every pack's index, read now) */
    uint64_t packs;          /* pack files with an index */
    uint64_t file_bytes;     /* size of pack and index files */
    uint64_t chunks;         /* distinct chunks */
    uint64_t raw_bytes;      /* their decoded size */
    uint64_t stored_bytes;   /* their records' size in packs */
    uint64_t chunks_by_codec[FLOR__CODEC_COUNT];
    uint64_t bad_records;    /* index records that failed their checksum */
    /* through this handle since it was opened */
    uint64_t put_objects, put_logical, put_stored, put_chunks, put_dedup;
    uint64_t put_by_codec[FLOR__CODEC_COUNT];
    uint64_t cache_bytes;    /* delta-base cache in use */
};
int flor__store_stats(flor__store *s, struct flor__store_stats *out);

/* ---- garbage collection --------------------------------------------------- */

/* The set of chunks that live manifests need, filled by the caller's MARK
 * callback (the store adds the bases of deltas itself). */
typedef struct flor__live flor__live;
int flor__live_add(flor__live *l, const flor__hash *h);
int flor__live_add_obj(flor__live *l, const struct flor__obj *o);

typedef int (*flor__gc_mark_fn)(void *ctx, flor__live *live);
/* Called once the kept chunks are verified and their new packs durable,
 * before any old file is removed: the caller drops what it let go (e.g. the
 * rows of removed checkpoints).  An error stops gc with the old files in
 * place. */
typedef int (*flor__gc_commit_fn)(void *ctx);

struct flor__gc_stats {
    uint64_t packs;           /* pack files looked at */
    uint64_t packs_kept, packs_rewritten, packs_removed, packs_skipped;
    uint64_t chunks_live, chunks_dead;
    uint64_t chunks_missing;  /* live chunks the store does not have */
    uint64_t bytes_before, bytes_after, bytes_freed;
};

/*
 * Removes the chunks no live manifest needs.  Takes the store's exclusive
 * lock (FLOR_EBUSY when a process is writing into the store), then calls
 * MARK, which must add every manifest that stays (e.g. every checkpoint row
 * in flor.db that is kept) with flor__live_add_obj(); MARK must not call
 * into this store.
 *
 * Before anything changes, gc makes sure that every live chunk is readable:
 * it refuses with FLOR_ECORRUPT, changing nothing and naming the file, when
 * a live chunk is in no index, when a live record fails its header or
 * checksum, or when a pack with records has no index or a damaged one (its
 * chunks cannot be accounted for); the message says to run
 * `flor fsck --repair`.  Then packs holding dead chunks are rewritten: live
 * records are copied to a new pack, which is synced with its index; then
 * COMMIT (may be NULL) is called; only then are the old packs and indexes
 * removed.  A pack locked by a writer is skipped.  With DRY_RUN nothing is
 * changed (COMMIT is not called), the same checks are made, and the stats
 * say what would be freed.
 * @return 0, FLOR_EBUSY, FLOR_EIO (naming the file), FLOR_ECORRUPT,
 *         FLOR_ENOMEM, or MARK's or COMMIT's error.
 */
int flor__store_gc(flor__store *s, flor__gc_mark_fn mark, flor__gc_commit_fn commit, void *ctx,
                   int dry_run, struct flor__gc_stats *stats);

/* ---- checking and repair (flor fsck) ---------------------------------------- */

/* One problem a check found. */
struct flor__store_problem {
    const char *kind;        /* "pack", "index" or "chunk" */
    const char *file;        /* the damaged file's path */
    uint64_t offset;         /* of the record in FILE (kind "chunk"), else 0 */
    const flor__hash *chunk; /* the chunk involved, or NULL */
    const char *detail;      /* what is wrong, lowercase, no full stop */
    int repaired;            /* 1 when the repair fixed it */
};
typedef int (*flor__check_report_fn)(void *ctx, const struct flor__store_problem *pr);
typedef int (*flor__check_then_fn)(void *ctx);
typedef void (*flor__check_progress_fn)(void *ctx, uint64_t done, uint64_t total);

struct flor__check_stats {
    uint64_t packs, records, bytes;   /* packs read, sound records, bytes read */
    uint64_t problems;                /* reported */
    uint64_t indexes_rebuilt, headers_fixed;
};

/*
 * Checks the store (`flor fsck`): under the store's exclusive lock
 * (FLOR_EBUSY while a process writes into it), reads every pack from end to
 * end, checking each record's header, header checksum and the checksum of
 * its stored bytes, and checks every index against its pack: its header,
 * each record's checksum, and that each names a sound record at its offset
 * with the same fields.  A non-empty pack without an index, a damaged pack
 * header, and a damaged index are reported.  Each problem goes to REPORT.
 *
 * With REPAIR, a damaged pack header is rewritten and a damaged or missing
 * index is rebuilt from the sound records of its pack (temporary file,
 * fdatasync, rename, directory fsync, after syncing the pack); an index is
 * also rebuilt when the pack holds sound records it does not name.  Records
 * themselves are never changed or removed.
 *
 * Then THEN(ctx) is called with the lock still held, in which the caller
 * may call flor__store_check_chunk() for every chunk it needs.  PROGRESS
 * (may be NULL) is told the bytes read so far, every 64 MiB.
 * @return 0 (problems are reported, not returned), FLOR_EBUSY, FLOR_EIO,
 *         FLOR_ENOMEM, or REPORT's or THEN's error.
 */
int flor__store_check(flor__store *s, int repair, flor__check_report_fn report,
                      flor__check_then_fn then, flor__check_progress_fn progress, void *ctx,
                      struct flor__check_stats *stats);

/* Inside flor__store_check's THEN: is chunk H readable, with every base of
 * its delta chain (in an index, naming a sound record)?
 * @return 0, FLOR_ENOTFOUND or FLOR_ECORRUPT with a message naming the
 *         chunk, the pack and the offset. */
int flor__store_check_chunk(flor__store *s, const flor__hash *h);

/* ---- records as bytes: spooling to and fetching from a remote ------------- */

/* One record of the store that an index file on disk names (so its bytes
 * were synced before): what a spooler may upload. */
struct flor__store_rec {
    uint32_t pack;      /* pack id */
    uint64_t off;       /* of the record's 64-byte header in the pack */
    uint32_t len;       /* header and stored bytes */
    flor__hash hash;    /* of the chunk's raw bytes */
};
typedef int (*flor__store_rec_fn)(void *ctx, const struct flor__store_rec *r);

/* Where a listing of records stopped (per pack, the index bytes read), so
 * that the next listing gives only the records written since. */
typedef struct flor__rec_cursor flor__rec_cursor;
flor__rec_cursor *flor__rec_cursor_new(void);
void flor__rec_cursor_free(flor__rec_cursor *c); /* NULL is fine */

/* Calls FN for each record named by an index file on disk that CUR has not
 * given before (CUR NULL: every record), pack by pack in id order, each
 * pack's in index order.  Packs removed since are skipped.  FN returns 0
 * to go on; anything else stops the listing and is returned. */
int flor__store_records(flor__store *s, flor__rec_cursor *cur, flor__store_rec_fn fn,
                        void *ctx);
/* Reads N bytes at OFF of pack PACK into DST.  FLOR_ENOTFOUND when the
 * pack is gone (evicted or rewritten by gc), FLOR_EIO, FLOR_ECORRUPT when
 * the file is shorter. */
int flor__store_read(flor__store *s, uint32_t pack, uint64_t off, void *dst, size_t n);

/* Checks records given as bytes (N bytes at P, each a 64-byte header and its
 * stored bytes, back to back: what a spooler uploaded) -- the header's
 * checksum and the stored bytes' -- and appends those the store lacks to
 * its pack.  They are readable at once; the next flor__store_sync (or the
 * close) makes them durable -- a copy of what is safe elsewhere need not
 * cost a sync per fetch.  WHAT names the bytes' origin in messages (an
 * object's URL).  *ADDED (may be NULL) counts the records added.
 * @return 0, FLOR_ECORRUPT naming WHAT and the offset (nothing is added
 *         then), FLOR_EIO, FLOR_EUSAGE after fork, FLOR_ENOMEM. */
int flor__store_add_records(flor__store *s, const void *p, size_t n, const char *what,
                            uint32_t *added);
/* The check flor__store_add_records makes, alone: 0, or FLOR_ECORRUPT
 * "WHAT: at byte N: what is wrong", N counted from BASE (the bytes' offset
 * in their object). */
int flor__store_check_records(const void *p, size_t n, uint64_t base, const char *what);

/* The chunks of O, and the bases of their delta chains, that the store's
 * indexes do not name: FN(CTX, H) for each (a chunk may be given twice). */
int flor__store_missing(flor__store *s, const struct flor__obj *o,
                        int (*fn)(void *ctx, const flor__hash *h), void *ctx);

/* Where chunks the packs lack can be found: set by the project when it has
 * a remote.  HAS says whether chunk H can be fetched (gc then does not count
 * a live chunk that is only there as missing, and fsck's check of a chunk
 * accepts it); FETCH appends H's record (64-byte header and stored bytes,
 * as the pack had it) to REC.  A get that misses a chunk calls FETCH, checks
 * the record and adds it to the pack, so replay and restore read evicted
 * checkpoints.  Both are called from the store's worker threads, one call
 * at a time. */
struct flor__store_remote {
    int (*has)(void *ctx, const flor__hash *h);
    int (*fetch)(void *ctx, const flor__hash *h, struct flor__buf *rec);
    void *ctx;
};
void flor__store_set_remote(flor__store *s, const struct flor__store_remote *r);

/* What an eviction did. */
struct flor__evict_stats {
    uint64_t packs_evicted, bytes_before, bytes_after;
    uint64_t packs_kept_local;   /* would have gone, but hold chunks not yet remote */
    uint64_t packs_busy;         /* being written */
};

/* Removes whole packs (pack and index files), oldest first, while the
 * store's files take more than LIMIT bytes: only packs not being written
 * whose every indexed chunk REMOTE(CTX, H) says is safely elsewhere.  Takes
 * the store's exclusive lock (FLOR_EBUSY while a process writes into it).
 * DRY_RUN: the same choice, nothing removed.
 * @return 0, FLOR_EBUSY, FLOR_EIO, or REMOTE's error (< 0). */
int flor__store_evict(flor__store *s, uint64_t limit,
                      int (*remote)(void *ctx, const flor__hash *h), void *ctx, int dry_run,
                      struct flor__evict_stats *st);

/* ---- tests ----------------------------------------------------------------- */

/* Fault injection: the Nth store write, fsync or file creation from now on
 * (in this process) fails with ENOSPC; 0 turns it off.  Returns how many
 * remained (0: the fault fired or was off). */
long flor__store_fail_write_after(long n);

#endif /* FLOR_STORE_H */
