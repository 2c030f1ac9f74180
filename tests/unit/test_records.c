/*
 * test_records.c -- the checkpoint store's seam to a remote (store/records.c):
 * only durable records are listed, each once per cursor; records read back
 * are checked before they are added; a get that misses a chunk fetches it
 * through the hook and checks it; eviction removes only packs whose every
 * chunk is elsewhere, never while a writer holds the store; gc and the
 * fsck check count a chunk the hook has as present.
 *
 * The "remote" here is the bytes the listing gave, copied aside: the store's
 * side does not depend on S3 (t0850-remote.sh runs the whole path against
 * a real S3 server).
 */
#include "check.h"
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char root[96];
static int ndirs;

/* A fresh store directory (one of 8 buffers: a test may hold several). */
static const char *new_dir(void)
{
    static char dirs[8][160];
    char *dir = dirs[ndirs % 8];
    snprintf(dir, sizeof dirs[0], "%s/s%d", root, ++ndirs);
    return dir;
}

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        p[i] = (uint8_t)x;
    }
}

/* ---- a remote made of copied records ------------------------------------ */

struct copy {
    flor__store *s;
    flor__hash hash[64];
    flor__buf rec[64];
    int n, listed, fetched, corrupt_next;
};

static int copy_rec(void *ctx, const struct flor__store_rec *r)
{
    struct copy *c = ctx;
    c->listed++;
    if (c->n == 64)
        return 0;
    flor__buf *b = &c->rec[c->n];
    b->len = 0;
    if (flor__buf_add(b, "", 0) != 0)
        return FLOR_ENOMEM;
    char *tmp = malloc(r->len);
    int rc = flor__store_read(c->s, r->pack, r->off, tmp, r->len);
    if (!rc)
        rc = flor__buf_add(b, tmp, r->len);
    free(tmp);
    c->hash[c->n++] = r->hash;
    return rc;
}

static int count_rec(void *ctx, const struct flor__store_rec *r)
{
    (void)r;
    (*(int *)ctx)++;
    return 0;
}

static int copy_has(void *ctx, const flor__hash *h)
{
    struct copy *c = ctx;
    for (int i = 0; i < c->n; i++)
        if (!memcmp(&c->hash[i], h, sizeof *h))
            return 1;
    return 0;
}

static int copy_fetch(void *ctx, const flor__hash *h, flor__buf *out)
{
    struct copy *c = ctx;
    for (int i = 0; i < c->n; i++)
        if (!memcmp(&c->hash[i], h, sizeof *h)) {
            c->fetched++;
            int rc = flor__buf_add(out, c->rec[i].p, c->rec[i].len);
            if (!rc && c->corrupt_next) /* a byte of the stored data, altered */
                out->p[out->len - 1] ^= 0x40;
            return rc;
        }
    return flor__err(FLOR_ENOTFOUND, "not in the copy");
}

static int none_remote(void *ctx, const flor__hash *h)
{
    (void)ctx, (void)h;
    return 0;
}

static void copy_free(struct copy *c)
{
    for (int i = 0; i < 64; i++)
        flor__buf_release(&c->rec[i]);
}

static flor__store *store_with(const char *dir, const uint8_t *data, size_t n,
                               struct flor__obj *o)
{
    flor__store *s = NULL;
    CHECK_EQ_INT(flor__store_open(&s, dir), 0);
    flor__store_set_chunk_size(s, 4096);
    CHECK_EQ_INT(flor__store_put(s, data, n, FLOR__ELEM_RAW, NULL, o, NULL), 0);
    return s;
}

/* ---- the tests ------------------------------------------------------------ */

static void test_only_synced_records_are_listed_each_once(void)
{
    const char *dir = new_dir();
    static uint8_t data[4 * 4096];
    fill(data, sizeof data, 1);
    struct flor__obj o;
    flor__store *s = store_with(dir, data, sizeof data, &o);
    flor__rec_cursor *cur = flor__rec_cursor_new();
    int n = 0;
    CHECK_EQ_INT(flor__store_records(s, cur, count_rec, &n), 0);
    CHECK_EQ_INT(n, 0); /* put, not synced: a crash could take them back */
    CHECK_EQ_INT(flor__store_sync(s), 0);
    CHECK_EQ_INT(flor__store_records(s, cur, count_rec, &n), 0);
    CHECK_EQ_INT(n, 4);
    CHECK_EQ_INT(flor__store_records(s, cur, count_rec, &n), 0);
    CHECK_EQ_INT(n, 4); /* the cursor gave them already */
    static uint8_t more[4096];
    fill(more, sizeof more, 2);
    struct flor__obj o2;
    CHECK_EQ_INT(flor__store_put(s, more, sizeof more, FLOR__ELEM_RAW, NULL, &o2, NULL), 0);
    CHECK_EQ_INT(flor__store_sync(s), 0);
    CHECK_EQ_INT(flor__store_records(s, cur, count_rec, &n), 0);
    CHECK_EQ_INT(n, 5);
    int all = 0;
    CHECK_EQ_INT(flor__store_records(s, NULL, count_rec, &all), 0);
    CHECK_EQ_INT(all, 5);
    flor__rec_cursor_free(cur);
    flor__obj_release(&o);
    flor__obj_release(&o2);
    flor__store_close(s);
}

