/*
 * test_checkpoint.c -- registered state survives a checkpoint bit for bit:
 * flat buffers of every element type, callback state of changing size,
 * unchanged objects (dedup), slowly drifting ones (delta chains); and the
 * faults: kill -9 while writing, a full disk, a flipped byte, a layout
 * that changed.
 *
 * A child process records a deterministic "training" loop; the parent
 * registers fresh objects under the same names, restores each epoch's
 * checkpoint and compares with the state it computes itself.
 */
#include "check.h"
#include "internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NPARAM (300 * 1000)   /* 1.2 MB of f32: more than one 1 MiB chunk */
#define NFROZEN (256 * 1024)  /* never changes: dedup */
#define EPOCHS 6

static char project[256];

static void new_project(void) { check_scratch_dir(project, sizeof project, "ckpt", 1); }

static void remove_project(void) { check_remove_dir(project); }

/* ---- the "training" state ------------------------------------------------ */

typedef struct model {
    float params[NPARAM];
    double moments[1000];
    uint8_t frozen[NFROZEN];
    int64_t step;
    /* callback state: a list whose length grows each epoch */
    int32_t *order;
    size_t norder;
} model;

/* M must be zeroed or initialized before: its order list is freed. */
static void init_model(model *m)
{
    free(m->order);
    memset(m, 0, sizeof *m);
    for (int i = 0; i < NPARAM; i++)
        m->params[i] = (float)((i % 1000) * 0.001 - 0.5);
    for (int i = 0; i < NFROZEN; i++)
        m->frozen[i] = (uint8_t)(i * 7);
}

static void train_epoch(model *m, long e)
{
    for (int i = 0; i < NPARAM; i++) /* small drift: deltas compress well */
        m->params[i] += (float)(1e-4 * ((i + e) % 17 - 8));
    for (int i = 0; i < 1000; i++)
        m->moments[i] = m->moments[i] * 0.9 + (double)(i * e);
    m->step += 100;
    m->order = realloc(m->order, (m->norder + 1) * sizeof *m->order);
    m->order[m->norder] = (int32_t)(e * 31 + 1);
    m->norder++;
}

static size_t order_size(void *self) { return ((model *)self)->norder * sizeof(int32_t); }
static int order_save(void *self, void *dst, size_t n)
{
    memcpy(dst, ((model *)self)->order, n);
    return 0;
}
static int order_load(void *self, const void *src, size_t n)
{
    model *m = self;
    m->order = realloc(m->order, n ? n : 1);
    memcpy(m->order, src, n);
    m->norder = n / sizeof(int32_t);
    return 0;
}
static const flor_state_ops order_ops = {order_size, order_save, order_load};

static int register_model(model *m)
{
    int rc = flor_checkpoint_typed("params", m->params, sizeof m->params, FLOR_F32, 1);
    rc = rc ? rc : flor_checkpoint_typed("moments", m->moments, sizeof m->moments, FLOR_F64, 1);
    rc = rc ? rc : flor_checkpoint("frozen", m->frozen, sizeof m->frozen);
    rc = rc ? rc : flor_checkpoint_typed("step", &m->step, sizeof m->step, FLOR_I64, 1);
    rc = rc ? rc : flor_checkpoint_ops("order", &order_ops, m, 1);
    return rc;
}

static void unregister_model(void)
{
    const char *names[] = {"params", "moments", "frozen", "step", "order"};
    for (int i = 0; i < 5; i++)
        flor_checkpoint_remove(names[i]);
}

static int same_model(const model *a, const model *b)
{
    return memcmp(a->params, b->params, sizeof a->params) == 0 &&
           memcmp(a->moments, b->moments, sizeof a->moments) == 0 &&
           memcmp(a->frozen, b->frozen, sizeof a->frozen) == 0 && a->step == b->step &&
           a->norder == b->norder &&
           memcmp(a->order, b->order, a->norder * sizeof *a->order) == 0;
}

static model *train_child;

