/*
 * spool.c -- copying the checkpoint store to the project's remote: a pass
 * uploads the durable records the remote catalogue lacks as segments (byte
 * ranges of a local pack, whole records, named by the XXH3-128 of their
 * bytes), then records in one transaction which chunk is where.  A chunk is
 * safely remote only once that row is committed.  flor_project_push runs one
 * pass; a recording process runs passes on a thread of its own
 * (flor__spooler_*), never on the training or checkpoint thread.
 * docs/remote.md has the design and the crash argument.
 */
#include "project/project.h"
#include "base/xxh.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PART_SIZE ((size_t)16 << 20)      /* a multipart upload's parts */
#define SEGMENT_MAX ((uint64_t)512 << 20) /* the largest segment uploaded */

struct flor__spool {
    sqlite3 *db;
    flor__store *store;
    char *datadir;
    flor__remote *remote;
    flor__catalog *cat;
    flor__rec_cursor *cur;
    struct flor__store_rec *pend; /* records the remote lacks, listed, not uploaded */
    size_t npend, cap;
    uint8_t *buf;                 /* PART_SIZE bytes */
    flor__chunk_entry *ents;
    size_t cap_ents;
    struct flor__push_stats st;
    int lockfd;                   /* DATADIR/uploads/LOCK: one pass at a time */
    int nowait;                   /* a pass skips when another one runs */
};

/* ---- interrupted multipart uploads ------------------------------------------
 * Before a multipart upload starts, a file DATADIR/uploads/PID-N names its
 * key; it is removed once the upload is completed or aborted.  A file whose
 * process is gone names an upload that kill -9 interrupted (perhaps while
 * the server was creating it): the next pass aborts every upload of that
 * key under way on the server (its parts would cost storage).  Keys are the
 * hash of the bytes, and passes of this project are serialized, so no other
 * upload of that key is this project's. */

static char *uploads_dir(const struct flor__spool *sp)
{
    return flor__printf("%s/uploads", sp->datadir);
}

static char *upload_note(struct flor__spool *sp, const char *key)
{
    static _Atomic unsigned seq;
    char *dir = uploads_dir(sp);
    if (!dir)
        return NULL;
    mkdir(dir, 0777);
    char *path = flor__printf("%s/%ld-%u", dir, (long)getpid(), seq++);
    free(dir);
    if (!path)
        return NULL;
    FILE *f = fopen(path, "w");
    int ok = f && fprintf(f, "%s\n", key) > 0;
    if (f && fclose(f) != 0)
        ok = 0;
    if (!ok) {
        unlink(path);
        free(path);
        return NULL;
    }
    return path;
}

struct abort_ctx {
    struct flor__spool *sp;
    const char *key;
    int failed;
};

static int abort_one(void *ctx, const char *key, const char *id)
{
    struct abort_ctx *a = ctx;
    if (strcmp(key, a->key) != 0)
        return 0;
    int rc = flor__s3_mpu_abort(a->sp->remote->s3, key, id);
    if (rc && rc != FLOR_ENOTFOUND)
        a->failed = 1;
    else
        a->sp->st.aborted++;
    return 0;
}

/* Aborts the uploads whose process is gone (this host's). */
static void abort_interrupted(struct flor__spool *sp)
{
    char *dir = uploads_dir(sp);
    DIR *d = dir ? opendir(dir) : NULL;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        long pid = strtol(de->d_name, NULL, 10);
        if (pid <= 0 || flor__process_alive(pid, NULL))
            continue;
        char *path = flor__printf("%s/%s", dir, de->d_name);
        FILE *f = path ? fopen(path, "r") : NULL;
        char key[1024] = "";
        int done = 1; /* an empty note: killed while writing it, before the upload */
        if (f && fgets(key, sizeof key, f) && strchr(key, '\n')) {
            key[strcspn(key, "\n")] = 0;
            struct abort_ctx a = {sp, key, 0};
            done = flor__s3_mpu_list(sp->remote->s3, key, abort_one, &a) == 0 && !a.failed;
        }
        if (f)
            fclose(f);
        if (done && path)
            unlink(path);
        free(path);
    }
    if (d)
        closedir(d);
    flor__err_clear();
    free(dir);
}