static void test_records_added_back_are_checked_first(void)
{
    const char *a = new_dir(), *b = new_dir();
    static uint8_t data[3 * 4096];
    fill(data, sizeof data, 3);
    struct flor__obj o;
    flor__store *s = store_with(a, data, sizeof data, &o);
    CHECK_EQ_INT(flor__store_sync(s), 0);
    struct copy c = {.s = s};
    CHECK_EQ_INT(flor__store_records(s, NULL, copy_rec, &c), 0);
    CHECK_EQ_INT(c.n, 3);
    flor__buf all = {0};
    for (int i = 0; i < c.n; i++)
        CHECK_EQ_INT(flor__buf_add(&all, c.rec[i].p, c.rec[i].len), 0);

    flor__store *t = NULL;
    CHECK_EQ_INT(flor__store_open(&t, b), 0);
    /* one altered byte of stored data: refused, and nothing is added */
    all.p[all.len - 10] ^= 1;
    uint32_t added = 99;
    CHECK_EQ_INT(flor__store_add_records(t, all.p, all.len, "s3://b/seg", &added), FLOR_ECORRUPT);
    CHECK(strstr(flor_errmsg(), "s3://b/seg: at byte") != NULL);
    CHECK(strstr(flor_errmsg(), "checksum") != NULL);
    CHECK_EQ_INT(added, 0);
    CHECK(!flor__store_has(t, &o));
    /* a record cut short: refused */
    all.p[all.len - 10] ^= 1;
    CHECK_EQ_INT(flor__store_add_records(t, all.p, all.len - 1, "s3://b/seg", &added),
                 FLOR_ECORRUPT);
    CHECK(strstr(flor_errmsg(), "cut short") != NULL);
    /* whole: added, and the object restores bit for bit */
    CHECK_EQ_INT(flor__store_add_records(t, all.p, all.len, "s3://b/seg", &added), 0);
    CHECK_EQ_INT(added, 3);
    CHECK(flor__store_has(t, &o));
    static uint8_t back[sizeof data];
    CHECK_EQ_INT(flor__store_get(t, &o, back, sizeof back), 0);
    CHECK(memcmp(back, data, sizeof data) == 0);
    CHECK_EQ_INT(flor__store_add_records(t, all.p, all.len, "s3://b/seg", &added), 0);
    CHECK_EQ_INT(added, 0); /* already there */
    flor__buf_release(&all);
    copy_free(&c);
    flor__obj_release(&o);
    flor__store_close(s);
    flor__store_close(t);
}

static void test_evict_then_get_fetches_through_the_hook(void)
{
    const char *dir = new_dir();
    static uint8_t data[5 * 4096];
    fill(data, sizeof data, 4);
    struct flor__obj o;
    flor__store *s = store_with(dir, data, sizeof data, &o);
    CHECK_EQ_INT(flor__store_sync(s), 0);
    struct copy c = {.s = s};
    CHECK_EQ_INT(flor__store_records(s, NULL, copy_rec, &c), 0);

    /* nothing elsewhere: nothing goes */
    struct flor__evict_stats es;
    CHECK_EQ_INT(flor__store_evict(s, 0, none_remote, NULL, 0, &es), 0);
    CHECK_EQ_INT((int)es.packs_evicted, 0);
    CHECK_EQ_INT((int)es.packs_kept_local, 1);
    /* a writer in another handle holds the store: busy, nothing goes */
    flor__store *w = NULL;
    CHECK_EQ_INT(flor__store_open(&w, dir), 0);
    static uint8_t other[4096];
    fill(other, sizeof other, 5);
    struct flor__obj ow;
    CHECK_EQ_INT(flor__store_put(w, other, sizeof other, FLOR__ELEM_RAW, NULL, &ow, NULL), 0);
    CHECK_EQ_INT(flor__store_evict(s, 0, copy_has, &c, 0, &es), FLOR_EBUSY);
    CHECK_EQ_INT(flor__store_close(w), 0);
    flor__obj_release(&ow);
    /* the writer appended to the same pack (idle once s let it go) a chunk
     * the copy lacks: the pack stays */
    CHECK_EQ_INT(flor__store_evict(s, 0, copy_has, &c, 1, &es), 0);
    CHECK_EQ_INT((int)es.packs_evicted, 0);
    CHECK_EQ_INT((int)es.packs_kept_local, 1);
    /* once that chunk is copied too, the pack goes (a dry run first) */
    copy_free(&c);
    c = (struct copy){.s = s};
    CHECK_EQ_INT(flor__store_records(s, NULL, copy_rec, &c), 0);
    CHECK_EQ_INT(c.n, 6);
    CHECK_EQ_INT(flor__store_evict(s, 0, copy_has, &c, 1, &es), 0);
    CHECK_EQ_INT((int)es.packs_evicted, 1);
    CHECK(flor__store_has(s, &o));
    CHECK_EQ_INT(flor__store_evict(s, 0, copy_has, &c, 0, &es), 0);
    CHECK_EQ_INT((int)es.packs_evicted, 1);
    CHECK_EQ_INT((int)es.bytes_after, 0);
    CHECK(!flor__store_has(s, &o));

    /* without a hook the object is gone; with it, a get fetches and checks */
    static uint8_t back[sizeof data];
    CHECK_EQ_INT(flor__store_get(s, &o, back, sizeof back), FLOR_ENOTFOUND);
    struct flor__store_remote hook = {.has = copy_has, .fetch = copy_fetch, .ctx = &c};
    flor__store_set_remote(s, &hook);
    c.corrupt_next = 1;
    CHECK_EQ_INT(flor__store_get(s, &o, back, sizeof back), FLOR_ECORRUPT);
    CHECK(strstr(flor_errmsg(), "fetched from the remote") != NULL);
    c.corrupt_next = 0;
    c.fetched = 0;
    memset(back, 0, sizeof back);
    CHECK_EQ_INT(flor__store_get(s, &o, back, sizeof back), 0);
    CHECK(memcmp(back, data, sizeof data) == 0);
    CHECK_EQ_INT(c.fetched, 5);
    /* fetched records are kept: the next get reads them here */
    CHECK_EQ_INT(flor__store_get(s, &o, back, sizeof back), 0);
    CHECK_EQ_INT(c.fetched, 5);
    copy_free(&c);
    flor__obj_release(&o);
    flor__store_close(s);
}