static int record(long epochs, int slow_ms)
{
    char *argv[] = {"trainer", NULL};
    char **av = argv;
    int argc = 1;
    if (flor_init(&argc, &av) != 0)
        return 10;
    train_child = calloc(1, sizeof *train_child);
    init_model(train_child);
    if (register_model(train_child) != 0)
        return 11;
    FLOR_LOOP(e, "epoch", epochs) {
        train_epoch(train_child, e);
        flor_log("step", (long long)train_child->step);
        if (slow_ms)
            usleep((useconds_t)slow_ms * 1000);
    }
    return flor_finish();
}

static int record_in_child(long epochs)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (chdir(project) != 0)
            _exit(99);
        exit(record(epochs, 0));
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

static const char *q(const char *sql)
{
    static char out[1024];
    flor_project *p;
    snprintf(out, sizeof out, "error");
    if (flor_project_open(&p, project) != 0)
        return out;
    flor_table *t;
    if (flor_project_query(p, sql, &t) == 0) {
        if (flor_table_nrows(t) > 0 && flor_table_text(t, 0, 0))
            snprintf(out, sizeof out, "%s", flor_table_text(t, 0, 0));
        else if (flor_table_nrows(t) > 0)
            snprintf(out, sizeof out, "%lld", (long long)flor_table_int(t, 0, 0));
        flor_table_free(t);
    }
    flor_project_free(p);
    return out;
}

/* ---- round trips ----------------------------------------------------------- */

static void test_every_epoch_restores_bit_exactly(void)
{
    new_project();
    setenv("FLOR_OVERHEAD", "1", 1); /* every epoch */
    CHECK_EQ_INT(record_in_child(EPOCHS), 0);
    unsetenv("FLOR_OVERHEAD");
    CHECK_EQ_STR(q("SELECT count(*) FROM checkpoints"), "6");

    model *want = calloc(1, sizeof *want), *got = calloc(1, sizeof *got);
    init_model(want);
    memset(got, 0, sizeof *got);
    CHECK_EQ_INT(register_model(got), 0);
    flor_project *p;
    CHECK_EQ_INT(flor_project_open(&p, project), 0);
    for (long e = 0; e < EPOCHS; e++) {
        train_epoch(want, e);
        memset(got->params, 0, sizeof got->params);
        got->step = -1;
        int rc = flor_project_restore(p, 1, e);
        if (rc)
            printf("restore epoch %ld: %s\n", e, flor_errmsg());
        CHECK_EQ_INT(rc, 0);
        CHECK(same_model(want, got));
    }
    flor_project_free(p);
    /* the frozen object is stored once; the drifting params as deltas */
    CHECK(atoll(q("SELECT sum(stored_bytes) FROM checkpoints")) <
          atoll(q("SELECT sum(logical_bytes) FROM checkpoints")) / 2);
    free(want->order);
    free(got->order);
    free(want);
    free(got);
    unregister_model();
    remove_project();
}

static void test_restore_names_what_is_missing(void)
{
    new_project();
    setenv("FLOR_OVERHEAD", "1", 1);
    CHECK_EQ_INT(record_in_child(2), 0);
    unsetenv("FLOR_OVERHEAD");
    flor_project *p;
    CHECK_EQ_INT(flor_project_open(&p, project), 0);
    CHECK_EQ_INT(flor_project_restore(p, 1, 7), FLOR_ENOTFOUND);
    CHECK_EQ_STR(flor_errmsg(), "run 1 has no checkpoint at iteration 7");
    CHECK_EQ_INT(flor_project_restore(p, 42, 0), FLOR_ENOTFOUND);
    /* nothing registered: the checkpoint's objects have nowhere to go */
    int rc = flor_project_restore(p, 1, 0);
    CHECK_EQ_INT(rc, FLOR_ENOTFOUND);
    CHECK(strstr(flor_errmsg(), "is not registered") != NULL);
    /* a changed layout is refused, not misread */
    model *got = calloc(1, sizeof *got);
    register_model(got);
    static float small[10];
    flor_checkpoint_typed("params", small, sizeof small, FLOR_F32, 1);
    rc = flor_project_restore(p, 1, 0);
    CHECK_EQ_INT(rc, FLOR_ECORRUPT);
    CHECK(strstr(flor_errmsg(), "object 'params' has 1200000 bytes, the program registered 40") !=
          NULL);
    static float big[NPARAM];
    flor_checkpoint_typed("params", big, sizeof big, FLOR_F32, 2);
    rc = flor_project_restore(p, 1, 0);
    CHECK_EQ_INT(rc, FLOR_ECORRUPT);
    CHECK(strstr(flor_errmsg(), "has version 1, the program registered version 2") != NULL);
    unregister_model();
    free(got->order);
    free(got);
    flor_project_free(p);
    remove_project();
}