/* ---- opening ------------------------------------------------------------ */

int flor__spool_open(const char *datadir, sqlite3 *db, flor__store *store, flor__spool **out)
{
    *out = NULL;
    flor__spool *sp = calloc(1, sizeof *sp);
    if (!sp || !(sp->datadir = strdup(datadir)) || !(sp->cur = flor__rec_cursor_new()) ||
        !(sp->buf = malloc(PART_SIZE))) {
        flor__spool_close(sp);
        return flor__err(FLOR_ENOMEM, "out of memory");
    }
    sp->db = db;
    sp->store = store;
    sp->lockfd = -1;
    int rc = flor__remote_open(db, &sp->remote);
    if (!rc)
        rc = flor__catalog_open(db, sp->remote->url, &sp->cat);
    if (rc) {
        flor__spool_close(sp);
        return rc;
    }
    *out = sp;
    return 0;
}

void flor__spool_close(flor__spool *sp)
{
    if (!sp)
        return;
    if (sp->lockfd >= 0)
        close(sp->lockfd);
    flor__catalog_close(sp->cat);
    flor__remote_close(sp->remote);
    flor__rec_cursor_free(sp->cur);
    free(sp->pend);
    free(sp->buf);
    free(sp->ents);
    free(sp->datadir);
    free(sp);
}

const char *flor__spool_url(const flor__spool *sp) { return sp->remote->url; }
const flor__remote *flor__spool_remote(const flor__spool *sp) { return sp->remote; }

/* ---- a pass ---------------------------------------------------------------- */

static int rec_order(const void *a, const void *b);

static int collect(void *ctx, const struct flor__store_rec *r)
{
    struct flor__spool *sp = ctx;
    int has = flor__catalog_has(sp->cat, r->hash.b, sizeof r->hash.b);
    if (has < 0)
        return has;
    if (has)
        return 0;
    if (sp->npend == sp->cap) {
        size_t cap = sp->cap ? sp->cap * 2 : 256;
        struct flor__store_rec *v = realloc(sp->pend, cap * sizeof *v);
        if (!v)
            return flor__err(FLOR_ENOMEM, "out of memory");
        sp->pend = v;
        sp->cap = cap;
    }
    sp->pend[sp->npend++] = *r;
    return 0;
}

static int hash_order(const void *a, const void *b)
{
    const struct flor__store_rec *x = a, *y = b;
    int c = memcmp(&x->hash, &y->hash, sizeof x->hash);
    return c ? c : rec_order(a, b);
}

static int rec_order(const void *a, const void *b)
{
    const struct flor__store_rec *x = a, *y = b;
    if (x->pack != y->pack)
        return x->pack < y->pack ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* The XXH3-128 of the segment's bytes, as 32 hex digits (its name). */
static int segment_name(struct flor__spool *sp, uint32_t pack, uint64_t off, uint64_t len,
                        char hex[33])
{
    XXH3_state_t *xs = XXH3_createState();
    if (!xs)
        return flor__err(FLOR_ENOMEM, "out of memory");
    XXH3_128bits_reset(xs);
    int rc = 0;
    for (uint64_t at = 0; at < len && !rc; at += PART_SIZE) {
        size_t n = len - at < PART_SIZE ? (size_t)(len - at) : PART_SIZE;
        rc = flor__store_read(sp->store, pack, off + at, sp->buf, n);
        if (!rc)
            XXH3_128bits_update(xs, sp->buf, n);
    }
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits_digest(xs));
    XXH3_freeState(xs);
    flor__hash h;
    memcpy(h.b, c.digest, sizeof h.b);
    flor__hash_hex(&h, hex);
    return rc;
}

/* A multipart upload's parts, sent by UPLOADERS threads at once (each with
 * its own client and buffer): one HTTP stream does not fill the link. */
#define UPLOADERS 4

struct parts {
    struct flor__spool *sp;
    const char *key, *id;
    uint32_t pack;
    uint64_t off, len;
    int nparts;
    char (*etags)[80];
    _Atomic int next, failed;
    pthread_mutex_t mu;  /* rc, msg, progress */
    int rc;
    char msg[1024];
    flor_progress_fn progress;
    void *arg;
};

