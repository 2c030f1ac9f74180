/*
 * bench_store.c -- the checkpoint store against the plain system calls it
 * replaces, measured side by side in one run:
 *
 *   memcpy of the bytes, write()+fdatasync of the raw bytes, put+sync into
 *   the store (compressed, on one thread and on the default pool, and in
 *   cheap mode), read() of the raw file and get from the store (page cache
 *   warm, and cold after dropping the files' pages), then the stored size of
 *   ten checkpoints of drifting fp32 weights (XOR deltas).
 *
 *   bench_store [--dir DIR] [--gb] [--reps N]
 *
 * DIR (default: the current directory) must be on the disk being measured,
 * not tmpfs.  --gb adds a 1 GiB column.  Build (the Makefile's `make bench`
 * does this):
 *   cc -O2 -Iinclude -Isrc bench/bench_store.c build/libflor.a \
 *      $(pkg-config --libs sqlite3 libgit2 libzstd libxxhash libcurl) -lpthread -lm
 */
#include "internal.h"
#include "store.h"

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <zstd.h>

#define MB (1024.0 * 1024.0)

static char workdir[4096];
static int reps = 3;

/* ---- data ---------------------------------------------------------------- */

static uint64_t rng = 0x2545f4914f6cdd1dull;
static double unit(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}
static double gauss(void)
{
    double u = unit() + 1e-300, v = unit();
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

/* Weights as initialized and then trained a little: N(0, 0.05). */
static void fill_weights(float *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        w[i] = (float)(0.05 * gauss());
}

/* A cheap bell curve (sum of four uniforms, unit variance), for the large
 * arrays of the throughput runs. */
static double quick_gauss(void) { return (unit() + unit() + unit() + unit() - 2) * 1.7320508; }

/* One epoch of Adam-like updates: each weight moves by ~1e-3 of the scale. */
static void drift(float *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        w[i] += (float)(5e-5 * quick_gauss());
}

/* ---- files --------------------------------------------------------------- */

static void die(const char *what)
{
    fprintf(stderr, "bench_store: %s: %s\n", what, flor_errmsg()[0] ? flor_errmsg() : "failed");
    exit(1);
}

static void rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    char p[8192];
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            rm_tree(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* Drops the page cache of every file in DIR (a clean page goes at once). */
static void drop_cache(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    char p[8192];
    while ((de = readdir(d)) != NULL) {
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        int fd = open(p, O_RDONLY);
        if (fd >= 0) {
            fdatasync(fd);
            posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
            close(fd);
        }
    }
    closedir(d);
}

static double now(void) { return flor__mono(); }

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The best of the runs: on a shared machine the others measure the
 * neighbours. */
static double best(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return t[0];
}

/* ---- the measurements ---------------------------------------------------- */

struct col {
    size_t n;
    double memcpy_s, write_s, read_warm_s, read_cold_s;
    double put_s, put1_s, cheap_s, next_s, get_warm_s, get_cold_s, get1_s, get_next_s;
    double ratio, cheap_ratio, next_ratio;
};

static double time_memcpy(void *dst, const void *src, size_t n)
{
    memcpy(dst, src, n); /* fault the pages in */
    double t[8];
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        memcpy(dst, src, n);
        t[r] = now() - t0;
    }
    return best(t, reps);
}

static double time_write(const void *p, size_t n, const char *path)
{
    double t[8];
    for (int r = 0; r < reps; r++) {
        unlink(path);
        double t0 = now();
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        size_t off = 0;
        while (off < n) {
            size_t want = n - off > (1 << 20) ? 1 << 20 : n - off;
            ssize_t w = write(fd, (const char *)p + off, want);
            if (w <= 0)
                die("write");
            off += (size_t)w;
        }
        if (fdatasync(fd) != 0)
            die("fdatasync");
        close(fd);
        t[r] = now() - t0;
    }
    return best(t, reps);
}

static double time_read(void *p, size_t n, const char *path, int cold)
{
    double t[8];
    for (int r = 0; r < reps; r++) {
        int fd = open(path, O_RDONLY);
        if (cold)
            posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        double t0 = now();
        size_t off = 0;
        while (off < n) {
            ssize_t got = read(fd, (char *)p + off, n - off > (1 << 20) ? 1 << 20 : n - off);
            if (got <= 0)
                die("read");
            off += (size_t)got;
        }
        t[r] = now() - t0;
        close(fd);
    }
    return best(t, reps);
}

/* Put+sync into a fresh store, REPS times (after putting BASE, untimed, as
 * the previous version when given); the last store is kept open for the
 * gets.  Returns the median seconds; *RATIO gets stored/logical. */
static double time_put(const void *p, const void *base, size_t n, int type, int threads,
                       const char *dir, flor__store **keep, struct flor__obj *obj,
                       double *ratio)
{
    double t[8];
    for (int r = 0; r < reps; r++) {
        rm_tree(dir);
        flor__store *s;
        if (flor__store_open(&s, dir))
            die("open");
        if (threads)
            flor__store_set_threads(s, threads);
        struct flor__put_stats st;
        struct flor__obj prev = {0};
        if (base && flor__store_put(s, base, n, type, NULL, &prev, &st))
            die("put");
        if (base && flor__store_sync(s))
            die("sync");
        flor__obj_release(obj);
        double t0 = now();
        if (flor__store_put(s, p, n, type, base ? &prev : NULL, obj, &st) ||
            flor__store_sync(s))
            die("put");
        t[r] = now() - t0;
        flor__obj_release(&prev);
        *ratio = (double)st.stored / (double)n;
        if (r == reps - 1 && keep)
            *keep = s;
        else
            flor__store_close(s);
    }
    return best(t, reps);
}

static double time_get(flor__store *s, const struct flor__obj *o, void *dst, size_t n,
                       const char *dir, int cold)
{
    double t[8];
    for (int r = 0; r < reps; r++) {
        if (cold)
            drop_cache(dir);
        double t0 = now();
        if (flor__store_get(s, o, dst, n))
            die("get");
        t[r] = now() - t0;
    }
    return best(t, reps);
}

static void measure(struct col *c)
{
    size_t n = c->n;
    float *src = malloc(n), *dst = malloc(n);
    if (!src || !dst)
        die("out of memory");
    fill_weights(src, n / 4);
    char raw[8192], dir[8192];
    snprintf(raw, sizeof raw, "%s/raw.bin", workdir);
    snprintf(dir, sizeof dir, "%s/objects", workdir);

    c->memcpy_s = time_memcpy(dst, src, n);
    c->write_s = time_write(src, n, raw);
    c->read_warm_s = time_read(dst, n, raw, 0);
    c->read_cold_s = time_read(dst, n, raw, 1);
    unlink(raw);

    flor__store *s = NULL;
    struct flor__obj o = {0};
    double ratio;
    c->cheap_s = time_put(src, NULL, n, FLOR__ELEM_F32 | FLOR__PUT_CHEAP, 0, dir, NULL, &o,
                          &ratio);
    c->cheap_ratio = ratio;
    c->put1_s = time_put(src, NULL, n, FLOR__ELEM_F32, 1, dir, &s, &o, &ratio);
    c->get1_s = time_get(s, &o, dst, n, dir, 0);
    flor__store_close(s);
    c->put_s = time_put(src, NULL, n, FLOR__ELEM_F32, 0, dir, &s, &o, &c->ratio);
    c->get_warm_s = time_get(s, &o, dst, n, dir, 0);
    if (memcmp(src, dst, n) != 0)
        die("restored bytes differ");
    c->get_cold_s = time_get(s, &o, dst, n, dir, 1);
    flor__store_close(s);

    /* the next checkpoint: one epoch later, XOR'ed against this one */
    float *next = malloc(n);
    if (!next)
        die("out of memory");
    memcpy(next, src, n);
    drift(next, n / 4);
    c->next_s = time_put(next, src, n, FLOR__ELEM_F32, 0, dir, &s, &o, &c->next_ratio);
    c->get_next_s = time_get(s, &o, dst, n, dir, 0);
    if (memcmp(next, dst, n) != 0)
        die("restored bytes differ");
    flor__store_close(s);
    flor__obj_release(&o);
    rm_tree(dir);
    free(next);
    free(src);
    free(dst);
}

/* ---- the table ----------------------------------------------------------- */

static void row(const char *name, const struct col *c, int ncol, size_t off, size_t base_off)
{
    printf("%-34s", name);
    for (int i = 0; i < ncol; i++) {
        double secs = *(const double *)((const char *)&c[i] + off);
        double gbs = (double)c[i].n / secs / 1e9;
        if (base_off) {
            double base = *(const double *)((const char *)&c[i] + base_off);
            printf("  %6.2f GB/s %5.2fx", gbs, base / secs);
        } else {
            printf("  %6.2f GB/s       ", gbs);
        }
    }
    printf("\n");
}

#define F(x) offsetof(struct col, x)

static void print_table(const struct col *c, int ncol, int threads)
{
    printf("\n%-34s", "fp32 weights ~ N(0, 0.05)");
    for (int i = 0; i < ncol; i++)
        printf("  %12.0f MB      ", (double)c[i].n / MB);
    printf("\n%-34s", "");
    for (int i = 0; i < ncol; i++)
        printf("  %19s", "speed  vs base");
    printf("\n");
    row("memcpy", c, ncol, F(memcpy_s), 0);
    row("write()+fdatasync        [base]", c, ncol, F(write_s), 0);
    char name[64];
    snprintf(name, sizeof name, "put+sync first ckpt, %d threads", threads);
    row(name, c, ncol, F(put_s), F(write_s));
    row("put+sync first ckpt, 1 thread", c, ncol, F(put1_s), F(write_s));
    snprintf(name, sizeof name, "put+sync next ckpt, %d threads", threads);
    row(name, c, ncol, F(next_s), F(write_s));
    row("put+sync cheap (raw)", c, ncol, F(cheap_s), F(write_s));
    row("read(), page cache       [base]", c, ncol, F(read_warm_s), 0);
    snprintf(name, sizeof name, "get first ckpt, %d threads", threads);
    row(name, c, ncol, F(get_warm_s), F(read_warm_s));
    row("get first ckpt, 1 thread", c, ncol, F(get1_s), F(read_warm_s));
    snprintf(name, sizeof name, "get next ckpt, %d threads", threads);
    row(name, c, ncol, F(get_next_s), F(read_warm_s));
    row("read(), cold             [base]", c, ncol, F(read_cold_s), 0);
    snprintf(name, sizeof name, "get first ckpt, cold, %d thr", threads);
    row(name, c, ncol, F(get_cold_s), F(read_cold_s));
    printf("%-34s", "stored/logical, first ckpt");
    for (int i = 0; i < ncol; i++)
        printf("  %12.3f       ", c[i].ratio);
    printf("\n%-34s", "stored/logical, next ckpt");
    for (int i = 0; i < ncol; i++)
        printf("  %12.3f       ", c[i].next_ratio);
    printf("\n%-34s", "stored/logical, cheap");
    for (int i = 0; i < ncol; i++)
        printf("  %12.3f       ", c[i].cheap_ratio);
    printf("\n");
    printf("(first ckpt: into an empty store, which also fills the delta cache for the next\n"
           " one; next ckpt: one epoch of drift later, stored as XOR deltas; a delta's get\n"
           " decodes its base too)\n");
}

/* ---- ten checkpoints of a drifting model --------------------------------- */

#define LAYERS 4
#define DIM 2048

static void delta_series(void)
{
    char dir[8192];
    snprintf(dir, sizeof dir, "%s/objects", workdir);
    rm_tree(dir);
    flor__store *s;
    if (flor__store_open(&s, dir))
        die("open");
    size_t wn = (size_t)DIM * DIM;
    float *w[LAYERS], *b[LAYERS];
    struct flor__obj ow[LAYERS] = {{0}}, ob[LAYERS] = {{0}};
    for (int l = 0; l < LAYERS; l++) {
        w[l] = malloc(wn * 4);
        b[l] = malloc(DIM * 4);
        fill_weights(w[l], wn);
        fill_weights(b[l], DIM);
    }
    double logical_mb = LAYERS * (wn + DIM) * 4 / MB;
    printf("\n10 checkpoints of an MLP (%d x %dx%d fp32 + biases, %.0f MB), "
           "Adam-like drift of\n1e-3 of the weight scale per epoch; "
           "each checkpoint XOR'ed against the previous\n",
           LAYERS, DIM, DIM, logical_mb);
    printf("%-8s %12s %16s %16s %10s\n", "epoch", "stored MB", "stored/logical",
           "put+sync GB/s", "deltas");
    uint64_t total = 0, total_logical = 0;
    for (int epoch = 0; epoch < 10; epoch++) {
        if (epoch)
            for (int l = 0; l < LAYERS; l++) {
                drift(w[l], wn);
                drift(b[l], DIM);
            }
        uint64_t stored = 0, deltas = 0, chunks = 0;
        double t0 = now();
        for (int l = 0; l < LAYERS; l++) {
            struct flor__obj nw, nb;
            struct flor__put_stats st;
            const struct flor__obj *pw = epoch ? &ow[l] : NULL, *pb = epoch ? &ob[l] : NULL;
            if (flor__store_put(s, w[l], wn * 4, FLOR__ELEM_F32, pw, &nw, &st))
                die("put");
            stored += st.stored;
            deltas += st.by_codec[FLOR__CODEC_XOR];
            chunks += st.chunks;
            if (flor__store_put(s, b[l], DIM * 4, FLOR__ELEM_F32, pb, &nb, &st))
                die("put");
            stored += st.stored;
            chunks += st.chunks;
            flor__obj_release(&ow[l]);
            flor__obj_release(&ob[l]);
            ow[l] = nw;
            ob[l] = nb;
        }
        if (flor__store_sync(s))
            die("sync");
        double secs = now() - t0;
        uint64_t logical = LAYERS * (wn + DIM) * 4;
        total += stored;
        total_logical += logical;
        printf("%-8d %12.1f %16.3f %16.2f %5llu/%llu\n", epoch, stored / MB,
               (double)stored / (double)logical, (double)logical / secs / 1e9,
               (unsigned long long)deltas, (unsigned long long)chunks);
    }
    /* every version of the last layer restores (the chain is whole) */
    float *check = malloc(wn * 4);
    if (flor__store_get(s, &ow[LAYERS - 1], check, wn * 4) ||
        memcmp(check, w[LAYERS - 1], wn * 4) != 0)
        die("restore of the last checkpoint");
    free(check);
    printf("total    %12.1f %16.3f   (target <= 0.75)\n", total / MB,
           (double)total / (double)total_logical);
    for (int l = 0; l < LAYERS; l++) {
        free(w[l]);
        free(b[l]);
        flor__obj_release(&ow[l]);
        flor__obj_release(&ob[l]);
    }
    flor__store_close(s);
    rm_tree(dir);
}

int main(int argc, char **argv)
{
    const char *base = ".";
    int gb = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            base = argv[++i];
        else if (!strcmp(argv[i], "--gb"))
            gb = 1;
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
            reps = atoi(argv[++i]);
            reps = reps < 1 ? 1 : reps > 8 ? 8 : reps;
        }
        else {
            fprintf(stderr, "usage: bench_store [--dir DIR] [--gb] [--reps N]\n");
            return 2;
        }
    }
    snprintf(workdir, sizeof workdir, "%s/bench-store-XXXXXX", base);
    if (!mkdtemp(workdir)) {
        perror("bench_store: mkdtemp");
        return 1;
    }
    struct statfs fs;
    int tmpfs = statfs(workdir, &fs) == 0 && fs.f_type == 0x01021994;
    flor__store *probe;
    if (flor__store_open(&probe, workdir))
        die("open");
    int threads = flor__store_set_threads(probe, 1);
    flor__store_close(probe);
    printf("flor store benchmark: %s%s; chunks of 1 MiB; zstd %s; best of %d runs\n",
           workdir, tmpfs ? " (tmpfs! fdatasync costs nothing here)" : "",
           ZSTD_versionString(), reps);
    printf("put+sync = hash, dedup, compress, append to a pack, fdatasync pack and index\n");
    printf("get      = read, verify checksums, decompress, verify content hashes\n");

    struct col c[3] = {
        {.n = (size_t)16 << 20}, {.n = (size_t)256 << 20}, {.n = (size_t)1 << 30}};
    int ncol = gb ? 3 : 2;
    for (int i = 0; i < ncol; i++)
        measure(&c[i]);
    print_table(c, ncol, threads);
    delta_series();
    rm_tree(workdir);
    return 0;
}