/* A callback whose load() registers the flat objects first: the state a
 * fresh process creates only once it knows what the checkpoint holds. */
static int lazy_load(void *self, const void *src, size_t n)
{
    model *m = self;
    int rc = flor_checkpoint_typed("params", m->params, sizeof m->params, FLOR_F32, 1);
    rc = rc ? rc : flor_checkpoint_typed("moments", m->moments, sizeof m->moments, FLOR_F64, 1);
    rc = rc ? rc : flor_checkpoint("frozen", m->frozen, sizeof m->frozen);
    rc = rc ? rc : flor_checkpoint_typed("step", &m->step, sizeof m->step, FLOR_I64, 1);
    return rc ? rc : order_load(self, src, n);
}
static const flor_state_ops lazy_ops = {order_size, order_save, lazy_load};

static void test_a_load_callback_may_register_what_the_checkpoint_holds(void)
{
    new_project();
    setenv("FLOR_OVERHEAD", "1", 1);
    CHECK_EQ_INT(record_in_child(2), 0);
    unsetenv("FLOR_OVERHEAD");
    model *want = calloc(1, sizeof *want), *got = calloc(1, sizeof *got);
    init_model(want);
    train_epoch(want, 0);
    train_epoch(want, 1);
    /* only the callback object is registered: callbacks restore first */
    CHECK_EQ_INT(flor_checkpoint_ops("order", &lazy_ops, got, 1), 0);
    flor_project *p;
    CHECK_EQ_INT(flor_project_open(&p, project), 0);
    int rc = flor_project_restore(p, 1, 1);
    if (rc)
        printf("restore: %s\n", flor_errmsg());
    CHECK_EQ_INT(rc, 0);
    CHECK(same_model(want, got));
    flor_project_free(p);
    unregister_model();
    free(want->order);
    free(got->order);
    free(want);
    free(got);
    remove_project();
}

/* ---- faults ---------------------------------------------------------------- */

static void flip_byte_in_packs(void)
{
    char dir[400];
    snprintf(dir, sizeof dir, "%s/.flor/objects", project);
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (!strstr(de->d_name, ".pack"))
            continue;
        char path[700];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        int fd = open(path, O_RDWR);
        struct stat sb;
        fstat(fd, &sb);
        /* flip bytes throughout the pack's payload */
        for (off_t off = 200; off < sb.st_size; off += 4096) {
            unsigned char c;
            if (pread(fd, &c, 1, off) == 1) {
                c ^= 0x5a;
                if (pwrite(fd, &c, 1, off) != 1)
                    abort();
            }
        }
        close(fd);
    }
    if (d)
        closedir(d);
}

static void test_a_flipped_byte_is_a_clear_restore_error(void)
{
    new_project();
    setenv("FLOR_OVERHEAD", "1", 1);
    CHECK_EQ_INT(record_in_child(2), 0);
    unsetenv("FLOR_OVERHEAD");
    flip_byte_in_packs();
    model *got = calloc(1, sizeof *got);
    register_model(got);
    flor_project *p;
    CHECK_EQ_INT(flor_project_open(&p, project), 0);
    int rc = flor_project_restore(p, 1, 1);
    CHECK_EQ_INT(rc, FLOR_ECORRUPT);
    CHECK(strstr(flor_errmsg(), "checkpoint of run 1 at epoch=1: object '") != NULL);
    flor_project_free(p);
    free(got->order);
    free(got);
    unregister_model();
    remove_project();
}

/* kill -9 at many moments while checkpoints are being written: whatever
 * checkpoint is visible restores, and the database is intact. */
