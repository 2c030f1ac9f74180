/*
 * records.c -- the store's records as bytes, for a remote copy of the
 * store: listing the records that index files on disk name (durable, so a
 * spooler may upload them) and reading their bytes; checking records that
 * come back from a remote and adding them to the pack; fetching a chunk a
 * get misses through the remote hook; evicting packs whose chunks are all
 * safely remote.  docs/remote.md has the design.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- listing ----------------------------------------------------------- */

struct cur_pack {
    uint32_t id;
    uint64_t done; /* index bytes read */
};

struct flor__rec_cursor {
    struct cur_pack *v;
    size_t n, cap;
};

flor__rec_cursor *flor__rec_cursor_new(void) { return calloc(1, sizeof(flor__rec_cursor)); }

void flor__rec_cursor_free(flor__rec_cursor *c)
{
    if (c)
        free(c->v);
    free(c);
}

/* The cursor's entry for pack ID, created at the index header. */
static struct cur_pack *cur_pack(flor__rec_cursor *c, uint32_t id)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->v[i].id == id)
            return &c->v[i];
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct cur_pack *v = realloc(c->v, cap * sizeof *v);
        if (!v)
            return NULL;
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n] = (struct cur_pack){id, FILE_HDR};
    return &c->v[c->n++];
}

/* list_pack's answer for a pack without a readable index: its records
 * cannot be told (fsck --repair rebuilds the index from the pack). */
#define NO_INDEX 1

/* Gives FN the records of pack ID's index file from byte *DONE on, and
 * moves *DONE past the whole records read.  A record that fails its
 * checksum is skipped (the index loader does the same); a partial one at
 * the end waits for the next listing. */
static int list_pack(flor__store *s, uint32_t id, uint64_t *done, flor__store_rec_fn fn,
                     void *ctx)
{
    char name[32];
    flor__pack_name(name, sizeof name, id, "idx");
    int fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NO_INDEX; /* removed since it was listed, or lost */
    uint8_t h[FILE_HDR];
    int rc = 0;
    if (pread(fd, h, FILE_HDR, 0) != FILE_HDR || !flor__file_header_ok(h, IDX_MAGIC)) {
        close(fd);
        return NO_INDEX; /* fsck's to report */
    }
    enum { BATCH = 1024 };
    uint8_t *buf = malloc(BATCH * IDX_REC);
    if (!buf) {
        close(fd);
        return flor__err(FLOR_ENOMEM, "out of memory");
    }
    for (;;) {
        ssize_t got = pread(fd, buf, BATCH * IDX_REC, (off_t)*done);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = flor__err(FLOR_EIO, "cannot read '%s': %s", flor__pack_path(s, id, "idx"),
                           strerror(errno));
            break;
        }
        size_t nrec = (size_t)got / IDX_REC;
        for (size_t i = 0; i < nrec && !rc; i++) {
            struct ient e;
            if (flor__idx_parse(buf + i * IDX_REC, &e) != 0)
                continue;
            struct flor__store_rec r = {.pack = id, .off = e.off,
                                        .len = REC_HDR + e.stored_len, .hash = e.hash};
            rc = fn(ctx, &r);
        }
        *done += nrec * IDX_REC;
        if (rc || nrec < BATCH)
            break;
    }
    free(buf);
    close(fd);
    return rc;
}

int flor__store_records(flor__store *s, flor__rec_cursor *cur, flor__store_rec_fn fn, void *ctx)
{
    uint32_t *ids;
    size_t n;
    int rc = flor__pack_list(s, "idx", &ids, &n);
    if (rc)
        return rc;
    for (size_t i = 0; i < n && !rc; i++) {
        uint64_t from = FILE_HDR, *done = &from;
        if (cur) {
            struct cur_pack *cp = cur_pack(cur, ids[i]);
            if (!cp) {
                rc = flor__err(FLOR_ENOMEM, "out of memory");
                break;
            }
            done = &cp->done;
        }
        rc = list_pack(s, ids[i], done, fn, ctx);
        if (rc == NO_INDEX)
            rc = 0;
    }
    free(ids);
    return rc;
}

int flor__store_read(flor__store *s, uint32_t pack, uint64_t off, void *dst, size_t n)
{
    char name[32];
    flor__pack_name(name, sizeof name, pack, "pack");
    int fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return flor__err(errno == ENOENT ? FLOR_ENOTFOUND : FLOR_EIO, "cannot open '%s': %s",
                         flor__pack_path(s, pack, "pack"), strerror(errno));
    struct iovec iov = {dst, n};
    ssize_t got = flor__io_preadv(fd, &iov, 1, off);
    int err = errno;
    close(fd);
    if (got < 0)
        return flor__err(FLOR_EIO, "cannot read '%s': %s", flor__pack_path(s, pack, "pack"),
                         strerror(err));
    if ((size_t)got != n)
        return flor__err(FLOR_ECORRUPT, "'%s' ends before offset %llu",
                         flor__pack_path(s, pack, "pack"), (unsigned long long)(off + n));
    return 0;
}

