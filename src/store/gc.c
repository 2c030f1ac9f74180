/*
 * gc.c -- flor__store_gc: under the exclusive lock, the caller marks the
 * live manifests; gc closes the set over delta bases, plans each pack (keep,
 * rewrite, remove, or refuse when an index is missing or damaged), verifies
 * every live record, copies live records of packs to rewrite into new,
 * synced packs, lets the caller commit, and only then removes old files.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct flor__live {
    struct htab set; /* 16-byte keys */
    flor__hash *list; /* the same hashes, in insertion order */
    size_t n, cap;
};

int flor__live_add(flor__live *l, const flor__hash *h)
{
    int fresh;
    if (!flor__ht_put(&l->set, h, &fresh))
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
        struct ient *e = flor__ht_find(&s->index, &h);
        if (!e) { /* a chunk only the remote holds stays there */
            unlock(&s->mu);
            int remote = flor__records_elsewhere(s, &h);
            lock(&s->mu);
            *missing += !remote;
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
    flor__pack_name(pn, sizeof pn, gp->id, "pack");
    flor__pack_name(in, sizeof in, gp->id, "idx");
    gp->fd = openat(s->dirfd, pn, O_RDWR | O_CLOEXEC);
    gp->action = GC_SKIP;
    gp->slot = -1;
    if (gp->fd < 0 || fstat(gp->fd, &st) != 0 || flock(gp->fd, LOCK_EX | LOCK_NB) != 0)
        return;
    gp->size = (uint64_t)st.st_size;
    int has_idx = fstatat(s->dirfd, in, &ist, 0) == 0;
    gp->isize = has_idx ? (uint64_t)ist.st_size : 0;
    gp->slot = flor__pack_find_slot(s, gp->id, st.st_dev, st.st_ino);
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
        snprintf(g->why, sizeof g->why, "'%s' has no index", flor__pack_path(s, gp->id, "pack"));
        return;
    }
    if (!has_idx) {
        gp->action = GC_REMOVE; /* an empty pack */
        return;
    }
    if (s->packs[gp->slot].bad_recs) {
        gp->action = GC_REFUSE;
        snprintf(g->why, sizeof g->why, "'%s' has %llu damaged records",
                 flor__pack_path(s, gp->id, "idx"), (unsigned long long)s->packs[gp->slot].bad_recs);
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
        const struct ient *e = flor__ht_at(&s->index, i);
        if (of_slot[e->slot] < 0)
            continue;
        struct gc_pack *gp = &g->p[of_slot[e->slot]];
        gp->rec_bytes += REC_HDR + e->stored_len;
        if (flor__ht_find(&g->live->set, &e->hash)) {
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
    int rc = flor__pack_list(s, "pack", &ids, &n);
    if (rc)
        return rc;
    rc = flor__pack_list(s, "idx", &idx, &ni);
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
        if (!bsearch(&idx[i], ids, n, sizeof *ids, flor__cmp_u32))
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
        g->st->bytes_before += flor__pack_file_size(s->dirfd, g->orphan_idx[i], "idx");
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
        const struct ient *e = flor__ht_at(&s->index, i);
        if (!flor__ht_find(&g->live->set, &e->hash))
            continue;
        const struct pack *p = &s->packs[e->slot];
        size_t n = REC_HDR + e->stored_len;
        ssize_t got = pread(p->fd, buf, n, (off_t)e->off);
        const char *why = NULL;
        if (got < 0)
            rc = flor__chunk_err(s, FLOR_EIO, p->id, e, strerror(errno));
        else if ((size_t)got != n)
            why = "pack is truncated";
        else if (!(why = flor__rec_header_check(buf, e)) &&
                 XXH3_64bits(buf + REC_HDR, e->stored_len) != flor__get_le64(buf + 48))
            why = "checksum mismatch";
        if (why)
            rc = flor__chunk_err(s, FLOR_ECORRUPT, p->id, e, why);
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
        struct ient e = *(const struct ient *)flor__ht_at(&s->index, i);
        if (e.slot != (uint32_t)gp->slot || !flor__ht_find(&g->live->set, &e.hash))
            continue;
        size_t n = REC_HDR + e.stored_len;
        ssize_t got = pread(gp->fd, buf, n, (off_t)e.off);
        if (got < 0)
            return flor__chunk_err(s, FLOR_EIO, gp->id, &e, strerror(errno));
        if ((size_t)got != n)
            return flor__chunk_err(s, FLOR_ECORRUPT, gp->id, &e, "pack is truncated");
        const char *why = flor__rec_header_check(buf, &e);
        if (!why && XXH3_64bits(buf + REC_HDR, e.stored_len) != flor__get_le64(buf + 48))
            why = "checksum mismatch";
        if (why)
            return flor__chunk_err(s, FLOR_ECORRUPT, gp->id, &e, why);
        struct flor__enc enc = {.codec = e.codec, .esize = e.esize,
                                .stored_len = e.stored_len, .niov = 1};
        enc.iov[0].p = buf + REC_HDR;
        enc.iov[0].n = e.stored_len;
        int rc = flor__writer_append(s, w, 0, &e, buf, &enc);
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
        flor__pack_name(name, sizeof name, id, "pack");
        unlinkat(s->dirfd, name, 0);
    }
    flor__pack_name(name, sizeof name, id, "idx");
    unlinkat(s->dirfd, name, 0);
}

/* Writes the live records of the packs to rewrite into new packs, synced;
 * on failure removes what it wrote. */
static int gc_rewrite(struct gc *g)
{
    flor__store *s = g->s;
    uint32_t before;
    int rc = flor__pack_max_id(s, &before);
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
        rc = flor__writer_sync(s, &w, 0);
    flor__writer_release(s, &w);
    free(w.pend);
    free(buf);
    if (rc) {
        uint32_t after;
        if (flor__pack_max_id(s, &after) == 0)
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
        if (flor__pack_list(s, exts[k], &ids, &n) != 0)
            continue;
        for (size_t i = 0; i < n; i++)
            total += flor__pack_file_size(s->dirfd, ids[i], exts[k]);
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
int flor__store_lock_exclusive(flor__store *s)
{
    lock(&s->wmu);
    int rc = flor__writer_sync(s, &s->w, 1);
    if (!rc && s->lost)
        rc = flor__err(FLOR_EIO, "chunks put since the last sync were lost: %s", s->lost_msg);
    s->lost = 0;
    flor__writer_release(s, &s->w);
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
        flor__ht_free(&g->live->set);
        free(g->live->list);
        free(g->live);
    }
}

int flor__store_gc(flor__store *s, flor__gc_mark_fn mark, flor__gc_commit_fn commit,
                   void *ctx, int dry_run, struct flor__gc_stats *stats)
{
    struct flor__gc_stats st0, *st = stats ? stats : &st0;
    memset(st, 0, sizeof *st);
    int rc = flor__store_check_pid(s);
    if (rc)
        return rc;
    if (!mark)
        return flor__err(FLOR_EINVAL, "gc needs a function that marks live objects");
    lock(&s->opmu);
    rc = flor__store_lock_exclusive(s);
    if (rc) {
        unlock(&s->opmu);
        return rc;
    }
    struct gc g = {.s = s, .st = st};
    lock(&s->mu);
    rc = flor__index_reload(s); /* only what is on disk now counts */
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
        int rc2 = flor__index_reload(s);
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