static void *part_worker(void *arg)
{
    struct parts *j = arg;
    flor__s3 *s3 = NULL;
    uint8_t *buf = malloc(PART_SIZE);
    int rc = buf ? flor__remote_client(j->sp->remote, &s3)
                 : flor__err(FLOR_ENOMEM, "out of memory");
    for (int i; !rc && !j->failed && (i = j->next++) < j->nparts;) {
        uint64_t at = (uint64_t)i * PART_SIZE;
        size_t n = j->len - at < PART_SIZE ? (size_t)(j->len - at) : PART_SIZE;
        rc = flor__store_read(j->sp->store, j->pack, j->off + at, buf, n);
        if (!rc)
            rc = flor__s3_mpu_part(s3, j->key, j->id, i + 1, buf, n, j->etags[i],
                                   sizeof j->etags[i]);
        if (!rc) {
            pthread_mutex_lock(&j->mu);
            j->sp->st.bytes_done += n;
            if (j->progress)
                j->progress(j->arg, j->sp->st.bytes_done, j->sp->st.bytes_total);
            pthread_mutex_unlock(&j->mu);
        }
    }
    if (rc) {
        pthread_mutex_lock(&j->mu);
        if (!j->rc) {
            j->rc = rc;
            snprintf(j->msg, sizeof j->msg, "%s", flor_errmsg());
        }
        j->failed = 1;
        pthread_mutex_unlock(&j->mu);
    }
    flor__s3_free(s3);
    free(buf);
    return NULL;
}

/* Sends the parts of upload ID of KEY; 0 or the first failure (with its
 * message set on this thread). */
static int send_parts(struct parts *j)
{
    pthread_t th[UPLOADERS];
    int started = 0;
    int want = j->nparts < UPLOADERS ? j->nparts : UPLOADERS;
    pthread_mutex_init(&j->mu, NULL);
    for (; started < want; started++)
        if (pthread_create(&th[started], NULL, part_worker, j) != 0)
            break;
    if (!started)
        part_worker(j); /* no thread could start: send them from here */
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&j->mu);
    if (j->rc)
        flor__err(j->rc, "%s", j->msg);
    return j->rc;
}

/* Uploads LEN bytes at OFF of PACK as KEY: one PUT, or a multipart upload
 * of PART_SIZE parts (noted in DATADIR/uploads while it is under way). */
static int upload(struct flor__spool *sp, const char *key, uint32_t pack, uint64_t off,
                  uint64_t len, flor_progress_fn progress, void *arg)
{
    flor__s3 *s3 = sp->remote->s3;
    if (len <= PART_SIZE) {
        int rc = flor__store_read(sp->store, pack, off, sp->buf, (size_t)len);
        if (!rc)
            rc = flor__s3_put(s3, key, sp->buf, (size_t)len);
        if (!rc) {
            sp->st.bytes_done += len;
            if (progress)
                progress(arg, sp->st.bytes_done, sp->st.bytes_total);
        }
        return rc;
    }
    char *id = NULL;
    char *note = upload_note(sp, key);
    int rc = flor__s3_mpu_create(s3, key, &id);
    if (rc) {
        if (note && rc == FLOR_EINVAL) /* refused: nothing was created */
            unlink(note);
        free(note);
        return rc;
    }
    int nparts = (int)((len + PART_SIZE - 1) / PART_SIZE);
    char (*etags)[80] = calloc((size_t)nparts, sizeof *etags);
    const char **ep = calloc((size_t)nparts, sizeof *ep);
    if (!etags || !ep)
        rc = flor__err(FLOR_ENOMEM, "out of memory");
    if (!rc) {
        struct parts j = {.sp = sp, .key = key, .id = id, .pack = pack, .off = off,
                          .len = len, .nparts = nparts, .etags = etags,
                          .progress = progress, .arg = arg};
        rc = send_parts(&j);
    }
    for (int i = 0; !rc && i < nparts; i++)
        ep[i] = etags[i];
    if (!rc)
        rc = flor__s3_mpu_complete(s3, key, id, ep, nparts);
    if (rc) {
        char saved[1024];
        snprintf(saved, sizeof saved, "%s", flor_errmsg());
        if (flor__s3_mpu_abort(s3, key, id) == 0 && note)
            unlink(note);
        flor__err(rc, "%s", saved);
    } else if (note) {
        unlink(note);
    }
    free(note);
    free(etags);
    free(ep);
    free(id);
    return rc;
}