static void test_kill_9_during_checkpoints_leaves_only_whole_ones(void)
{
    new_project();
    setenv("FLOR_OVERHEAD", "1", 1);
    int visible_total = 0;
    for (int delay_ms = 5; delay_ms <= 205; delay_ms += 25) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            if (chdir(project) != 0)
                _exit(99);
            exit(record(1000, 1));
        }
        usleep((useconds_t)delay_ms * 1000);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    unsetenv("FLOR_OVERHEAD");
    CHECK_EQ_STR(q("PRAGMA integrity_check"), "ok");
    model *want = calloc(1, sizeof *want), *got = calloc(1, sizeof *got);
    register_model(got);
    flor_project *p;
    CHECK_EQ_INT(flor_project_open(&p, project), 0);
    flor_table *t;
    CHECK_EQ_INT(flor_project_query(p, "SELECT run_id, iteration FROM checkpoints", &t), 0);
    for (size_t r = 0; r < flor_table_nrows(t); r++) {
        int64_t run = flor_table_int(t, r, 0);
        long it = (long)flor_table_int(t, r, 1);
        init_model(want);
        for (long e = 0; e <= it; e++)
            train_epoch(want, e);
        int rc = flor_project_restore(p, run, it);
        if (rc)
            printf("run %lld epoch %ld: %s\n", (long long)run, it, flor_errmsg());
        CHECK_EQ_INT(rc, 0);
        CHECK(same_model(want, got));
        visible_total++;
    }
    flor_table_free(t);
    flor_project_free(p);
    CHECK(visible_total > 0);
    CHECK_EQ_STR(q("SELECT count(*) FROM runs WHERE status = 'running'"), "0");
    CHECK(atoi(q("SELECT count(*) FROM runs WHERE status = 'killed'")) >= 1);
    free(want->order);
    free(want);
    free(got->order);
    free(got);
    unregister_model();
    remove_project();
}

/* The Nth write or fsync of the store fails (ENOSPC): training finishes,
 * the failed checkpoint is absent, every visible one restores. */
static void test_a_full_disk_skips_checkpoints_without_harm(void)
{
    setenv("FLOR_OVERHEAD", "1", 1);
    for (long n = 1; n <= 12; n++) {
        new_project();
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            if (chdir(project) != 0)
                _exit(99);
            flor__store_fail_write_after(n);
            exit(record(3, 0));
        }
        int st;
        waitpid(pid, &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        CHECK_EQ_STR(q("SELECT status FROM runs"), "finished");
        CHECK_EQ_STR(q("SELECT group_concat(value) FROM logs WHERE name = 'step'"), "100,200,300");
        model *want = calloc(1, sizeof *want), *got = calloc(1, sizeof *got);
        register_model(got);
        flor_project *p;
        CHECK_EQ_INT(flor_project_open(&p, project), 0);
        flor_table *t;
        CHECK_EQ_INT(flor_project_query(p, "SELECT iteration FROM checkpoints", &t), 0);
        for (size_t r = 0; r < flor_table_nrows(t); r++) {
            long it = (long)flor_table_int(t, r, 0);
            init_model(want);
            for (long e = 0; e <= it; e++)
                train_epoch(want, e);
            CHECK_EQ_INT(flor_project_restore(p, 1, it), 0);
            CHECK(same_model(want, got));
        }
        flor_table_free(t);
        flor_project_free(p);
        free(want->order);
        free(want);
        free(got->order);
        free(got);
        unregister_model();
        remove_project();
    }
    unsetenv("FLOR_OVERHEAD");
}

/* ---- the policy ------------------------------------------------------------- */

static void test_policy_takes_every_iteration_when_cheap(void)
{
    flor__policy p;
    flor__policy_init(&p, 0.01, 0);
    int taken = 0;
    for (int i = 1; i <= 100; i++) {
        double now = i * 1.0; /* 1 s iterations */
        if (flor__policy_decide(&p, now, 1 << 20, 0, 0) == FLOR__TAKE) {
            flor__policy_taken(&p, 0.0005, 1 << 20); /* 0.5 ms copies */
            taken++;
        }
    }
    CHECK_EQ_INT(taken, 100);
}