/* ---- adding records that came back ------------------------------------- */

/* Checks the record at P (at most N bytes): *E gets its entry, *LEN its
 * length.  Returns what is wrong, or NULL. */
static const char *record_check(const uint8_t *p, size_t n, struct ient *e, size_t *len)
{
    if (n < REC_HDR)
        return "a record's header is cut short";
    if (flor__rec_header_parse(p, e) != 0)
        return "a record's header is damaged (magic, fields or checksum)";
    *len = REC_HDR + (size_t)e->stored_len;
    if (n < *len)
        return "a record's stored bytes are cut short";
    if (XXH3_64bits(p + REC_HDR, e->stored_len) != flor__get_le64(p + 48))
        return "a record's stored bytes do not match their checksum";
    return NULL;
}

/* Appends the records at P (N bytes, all checked) that the index lacks to
 * the handle's writer; wmu held, LOCK shared held. */
static int append_records(flor__store *s, const uint8_t *p, size_t n, uint32_t *added)
{
    for (size_t at = 0; at < n;) {
        struct ient e;
        size_t len;
        record_check(p + at, n - at, &e, &len);
        lock(&s->mu);
        int have = flor__ht_find(&s->index, &e.hash) != NULL;
        unlock(&s->mu);
        if (!have) {
            struct flor__enc enc = {.codec = e.codec, .esize = e.esize,
                                    .stored_len = e.stored_len, .niov = 1};
            enc.iov[0].p = p + at + REC_HDR;
            enc.iov[0].n = e.stored_len;
            int rc = flor__writer_append(s, &s->w, 1, &e, p + at, &enc);
            if (!rc) {
                lock(&s->mu);
                rc = flor__index_insert(s, &e) ? flor__err(FLOR_ENOMEM, "out of memory") : 0;
                unlock(&s->mu);
            }
            if (rc)
                return rc;
            if (added)
                (*added)++;
        }
        at += len;
    }
    return 0;
}

/* Checks every record first, so that bad bytes add nothing. */
int flor__store_check_records(const void *buf, size_t n, uint64_t base, const char *what)
{
    const uint8_t *p = buf;
    for (size_t at = 0; at < n;) {
        struct ient e;
        size_t len;
        const char *why = record_check(p + at, n - at, &e, &len);
        if (why)
            return flor__err(FLOR_ECORRUPT, "%s: at byte %llu: %s", what,
                             (unsigned long long)(base + at), why);
        at += len;
    }
    return 0;
}

int flor__store_add_records(flor__store *s, const void *p, size_t n, const char *what,
                            uint32_t *added)
{
    if (added)
        *added = 0;
    int rc = flor__store_check_pid(s);
    if (rc || (rc = flor__store_check_records(p, n, 0, what)) != 0)
        return rc;
    lock(&s->opmu);
    lock(&s->wmu);
    rc = flor__writer_lock_shared(s);
    if (!rc)
        rc = append_records(s, p, n, added);
    unlock(&s->wmu);
    unlock(&s->opmu);
    return rc;
}

/* ---- the remote hook ----------------------------------------------------- */

void flor__store_set_remote(flor__store *s, const struct flor__store_remote *r)
{
    lock(&s->opmu);
    lock(&s->fmu);
    s->remote = r ? *r : (struct flor__store_remote){0};
    unlock(&s->fmu);
    unlock(&s->opmu);
}

int flor__records_elsewhere(flor__store *s, const flor__hash *h)
{
    /* opmu held: no get, so no fetch, runs meanwhile */
    return s->remote.has && s->remote.has(s->remote.ctx, h) == 1;
}

int flor__records_fetch(flor__store *s, const flor__hash *h)
{
    char hex[33];
    flor__hash_hex(h, hex);
    if (!s->remote.fetch)
        return flor__err(FLOR_ENOTFOUND, "chunk %s not found in '%s'", hex, s->dir);
    lock(&s->fmu);
    lock(&s->mu);
    int have = flor__ht_find(&s->index, h) != NULL;
    unlock(&s->mu);
    int rc = 0;
    struct flor__buf rec = {0};
    if (!have) /* another worker may have fetched it meanwhile */
        rc = s->remote.fetch(s->remote.ctx, h, &rec);
    if (!rc && !have) {
        struct ient e;
        size_t len;
        const char *why = record_check((const uint8_t *)rec.p, rec.len, &e, &len);
        if (!why && (len != rec.len || memcmp(&e.hash, h, sizeof *h) != 0))
            why = "it holds another chunk";
        if (why)
            rc = flor__err(FLOR_ECORRUPT, "chunk %s fetched from the remote: %s", hex, why);
    }
    if (!rc && !have && (rc = flor__store_check_pid(s)) == 0) {
        lock(&s->wmu);
        rc = flor__writer_lock_shared(s);
        if (!rc)
            rc = append_records(s, (const uint8_t *)rec.p, rec.len, NULL);
        unlock(&s->wmu);
    }
    flor__buf_release(&rec);
    unlock(&s->fmu);
    return rc;
}