/* Uploads the records PEND[I..J) (one pack, back to back) as one segment
 * and records where each chunk now is. */
static int push_segment(struct flor__spool *sp, size_t i, size_t j, flor_progress_fn progress,
                        void *arg)
{
    const struct flor__store_rec *a = &sp->pend[i], *z = &sp->pend[j - 1];
    uint64_t off = a->off, len = z->off + z->len - a->off;
    char hex[33];
    int rc = segment_name(sp, a->pack, off, len, hex);
    char *name = rc ? NULL : flor__printf("segments/%s.seg", hex);
    char *key = name ? flor__remote_key(sp->remote, name) : NULL;
    free(name);
    if (!rc && !key)
        rc = flor__err(FLOR_ENOMEM, "out of memory");
    if (!rc)
        rc = upload(sp, key, a->pack, off, len, progress, arg);
    flor__s3_stat st;
    if (!rc && (rc = flor__s3_head(sp->remote->s3, key, &st)) == 0 && st.size != len)
        rc = flor__err(FLOR_EIO, "%s/%s: the server holds %llu bytes, %llu were uploaded",
                       sp->remote->url, key + strlen(sp->remote->prefix),
                       (unsigned long long)st.size, (unsigned long long)len);
    if (!rc && sp->cap_ents < j - i) {
        free(sp->ents);
        sp->cap_ents = 0;
        if (!(sp->ents = malloc((j - i) * sizeof *sp->ents)))
            rc = flor__err(FLOR_ENOMEM, "out of memory");
        else
            sp->cap_ents = j - i;
    }
    for (size_t k = i; k < j && !rc; k++) {
        flor__chunk_entry *e = &sp->ents[k - i];
        memcpy(e->hash, sp->pend[k].hash.b, sizeof e->hash);
        e->off = sp->pend[k].off - off;
        e->len = sp->pend[k].len;
    }
    if (!rc)
        rc = flor__catalog_add_segment(sp->db, sp->remote->url, key, len, sp->ents, j - i,
                                       flor__now());
    if (!rc) {
        sp->st.segments++;
        sp->st.records += j - i;
        sp->st.bytes += len;
    }
    free(key);
    return rc;
}

/* Takes the spool lock: passes of several processes (ranks, runs side by
 * side, a push) would upload the same records.  1: taken; 0: another pass
 * runs and SP does not wait. */
static int spool_lock(struct flor__spool *sp)
{
    if (sp->lockfd < 0) {
        char *dir = uploads_dir(sp);
        char *path = dir ? flor__printf("%s/LOCK", dir) : NULL;
        if (dir)
            mkdir(dir, 0777);
        sp->lockfd = path ? open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666) : -1;
        free(dir);
        free(path);
        if (sp->lockfd < 0)
            return flor__err(FLOR_EIO, "cannot open '%s/uploads/LOCK': %s", sp->datadir,
                             strerror(errno));
    }
    while (flock(sp->lockfd, LOCK_EX | (sp->nowait ? LOCK_NB : 0)) != 0) {
        if (errno == EWOULDBLOCK)
            return 0;
        if (errno != EINTR)
            return flor__err(FLOR_EIO, "cannot lock '%s/uploads/LOCK': %s", sp->datadir,
                             strerror(errno));
    }
    return 1;
}

static int pass_locked(flor__spool *sp, flor_progress_fn progress, void *arg);

int flor__spool_pass(flor__spool *sp, flor_progress_fn progress, void *arg)
{
    int rc = spool_lock(sp);
    if (rc <= 0)
        return rc;
    rc = pass_locked(sp, progress, arg);
    flock(sp->lockfd, LOCK_UN);
    return rc;
}

