/*
 * check.c -- flor__store_check, the engine of `flor fsck`: under the
 * exclusive lock, scan every pack from end to end, check every index against
 * what the scan found, report each problem, and with repair rewrite damaged
 * pack headers and rebuild damaged or missing indexes (never touching the
 * records).  flor__store_check_chunk then answers, per chunk a manifest
 * needs, whether it can be read.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

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
            if (flor__rec_header_parse(w + i, &e) == 0) {
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
            return flor__err(FLOR_EIO, "cannot read '%s': %s", flor__pack_path(s, c->id, "pack"),
                             errno ? strerror(errno) : "short read");
        if (flor__rec_header_parse(h, &e) != 0) {
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
                             flor__pack_path(s, c->id, "pack"), (unsigned long long)off,
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
    struct ient *cur = flor__ht_find(&s->index, &e->hash);
    if (!cur || s->packs[cur->slot].id != id || cur->off != e->off)
        return 0;
    int fresh;
    struct chk_ent *b = flor__ht_put(s->chk_bad, &e->hash, &fresh);
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
    flor__pack_name(in, sizeof in, c->id, "idx");
    if (flor__io_fdatasync(c->fd) != 0)
        return flor__err(FLOR_EIO, "cannot sync '%s': %s", flor__pack_path(s, c->id, "pack"),
                         strerror(errno));
    size_t n = FILE_HDR + c->n * IDX_REC;
    uint8_t *b = malloc(n);
    if (!b)
        return flor__err(FLOR_ENOMEM, "out of memory");
    flor__file_header(b, IDX_MAGIC);
    for (size_t i = 0; i < c->n; i++)
        flor__idx_record(b + FILE_HDR + i * IDX_REC, &c->r[i].e);
    int fd = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = 0;
    if (fd < 0 || flor__io_pwrite(fd, b, n, 0) != 0 || flor__io_fdatasync(fd) != 0)
        rc = flor__err(FLOR_EIO, "cannot write '%s/%s': %s", s->dir, tmp, strerror(errno));
    free(b);
    if (fd >= 0)
        close(fd);
    if (!rc && renameat(s->dirfd, tmp, s->dirfd, in) != 0)
        rc = flor__err(FLOR_EIO, "cannot rename '%s/%s' to '%s': %s", s->dir, tmp,
                       flor__pack_path(s, c->id, "idx"), strerror(errno));
    if (rc) {
        unlinkat(s->dirfd, tmp, 0);
        return rc;
    }
    if (flor__io_fsync(s->dirfd) != 0)
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
    flor__pack_name(pn, sizeof pn, id, "pack");
    flor__pack_name(in, sizeof in, id, "idx");
    snprintf(ppath, sizeof ppath, "%s", flor__pack_path(s, id, "pack"));
    snprintf(ipath, sizeof ipath, "%s", flor__pack_path(s, id, "idx"));
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
    if (!flor__file_header_ok(h, PACK_MAGIC)) {
        int fixed = 0;
        if (k->repair) {
            uint8_t good[FILE_HDR];
            flor__file_header(good, PACK_MAGIC);
            if (flor__io_pwrite(c.fd, good, FILE_HDR, 0) != 0 || flor__io_fdatasync(c.fd) != 0) {
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
    } else if (isz < FILE_HDR || !flor__file_header_ok(ib, IDX_MAGIC)) {
        damaged = 1;
        rc = chk_problem(k, "index", ipath, 0, NULL, k->repair,
                         "damaged index header (not FLORINDX version 1)");
    } else {
        uint64_t badrecs = 0;
        size_t whole = (isz - FILE_HDR) / IDX_REC;
        for (size_t i = 0; i < whole && !rc; i++) {
            struct ient e;
            uint64_t ioff = FILE_HDR + i * IDX_REC;
            if (flor__idx_parse(ib + ioff, &e) != 0) {
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
        struct chk_ent *e = flor__ht_put(s->chk_seen, &c.r[i].e.hash, &fresh);
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
            flor__ht_free(t);
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
    int rc = flor__store_check_pid(s);
    if (rc)
        return rc;
    lock(&s->opmu);
    rc = flor__store_lock_exclusive(s); /* no writer may append while the packs are read */
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
        rc = flor__index_reload(s);
    unlock(&s->mu);
    uint32_t *ids = NULL;
    size_t n = 0;
    if (!rc)
        rc = flor__pack_list(s, "pack", &ids, &n);
    uint64_t total = 0, done = 0;
    for (size_t i = 0; i < n; i++)
        total += flor__pack_file_size(s->dirfd, ids[i], "pack");
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
        rc = flor__index_reload(s);
        unlock(&s->mu);
        flor__ht_clear(s->chk_bad);
    }
    if (!rc && then)
        rc = then(ctx);
    chk_free(s);
    flock(s->lockfd, LOCK_UN);
    unlock(&s->opmu);
    return rc;
}

/* Under mu: whether the remote holds H (mu is let go meanwhile). */
static int elsewhere(flor__store *s, const flor__hash *h)
{
    unlock(&s->mu);
    int yes = flor__records_elsewhere(s, h);
    lock(&s->mu);
    return yes;
}

int flor__store_check_chunk(flor__store *s, const flor__hash *h0)
{
    flor__hash h = *h0;
    char hex[33];
    lock(&s->mu);
    int rc = 0;
    for (int level = 0; level <= MAX_CHAIN; level++) {
        const struct ient *e = flor__ht_find(&s->index, &h);
        flor__hash_hex(&h, hex);
        const char *what = level ? "base chunk" : "chunk";
        if (!e) {
            const struct chk_ent *seen = s->chk_seen ? flor__ht_find(s->chk_seen, &h) : NULL;
            if (seen)
                rc = flor__err(FLOR_ENOTFOUND,
                               "%s %s is in no index ('%s' holds it at offset %llu: "
                               "'flor fsck --repair' rebuilds the index)",
                               what, hex, flor__pack_path(s, seen->pack, "pack"),
                               (unsigned long long)seen->off);
            else if (!elsewhere(s, &h))
                rc = flor__err(FLOR_ENOTFOUND, "%s %s not found in '%s'", what, hex, s->dir);
            break; /* a chunk only the remote holds is checked by fsck --remote */
        }
        const struct chk_ent *bad = s->chk_bad ? flor__ht_find(s->chk_bad, &h) : NULL;
        if (bad) {
            rc = flor__err(FLOR_ECORRUPT, "'%s': %s %s at offset %llu: %s",
                           flor__pack_path(s, bad->pack, "pack"), what, hex,
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