static void test_policy_spaces_expensive_checkpoints_within_budget(void)
{
    flor__policy p;
    flor__policy_init(&p, 0.01, 0);
    int taken = 0;
    double stall = 0.05; /* 50 ms copies, 100 ms iterations: 50% if every time */
    double now = 0;
    for (int i = 1; i <= 1000; i++) {
        now += 0.1;
        if (flor__policy_decide(&p, now, 512u << 20, 0, 0) == FLOR__TAKE) {
            flor__policy_taken(&p, stall, 512u << 20);
            now += stall;
            taken++;
        }
    }
    double overhead = flor__policy_overhead(&p, now);
    CHECK(overhead <= 0.0101);
    CHECK(overhead >= 0.008); /* and it uses the budget it has */
    CHECK(taken >= 15);
}

static void test_policy_skips_while_the_writer_is_busy_but_not_the_last(void)
{
    flor__policy p;
    flor__policy_init(&p, 0.01, 0);
    CHECK(flor__policy_decide(&p, 10, 100, 1, 0) == FLOR__SKIP_BUSY);
    CHECK(flor__policy_decide(&p, 10, 100, 1, 1) == FLOR__TAKE);
    flor__policy_init(&p, 0, 0);
    CHECK(flor__policy_decide(&p, 10, 100, 0, 0) == FLOR__SKIP_BUDGET);
}

/* A fixed cadence: iterations N-1, 2N-1, ... and the last; or the first
 * iteration T seconds after the previous checkpoint; the environment
 * overrides the program; FLOR_OVERHEAD=0 still means off. */
static void test_policy_fixed_cadence(void)
{
    flor__policy p;
    flor__policy_init(&p, 0.01, 0);
    unsetenv("FLOR_CHECKPOINT_EVERY");
    flor__policy_set_every(&p, 20, 0);
    int taken[200], n = 0;
    for (long i = 0; i < 100; i++)
        if (flor__policy_decide_every(&p, i, 0, i == 99) == FLOR__TAKE)
            taken[n++] = (int)i;
    CHECK_EQ_INT(n, 5);
    CHECK_EQ_INT(taken[0], 19);
    CHECK_EQ_INT(taken[4], 99);
    flor__policy_init(&p, 0.01, 0);
    flor__policy_set_every(&p, 0, 2.5);
    n = 0;
    for (long i = 0; i < 10; i++) { /* one second per iteration */
        if (flor__policy_decide_every(&p, i, (double)(i + 1), 0) == FLOR__TAKE) {
            p.t_last = (double)(i + 1);
            taken[n++] = (int)i;
        }
    }
    CHECK_EQ_INT(n, 3); /* at 3 s, 6 s, 9 s */
    CHECK_EQ_INT(taken[0], 2);
    CHECK_EQ_INT(taken[2], 8);
    setenv("FLOR_CHECKPOINT_EVERY", "7", 1);
    flor__policy_set_every(&p, 20, 0);
    CHECK_EQ_INT((int)p.every_n, 7);
    setenv("FLOR_CHECKPOINT_EVERY", "1.5s", 1);
    flor__policy_set_every(&p, 20, 0);
    CHECK_EQ_INT((int)p.every_n, 0);
    CHECK(p.every_s == 1.5);
    unsetenv("FLOR_CHECKPOINT_EVERY");
    flor__policy_init(&p, 0, 0);
    flor__policy_set_every(&p, 1, 0);
    CHECK(flor__policy_decide_every(&p, 0, 0, 1) == FLOR__SKIP_BUDGET);
    CHECK_EQ_INT(flor_checkpoint_every(NULL, -1, 0), FLOR_EINVAL);
    CHECK_EQ_INT(flor_checkpoint_every(NULL, 1, -2), FLOR_EINVAL);
    CHECK(strstr(flor_errmsg(), "expected iterations >= 0 and seconds >= 0") != NULL);
}

/* FLOR_OVERHEAD=0 is documented as "checkpoints off": not even the last
 * iteration is taken, by the policy nor by a whole run. */
/* ---- staging ------------------------------------------------------------- */

static long thread_faults(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return ru.ru_minflt + ru.ru_majflt;
}

/* Whether the mapping at P is advised for transparent huge pages ("hg"
 * among its VmFlags in /proc/self/smaps); -1 when it cannot be told. */
static int advised_huge(const void *p)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f)
        return -1;
    char line[512];
    int in = 0, found = -1;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
            in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
        else if (in && strncmp(line, "VmFlags:", 8) == 0)
            found = strstr(line, " hg") != NULL;
    }
    fclose(f);
    return found;
}