static int pass_locked(flor__spool *sp, flor_progress_fn progress, void *arg)
{
    abort_interrupted(sp);
    int rc = flor__store_records(sp->store, sp->cur, collect, sp);
    if (rc || !sp->npend)
        return rc;
    /* a chunk listed twice (in two packs, or again after a failed pass)
     * goes once */
    qsort(sp->pend, sp->npend, sizeof *sp->pend, hash_order);
    size_t w = 0;
    for (size_t r = 0; r < sp->npend; r++)
        if (!w || memcmp(&sp->pend[w - 1].hash, &sp->pend[r].hash, sizeof sp->pend[r].hash))
            sp->pend[w++] = sp->pend[r];
    sp->npend = w;
    qsort(sp->pend, sp->npend, sizeof *sp->pend, rec_order);
    sp->st.bytes_total = sp->st.bytes_done;
    for (size_t r = 0; r < sp->npend; r++)
        sp->st.bytes_total += sp->pend[r].len;
    size_t i = 0;
    while (i < sp->npend) {
        size_t j = i + 1;
        uint64_t len = sp->pend[i].len;
        while (j < sp->npend && sp->pend[j].pack == sp->pend[i].pack &&
               sp->pend[j].off == sp->pend[j - 1].off + sp->pend[j - 1].len &&
               len + sp->pend[j].len <= SEGMENT_MAX)
            len += sp->pend[j++].len;
        rc = push_segment(sp, i, j, progress, arg);
        if (rc == FLOR_ENOTFOUND &&
            flor__store_read(sp->store, sp->pend[i].pack, 0, sp->buf, 1) == FLOR_ENOTFOUND) {
            rc = 0; /* the pack went (gc rewrote it): its records come again in another */
            flor__err_clear();
        } else if (rc) {
            /* what is left stays for the next pass */
            memmove(sp->pend, sp->pend + i, (sp->npend - i) * sizeof *sp->pend);
            sp->npend -= i;
            return rc;
        }
        i = j;
    }
    sp->npend = 0;
    return 0;
}

const struct flor__push_stats *flor__spool_stats(const flor__spool *sp) { return &sp->st; }

/* ---- the spooler of a recording process -------------------------------------- */

struct flor__spooler {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    sqlite3 *db;
    flor__store *store;
    flor__spool *sp;
    int warned;
};

static void warn_once(struct flor__spooler *s, const char *what)
{
    if (s->warned)
        return;
    s->warned = 1;
    flor__warn("checkpoints not copied to %s yet: %s (they are safe in the local store; "
               "'flor push' uploads them)",
               flor__spool_url(s->sp), what);
}

