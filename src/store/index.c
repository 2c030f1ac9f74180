/*
 * index.c -- the handle's view of the store: the packs it knows (s->packs,
 * one slot per pack file) and the in-memory index of every chunk their
 * index files name (s->index).  Loaded at open, read again past what was
 * read when a get misses a chunk, reloaded from scratch after gc or a
 * repair.  Everything here runs with mu held.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int flor__pack_add_slot(flor__store *s, const struct pack *p)
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

int flor__index_insert(flor__store *s, const struct ient *e)
{
    int fresh;
    struct ient *slot = flor__ht_put(&s->index, &e->hash, &fresh);
    if (!slot)
        return FLOR_ENOMEM;
    if (fresh)
        *slot = *e;
    return 0;
}

/* Reads the records of pack SLOT's index past what was read before.  A bad
 * record is skipped when records follow it; at the end it is left for the
 * next read (it may be a record being written right now). */
int flor__index_read(flor__store *s, size_t slot)
{
    struct pack *p = &s->packs[slot];
    char name[32];
    flor__pack_name(name, sizeof name, p->id, "idx");
    int fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0; /* not created yet, or removed by gc */
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size < FILE_HDR)
        goto out;
    if (p->idx_done < FILE_HDR) {
        uint8_t h[FILE_HDR];
        if (pread(fd, h, FILE_HDR, 0) != FILE_HDR || !flor__file_header_ok(h, IDX_MAGIC)) {
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
            if (flor__idx_parse(buf + i * IDX_REC, &e) != 0) {
                if (p->idx_done + IDX_REC >= end) {
                    stop = 1;
                    break;
                }
                s->bad_records++;
                p->bad_recs++;
            } else {
                e.slot = (uint32_t)slot;
                if (flor__index_insert(s, &e)) {
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
int flor__pack_find_slot(const flor__store *s, uint32_t id, dev_t dev, ino_t ino)
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
    flor__pack_name(name, sizeof name, id, "pack");
    int fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return 0;
    }
    int slot = flor__pack_find_slot(s, id, st.st_dev, st.st_ino);
    if (slot >= 0) {
        close(fd);
        return s->packs[slot].bad ? 0 : flor__index_read(s, (size_t)slot);
    }
    uint8_t h[FILE_HDR];
    if (pread(fd, h, FILE_HDR, 0) != FILE_HDR) {
        close(fd); /* being created: its header is not there yet */
        return 0;
    }
    struct pack p = {.id = id, .dev = st.st_dev, .ino = st.st_ino, .fd = fd};
    if (!flor__file_header_ok(h, PACK_MAGIC)) {
        close(fd);
        p.fd = -1;
        p.bad = 1;
    }
    slot = flor__pack_add_slot(s, &p);
    if (slot < 0) {
        if (p.fd >= 0)
            close(p.fd);
        return slot;
    }
    return p.bad ? 0 : flor__index_read(s, (size_t)slot);
}

/* Picks up packs and index records written since the last look. */
int flor__index_refresh(flor__store *s)
{
    uint32_t *ids;
    size_t n;
    int rc = flor__pack_list(s, "pack", &ids, &n);
    for (size_t i = 0; i < n && !rc; i++)
        rc = load_pack(s, ids[i]);
    free(ids);
    return rc;
}
/* Forgets every pack and index entry and loads them again from disk. */
int flor__index_reload(flor__store *s)
{
    for (size_t i = 0; i < s->npacks; i++)
        if (s->packs[i].fd >= 0)
            close(s->packs[i].fd);
    s->npacks = 0;
    s->bad_records = 0;
    flor__ht_clear(&s->index);
    flor__cache_clear(s);
    return flor__index_refresh(s);
}