#define BIG (64u << 20)

/* In the child: registers 64 MB and checks where the page faults of its
 * staging go.  Exit status: 0, or which expectation failed. */
static int staging_child(void)
{
    char *argv[] = {"trainer", NULL};
    char **av = argv;
    int argc = 1;
    if (flor_init(&argc, &av) != 0)
        return 10;
    float *w = malloc(BIG);
    for (size_t i = 0; i < BIG / sizeof *w; i++)
        w[i] = (float)(i % 977);
    long f0 = thread_faults();
    if (flor_checkpoint_typed("big", w, BIG, FLOR_F32, 1) != 0)
        return 11;
    /* registering 64 MB costs the training thread no page faults: the
     * staging is warmed on the checkpoint writer's thread (16384 4 KB
     * pages, once populated on this one) */
    if (thread_faults() - f0 > 256)
        return 12;
    flor__ckpt_wait_idle();
    flor__state *s = flor__state_find("big");
    if (!s || !s->stage || s->stage_cap < BIG || s->stage_cold)
        return 13;
    /* warm: every page of it is resident */
    size_t npages = s->stage_cap / 4096;
    unsigned char *vec = malloc(npages);
    if (mincore(s->stage, s->stage_cap, vec) != 0)
        return 14;
    for (size_t i = 0; i < npages; i++)
        if (!(vec[i] & 1))
            return 15;
    free(vec);
    /* huge pages asked for, where the kernel has them */
    if (access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK) == 0 &&
        (advised_huge(s->stage) != 1 || (uintptr_t)s->stage % (2u << 20) != 0))
        return 16;
    /* and the snapshots into it fault no more than registration did */
    long f1 = thread_faults();
    FLOR_LOOP(e, "epoch", 2) {
        w[e] += 1;
    }
    if (thread_faults() - f1 > 256)
        return 17;
    if (flor_finish() != 0)
        return 18;
    free(w);
    return 0;
}

static void test_staging_is_warmed_off_the_training_thread(void)
{
    new_project();
    setenv("FLOR_OVERHEAD", "1", 1); /* both iterations checkpointed */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (chdir(project) != 0)
            _exit(99);
        exit(staging_child());
    }
    int st;
    waitpid(pid, &st, 0);
    unsetenv("FLOR_OVERHEAD");
    CHECK_EQ_INT(WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st), 0);
    CHECK_EQ_STR(q("SELECT count(*) FROM checkpoints"), "2");
    remove_project();
}

static void test_overhead_0_takes_no_checkpoint_not_even_the_last(void)
{
    flor__policy p;
    flor__policy_init(&p, 0, 0);
    CHECK(flor__policy_decide(&p, 10, 100, 0, 1) == FLOR__SKIP_BUDGET);
    new_project();
    setenv("FLOR_OVERHEAD", "0", 1);
    CHECK_EQ_INT(record_in_child(EPOCHS), 0);
    unsetenv("FLOR_OVERHEAD");
    CHECK_EQ_STR(q("SELECT count(*) FROM checkpoints"), "0");
    CHECK_EQ_STR(q("SELECT status FROM runs"), "finished");
    remove_project();
}

int main(void)
{
    setenv("FLOR_QUIET", "1", 1);
    RUN(test_policy_takes_every_iteration_when_cheap);
    RUN(test_policy_spaces_expensive_checkpoints_within_budget);
    RUN(test_policy_skips_while_the_writer_is_busy_but_not_the_last);
    RUN(test_policy_fixed_cadence);
    RUN(test_overhead_0_takes_no_checkpoint_not_even_the_last);
    RUN(test_every_epoch_restores_bit_exactly);
    RUN(test_restore_names_what_is_missing);
    RUN(test_a_load_callback_may_register_what_the_checkpoint_holds);
    RUN(test_a_flipped_byte_is_a_clear_restore_error);
    RUN(test_kill_9_during_checkpoints_leaves_only_whole_ones);
    RUN(test_a_full_disk_skips_checkpoints_without_harm);
    RUN(test_staging_is_warmed_off_the_training_thread);
    return check_summary();
}