static void *spooler_main(void *arg)
{
    struct flor__spooler *s = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    /* uploading must not take the training's CPU: the lowest priority */
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_sec += 1;
        pthread_cond_timedwait(&s->cv, &s->mu, &t);
        if (s->stop)
            break;
        pthread_mutex_unlock(&s->mu);
        if (flor__spool_pass(s->sp, NULL, NULL) != 0)
            warn_once(s, flor_errmsg());
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int flor__spooler_start(const char *datadir, sqlite3 *run_db, flor__spooler **out)
{
    *out = NULL;
    flor__remote_row row;
    int found = 0;
    /* asked on the run's connection: a run without a remote opens nothing */
    int rc = flor__remote_settings(run_db, &row, &found);
    flor__remote_row_release(&row);
    if (rc || !found)
        return rc;
    sqlite3 *db = NULL;
    if ((rc = flor__db_open(datadir, 0, 0, &db)) != 0)
        return rc;
    struct flor__spooler *s = calloc(1, sizeof *s);
    char *dir = flor__printf("%s/objects", datadir);
    if (!s || !dir)
        rc = flor__err(FLOR_ENOMEM, "out of memory");
    if (!rc)
        rc = flor__store_open(&s->store, dir);
    free(dir);
    if (!rc)
        rc = flor__spool_open(datadir, db, s->store, &s->sp);
    if (!rc) {
        s->db = db;
        s->sp->nowait = 1;
        pthread_mutex_init(&s->mu, NULL);
        pthread_cond_init(&s->cv, NULL);
        if (pthread_create(&s->th, NULL, spooler_main, s) != 0) {
            pthread_mutex_destroy(&s->mu);
            pthread_cond_destroy(&s->cv);
            rc = flor__err(FLOR_ENOMEM, "cannot start the spooling thread");
        }
    }
    if (rc) {
        if (s) {
            flor__spool_close(s->sp);
            flor__store_close(s->store);
        }
        free(s);
        sqlite3_close(db);
        return rc;
    }
    *out = s;
    return 0;
}

int flor__spooler_stop(flor__spooler *s, int finish)
{
    if (!s)
        return 0;
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (!finish) {
        /* the process is ending on a signal: an upload under way is not
         * waited for (its note lets the next pass abort it on the server) */
        pthread_detach(s->th);
        return 0;
    }
    pthread_join(s->th, NULL);
    int rc = 0;
    s->sp->nowait = 0; /* the last pass waits for another process's */
    if (finish && (rc = flor__spool_pass(s->sp, NULL, NULL)) != 0) {
        s->warned = 0;
        warn_once(s, flor_errmsg());
    }
    /* the local store's limit: only once every checkpoint is remote, and
     * only when no process writes into the store (its lock says) */
    int64_t limit = flor__spool_remote(s->sp)->cache;
    if (finish && !rc && limit >= 0) {
        struct flor__evict_stats es;
        if (flor__spool_evict(s->sp, (uint64_t)limit, 0, &es) != 0)
            flor__err_clear();
    }
    flor__spool_close(s->sp);
    flor__store_close(s->store);
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
    return rc;
}

/* ---- eviction -------------------------------------------------------------------- */

static int is_remote(void *ctx, const flor__hash *h)
{
    return flor__catalog_has(ctx, h->b, sizeof h->b);
}

int flor__spool_evict(flor__spool *sp, uint64_t limit, int dry_run, struct flor__evict_stats *st)
{
    return flor__store_evict(sp->store, limit, is_remote, sp->cat, dry_run, st);
}

/* ---- the project's calls ------------------------------------------------------- */

static flor_table *one_row(size_t ncols, const char *const *cols, const int64_t *v)
{
    flor_table *t = flor__table_new(ncols, cols);
    size_t row = t ? flor__table_add_row(t) : (size_t)-1;
    if (row == (size_t)-1) {
        flor_table_free(t);
        return NULL;
    }
    for (size_t c = 0; c < ncols; c++) {
        flor__cell *cell = flor__table_cell(t, row, c);
        cell->type = FLOR_INTEGER;
        cell->v.i = v[c];
    }
    return t;
}

/* Counts the durable records the catalogue lacks. */
struct local_only {
    flor__catalog *cat;
    uint64_t chunks, bytes, records;
};
static int count_local_only(void *ctx, const struct flor__store_rec *r)
{
    struct local_only *lo = ctx;
    int has = lo->cat ? flor__catalog_has(lo->cat, r->hash.b, sizeof r->hash.b) : 0;
    if (has < 0)
        return has;
    lo->records++;
    if (!has) {
        lo->chunks++;
        lo->bytes += r->len;
    }
    return 0;
}

int flor_project_push(flor_project *p, flor_progress_fn progress, void *arg, flor_table **out)
{
    *out = NULL;
    flor__err_clear();
    int rc = flor__project_store(p);
    flor__spool *sp = NULL;
    if (!rc)
        rc = flor__spool_open(p->place.datadir, p->db, p->store, &sp);
    if (!rc)
        rc = flor__spool_pass(sp, progress, arg);
    struct local_only lo = {sp ? sp->cat : NULL, 0, 0, 0};
    if (!rc)
        rc = flor__store_records(p->store, NULL, count_local_only, &lo);
    int64_t segs, bytes, chunks;
    if (!rc)
        rc = flor__catalog_totals(p->db, sp->remote->url, &segs, &bytes, &chunks);
    if (!rc) {
        const struct flor__push_stats *st = flor__spool_stats(sp);
        static const char *const cols[] = {"segments",     "records",           "bytes",
                                           "remote_bytes", "local_only_chunks", "aborted_uploads"};
        int64_t v[6] = {(int64_t)st->segments, (int64_t)st->records, (int64_t)st->bytes, bytes,
                        (int64_t)lo.chunks, (int64_t)st->aborted};
        if (!(*out = one_row(6, cols, v)))
            rc = flor__err(FLOR_ENOMEM, "out of memory");
    }
    flor__spool_close(sp);
    return rc;
}

int flor_project_evict(flor_project *p, int64_t limit_bytes, bool dry_run, flor_table **out)
{
    *out = NULL;
    flor__err_clear();
    if (limit_bytes < 0)
        return flor__err(FLOR_EINVAL, "evict: the limit must be >= 0 bytes (got %lld)",
                         (long long)limit_bytes);
    int rc = flor__project_store(p);
    flor__remote_row row;
    int found = 0;
    if (!rc)
        rc = flor__remote_settings(p->db, &row, &found);
    if (!rc && !found)
        rc = flor__err(FLOR_ENOTFOUND, "this project has no remote: nothing in its store is "
                                       "safely elsewhere (see 'flor remote add')");
    flor__catalog *cat = NULL;
    if (!rc)
        rc = flor__catalog_open(p->db, row.url, &cat);
    if (found)
        flor__remote_row_release(&row);
    struct flor__evict_stats es;
    if (!rc)
        rc = flor__store_evict(p->store, (uint64_t)limit_bytes, is_remote, cat, dry_run, &es);
    flor__catalog_close(cat);
    if (!rc) {
        static const char *const cols[] = {"dry_run", "packs_evicted", "packs_local_only",
                                           "bytes_before", "bytes_after"};
        int64_t v[5] = {dry_run, (int64_t)es.packs_evicted, (int64_t)es.packs_kept_local,
                        (int64_t)es.bytes_before, (int64_t)es.bytes_after};
        if (!(*out = one_row(5, cols, v)))
            rc = flor__err(FLOR_ENOMEM, "out of memory");
    }
    return rc;
}

int flor_project_du_places(flor_project *p, flor_table **out)
{
    *out = NULL;
    flor__err_clear();
    int rc = flor__project_store(p);
    flor__remote_row row;
    int found = 0;
    if (!rc)
        rc = flor__remote_settings(p->db, &row, &found);
    flor__catalog *cat = NULL;
    if (!rc && found)
        rc = flor__catalog_open(p->db, row.url, &cat);
    struct local_only lo = {cat, 0, 0, 0};
    if (!rc)
        rc = flor__store_records(p->store, NULL, count_local_only, &lo);
    struct flor__store_stats ss;
    if (!rc)
        rc = flor__store_stats(p->store, &ss);
    int64_t segs = 0, bytes = 0, chunks = 0;
    if (!rc && found)
        rc = flor__catalog_totals(p->db, row.url, &segs, &bytes, &chunks);
    if (found)
        flor__remote_row_release(&row);
    flor__catalog_close(cat);
    if (rc)
        return rc;
    static const char *const cols[] = {"place", "files", "chunks", "bytes"};
    flor_table *t = flor__table_new(4, cols);
    const char *names[3] = {"local", "remote", "local only"};
    int64_t v[3][3] = {{(int64_t)ss.packs, (int64_t)ss.chunks, (int64_t)ss.file_bytes},
                       {segs, chunks, bytes},
                       {-1, (int64_t)lo.chunks, (int64_t)lo.bytes}};
    for (int r = 0; t && r < 3 && !rc; r++) {
        size_t ri = flor__table_add_row(t);
        if (ri == (size_t)-1 || flor__table_set_text(t, ri, 0, names[r]))
            rc = FLOR_ENOMEM;
        for (int c = 0; c < 3 && !rc; c++) {
            if (v[r][c] < 0)
                continue;
            flor__cell *cell = flor__table_cell(t, ri, (size_t)c + 1);
            cell->type = FLOR_INTEGER;
            cell->v.i = v[r][c];
        }
    }
    if (!t || rc) {
        flor_table_free(t);
        return flor__err(FLOR_ENOMEM, "out of memory");
    }
    *out = t;
    return 0;
}