static int mark_obj(void *ctx, flor__live *live) { return flor__live_add_obj(live, ctx); }

static void test_gc_and_check_count_remote_chunks_as_present(void)
{
    const char *dir = new_dir();
    static uint8_t data[2 * 4096];
    fill(data, sizeof data, 6);
    struct flor__obj o;
    flor__store *s = store_with(dir, data, sizeof data, &o);
    CHECK_EQ_INT(flor__store_sync(s), 0);
    struct copy c = {.s = s};
    CHECK_EQ_INT(flor__store_records(s, NULL, copy_rec, &c), 0);
    CHECK_EQ_INT(flor__store_evict(s, 0, copy_has, &c, 0, NULL), 0);
    /* without the hook gc refuses: a live chunk is in no index */
    CHECK_EQ_INT(flor__store_gc(s, mark_obj, NULL, &o, 0, NULL), FLOR_ECORRUPT);
    struct flor__store_remote hook = {.has = copy_has, .fetch = copy_fetch, .ctx = &c};
    flor__store_set_remote(s, &hook);
    CHECK_EQ_INT(flor__store_gc(s, mark_obj, NULL, &o, 0, NULL), 0);
    CHECK_EQ_INT(flor__store_check_chunk(s, &o.chunks[0].hash), 0);
    copy_free(&c);
    flor__obj_release(&o);
    flor__store_close(s);
}

static void test_a_pack_without_its_index_is_never_evicted(void)
{
    const char *dir = new_dir();
    static uint8_t data[2 * 4096];
    fill(data, sizeof data, 7);
    struct flor__obj o;
    flor__store *s = store_with(dir, data, sizeof data, &o);
    CHECK_EQ_INT(flor__store_sync(s), 0);
    struct copy c = {.s = s};
    CHECK_EQ_INT(flor__store_records(s, NULL, copy_rec, &c), 0);
    char idx[256], pack[256];
    snprintf(idx, sizeof idx, "%s/pack-000001.idx", dir);
    snprintf(pack, sizeof pack, "%s/pack-000001.pack", dir);
    CHECK_EQ_INT(unlink(idx), 0); /* lost: only fsck --repair can say what the pack holds */
    struct flor__evict_stats es;
    CHECK_EQ_INT(flor__store_evict(s, 0, copy_has, &c, 0, &es), 0);
    CHECK_EQ_INT((int)es.packs_evicted, 0);
    CHECK_EQ_INT((int)es.packs_kept_local, 1);
    CHECK_EQ_INT(access(pack, F_OK), 0);
    copy_free(&c);
    flor__obj_release(&o);
    flor__store_close(s);
}

int main(void)
{
    check_scratch_dir(root, sizeof root, "records", 0);
    RUN(test_only_synced_records_are_listed_each_once);
    RUN(test_records_added_back_are_checked_first);
    RUN(test_evict_then_get_fetches_through_the_hook);
    RUN(test_gc_and_check_count_remote_chunks_as_present);
    RUN(test_a_pack_without_its_index_is_never_evicted);
    check_remove_dir(root);
    return check_summary();
}
