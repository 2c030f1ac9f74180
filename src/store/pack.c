/*
 * pack.c -- the writer: the pack a handle (or gc) appends chunk records to.
 * It adopts an idle pack with room or creates a new one (index first, both
 * O_EXCL), appends records under the pack's flock, rolls over at the pack
 * limit, and on sync makes the pack data durable before appending and
 * syncing the index records that name it.  wmu held.
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

/* Writers hold LOCK shared, so that gc (which takes it exclusively) never
 * runs while a writer may deduplicate against a chunk gc is deleting.  A gc
 * may have run since this handle read the indexes, so they are read again
 * once the lock is held; no put task may be running (the cache is cleared). */
int flor__writer_lock_shared(flor__store *s)
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
    int rc = flor__index_reload(s);
    unlock(&s->mu);
    return rc;
}

/* Stops appending to W's pack: releases its lock, keeps it for reading. */
void flor__writer_release(flor__store *s, struct writer *w)
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
        if (flor__idx_parse(w->pend + i * IDX_REC, &e) != 0)
            continue;
        struct ient *cur = flor__ht_find(&s->index, &e.hash);
        if (cur && cur->slot == (uint32_t)w->slot && cur->off == e.off)
            flor__ht_del(&s->index, &e.hash);
    }
    s->cache_stale = 1; /* cleared when no task holds a buffer */
    unlock(&s->mu);
    w->npend = 0;
}

/* Makes W's appended records durable: pack data first, then their index
 * records.  On failure the pending chunks are forgotten and the pack is no
 * longer appended to (after a failed fsync its pages cannot be trusted). */
int flor__writer_sync(flor__store *s, struct writer *w, int in_index)
{
    if (w->slot < 0 || !w->npend)
        return 0;
    int pfd = s->packs[w->slot].fd;
    uint32_t id = s->packs[w->slot].id;
    const char *what = "pack";
    if (flor__io_fdatasync(pfd) != 0)
        goto fail;
    what = "idx";
    if (flor__io_pwrite(w->idx_fd, w->pend, w->npend * IDX_REC, w->idx_end) != 0 ||
        flor__io_fdatasync(w->idx_fd) != 0)
        goto fail;
    w->idx_end += w->npend * IDX_REC;
    w->npend = 0;
    lock(&s->mu);
    s->packs[w->slot].idx_done = w->idx_end;
    unlock(&s->mu);
    return 0;
fail:;
    int e = errno;
    int rc = flor__err(FLOR_EIO, "cannot sync '%s': %s", flor__pack_path(s, id, what), strerror(e));
    if (in_index) {
        drop_pending(s, w);
        s->lost = 1;
        snprintf(s->lost_msg, sizeof s->lost_msg, "%s", flor_errmsg());
    }
    w->npend = 0;
    flor__writer_release(s, w);
    return rc;
}
static int writer_begin(flor__store *s, struct writer *w, int pfd, int ifd, uint32_t id,
                        uint64_t end, uint64_t idx_end)
{
    struct stat st;
    if (fstat(pfd, &st) != 0)
        return flor__err(FLOR_EIO, "cannot stat '%s': %s", flor__pack_path(s, id, "pack"),
                         strerror(errno));
    lock(&s->mu);
    int slot = flor__pack_find_slot(s, id, st.st_dev, st.st_ino);
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
        slot = flor__pack_add_slot(s, &p);
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
    int rc = flor__pack_max_id(s, &id);
    if (rc)
        return rc;
    for (int tries = 0; tries < 1000; tries++) {
        id++;
        char pn[32], in[32];
        flor__pack_name(pn, sizeof pn, id, "pack");
        flor__pack_name(in, sizeof in, id, "idx");
        int ifd = flor__io_create(s->dirfd, in);
        if (ifd < 0 && errno == EEXIST)
            continue;
        if (ifd < 0)
            return flor__err(FLOR_EIO, "cannot create '%s': %s", flor__pack_path(s, id, "idx"),
                             strerror(errno));
        int pfd = flor__io_create(s->dirfd, pn);
        if (pfd < 0) {
            int e = errno;
            unlinkat(s->dirfd, in, 0);
            close(ifd);
            if (e == EEXIST)
                continue;
            return flor__err(FLOR_EIO, "cannot create '%s': %s", flor__pack_path(s, id, "pack"),
                             strerror(e));
        }
        uint8_t ph[FILE_HDR], ih[FILE_HDR];
        flor__file_header(ph, PACK_MAGIC);
        flor__file_header(ih, IDX_MAGIC);
        if (flock(pfd, LOCK_EX | LOCK_NB) != 0 || flor__io_pwrite(pfd, ph, FILE_HDR, 0) != 0 ||
            flor__io_pwrite(ifd, ih, FILE_HDR, 0) != 0 || flor__io_fsync(s->dirfd) != 0) {
            int e = errno;
            unlinkat(s->dirfd, in, 0);
            unlinkat(s->dirfd, pn, 0);
            close(ifd);
            close(pfd);
            return flor__err(FLOR_EIO, "cannot create '%s': %s", flor__pack_path(s, id, "pack"),
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
    flor__pack_name(pn, sizeof pn, p.id, "pack");
    flor__pack_name(in, sizeof in, p.id, "idx");
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
    int rc = flor__index_read(s, slot);
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
    if (whole != isz && flor__io_ftruncate(ifd, whole) != 0) {
        int e = errno;
        close(ifd);
        close(pfd);
        return flor__err(FLOR_EIO, "cannot truncate '%s': %s", flor__pack_path(s, p.id, "idx"),
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
int flor__writer_append(flor__store *s, struct writer *w, int is_main, struct ient *e,
                         const uint8_t hdr[REC_HDR], const struct flor__enc *enc)
{
    uint64_t need = REC_HDR + (uint64_t)e->stored_len;
    if (w->slot >= 0 && w->end > FILE_HDR && w->end + need > s->pack_limit) {
        int rc = flor__writer_sync(s, w, is_main);
        flor__writer_release(s, w);
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
    if (flor__io_pwritev(fd, iov, 1 + enc->niov, w->end) != 0)
        return flor__err(FLOR_EIO, "cannot write '%s': %s",
                         flor__pack_path(s, s->packs[w->slot].id, "pack"), strerror(errno));
#ifdef SYNC_FILE_RANGE_WRITE
    /* Start writeback now, so that the sync finds little left to do. */
    sync_file_range(fd, (off_t)w->end, (off_t)need, SYNC_FILE_RANGE_WRITE);
#endif
    e->slot = (uint32_t)w->slot;
    e->off = w->end;
    w->end += need;
    flor__idx_record(w->pend + w->npend * IDX_REC, e);
    w->npend++;
    return 0;
}