/* ---- what an object lacks -------------------------------------------------- */

int flor__store_missing(flor__store *s, const struct flor__obj *o,
                        int (*fn)(void *ctx, const flor__hash *h), void *ctx)
{
    lock(&s->opmu);
    lock(&s->mu);
    int rc = flor__index_refresh(s);
    for (uint32_t i = 0; i < o->nchunks && !rc; i++) {
        flor__hash h = o->chunks[i].hash;
        for (int level = 0; level <= MAX_CHAIN && !rc; level++) {
            struct ient *e = flor__ht_find(&s->index, &h);
            if (!e) {
                unlock(&s->mu);
                rc = fn(ctx, &h);
                lock(&s->mu);
                break;
            }
            if (!e->depth)
                break;
            h = e->base;
        }
    }
    unlock(&s->mu);
    unlock(&s->opmu);
    return rc;
}

/* ---- eviction ----------------------------------------------------------------- */

struct ev_pack {
    uint32_t id;
    uint64_t bytes; /* pack and index */
};

/* Whether every chunk pack ID's index names is elsewhere: 1 yes, 0 no. */
struct ev_all {
    int (*remote)(void *, const flor__hash *);
    void *ctx;
    int all;
};

static int ev_check(void *ctx, const struct flor__store_rec *r)
{
    struct ev_all *a = ctx;
    int rc = a->remote(a->ctx, &r->hash);
    if (rc < 0)
        return rc;
    if (!rc) {
        a->all = 0;
        return 2; /* stop (not NO_INDEX): one is enough */
    }
    return 0;
}

int flor__store_evict(flor__store *s, uint64_t limit, int (*remote)(void *, const flor__hash *),
                      void *ctx, int dry_run, struct flor__evict_stats *st)
{
    struct flor__evict_stats st0;
    st = st ? st : &st0;
    memset(st, 0, sizeof *st);
    int rc = flor__store_check_pid(s);
    if (rc)
        return rc;
    lock(&s->opmu);
    rc = flor__store_lock_exclusive(s);
    if (rc) {
        unlock(&s->opmu);
        return rc;
    }
    uint32_t *ids = NULL;
    size_t n = 0;
    rc = flor__pack_list(s, "pack", &ids, &n);
    uint64_t total = 0;
    for (size_t i = 0; i < n && !rc; i++)
        total += flor__pack_file_size(s->dirfd, ids[i], "pack") +
                 flor__pack_file_size(s->dirfd, ids[i], "idx");
    st->bytes_before = st->bytes_after = total;
    int removed = 0;
    for (size_t i = 0; i < n && !rc && total > limit; i++) {
        char name[32];
        flor__pack_name(name, sizeof name, ids[i], "pack");
        int fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) { /* a writer's (of an old handle) */
            st->packs_busy++;
            close(fd);
            continue;
        }
        struct ev_all a = {remote, ctx, 1};
        uint64_t from = FILE_HDR;
        int lrc = list_pack(s, ids[i], &from, ev_check, &a);
        if (lrc < 0)
            rc = lrc;
        else if (!a.all || lrc == NO_INDEX) /* without its index, what it holds is unknown */
            st->packs_kept_local++;
        else {
            uint64_t bytes = flor__pack_file_size(s->dirfd, ids[i], "pack") +
                             flor__pack_file_size(s->dirfd, ids[i], "idx");
            st->packs_evicted++;
            total -= bytes;
            if (!dry_run) {
                /* the pack first: an index without its pack is inert */
                unlinkat(s->dirfd, name, 0);
                flor__pack_name(name, sizeof name, ids[i], "idx");
                unlinkat(s->dirfd, name, 0);
                removed = 1;
            }
        }
        close(fd);
    }
    free(ids);
    st->bytes_after = total;
    if (removed) {
        fsync(s->dirfd);
        lock(&s->mu);
        int rc2 = flor__index_reload(s);
        unlock(&s->mu);
        rc = rc ? rc : rc2;
    }
    flock(s->lockfd, LOCK_UN);
    unlock(&s->opmu);
    return rc;
}
