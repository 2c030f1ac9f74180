/*
 * ckpt.c -- a small program with checkpointed state whose content is
 * known in advance, for the tests of flor du, flor gc and flor replay.
 *
 * It registers two buffers of KB kibibytes each and runs EPOCHS epochs:
 *
 *   frozen[i]        = word(seed, -1, i)    the same in every epoch (dedup)
 *   live[i] at end e = word(seed, e, i)     new in every epoch
 *
 * and logs `sum` (the low 32 bits of the sum of live's words) per epoch.
 * SLEEP_MS milliseconds are spent in each epoch, so that a test can hold
 * a recording open.  Run with FLOR_OVERHEAD=1 to checkpoint every epoch.
 *
 * `ckpt --verify` records nothing: it restores every checkpoint of the
 * project (flor_project_restore) into freshly registered buffers, compares
 * them with the content above (seed and kb from the run's args), and
 * prints "run R epoch E ok" per checkpoint; exit 1 on any mismatch.
 */
#include <flor.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A word of the content: splitmix64 of (seed, epoch, i). */
static uint64_t word(long seed, long epoch, size_t i)
{
    uint64_t z = (uint64_t)seed * 0x9E3779B97F4A7C15u + (uint64_t)(epoch + 2) * 0xBF58476D1CE4E5B9u +
                 (uint64_t)i * 0x94D049BB133111EBu;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static void fill(uint64_t *buf, size_t n, long seed, long epoch)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = word(seed, epoch, i);
}

static int same(const uint64_t *buf, size_t n, long seed, long epoch)
{
    for (size_t i = 0; i < n; i++)
        if (buf[i] != word(seed, epoch, i))
            return 0;
    return 1;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (ms > 0 && nanosleep(&ts, &ts) != 0)
        ;
}

static int record(int argc, char **argv)
{
    if (flor_init(&argc, &argv) != 0)
        fprintf(stderr, "ckpt: %s\n", flor_errmsg());
    long epochs = flor_arg("epochs", 6L);
    long kb = flor_arg("kb", 64L);
    long seed = flor_arg("seed", 1L);
    long pause = flor_arg("sleep_ms", 0L);
    size_t n = (size_t)kb * 1024 / sizeof(uint64_t);
    uint64_t *frozen = malloc(n * sizeof *frozen), *live = malloc(n * sizeof *live);
    if (!frozen || !live)
        return 1;
    fill(frozen, n, seed, -1);
    fill(live, n, seed, -1);
    flor_checkpoint_typed("frozen", frozen, n * sizeof *frozen, FLOR_I64, 1);
    flor_checkpoint_typed("live", live, n * sizeof *live, FLOR_I64, 1);
    FLOR_LOOP(epoch, "epoch", epochs) {
        fill(live, n, seed, epoch);
        uint32_t sum = 0;
        for (size_t i = 0; i < n; i++)
            sum += (uint32_t)live[i];
        sleep_ms(pause);
        flor_log("sum", (long)sum);
    }
    free(frozen);
    free(live);
    return flor_finish();
}

/* The run's integer arg NAME, or DFLT. */
static long run_arg(flor_project *p, int64_t run, const char *name, long dflt)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT value FROM args WHERE run_id = %lld AND name = '%s'",
             (long long)run, name);
    flor_table *t = NULL;
    long v = dflt;
    if (flor_project_query(p, sql, &t) == 0 && flor_table_nrows(t) == 1)
        v = (long)flor_table_int(t, 0, 0);
    flor_table_free(t);
    return v;
}

static int check_one(flor_project *p, int64_t run, long epoch)
{
    long kb = run_arg(p, run, "kb", 64), seed = run_arg(p, run, "seed", 1);
    size_t n = (size_t)kb * 1024 / sizeof(uint64_t);
    uint64_t *frozen = calloc(n, sizeof *frozen), *live = calloc(n, sizeof *live);
    int ok = frozen && live &&
             flor_checkpoint_typed("frozen", frozen, n * sizeof *frozen, FLOR_I64, 1) == 0 &&
             flor_checkpoint_typed("live", live, n * sizeof *live, FLOR_I64, 1) == 0;
    if (ok && flor_project_restore(p, run, epoch) != 0) {
        printf("run %lld epoch %ld: %s\n", (long long)run, epoch, flor_errmsg());
        ok = 0;
    } else if (ok) {
        ok = same(frozen, n, seed, -1) && same(live, n, seed, epoch);
        printf("run %lld epoch %ld %s\n", (long long)run, epoch, ok ? "ok" : "differs");
    }
    flor_checkpoint_remove("frozen");
    flor_checkpoint_remove("live");
    free(frozen);
    free(live);
    return ok;
}

static int verify(void)
{
    flor_project *p = NULL;
    flor_table *t = NULL;
    if (flor_project_open(&p, NULL) != 0 || flor_project_checkpoints(p, 0, &t) != 0) {
        fprintf(stderr, "ckpt: %s\n", flor_errmsg());
        flor_project_free(p);
        return 1;
    }
    int bad = 0;
    for (size_t r = 0; r < flor_table_nrows(t); r++)
        bad += !check_one(p, flor_table_int(t, r, 0), (long)flor_table_int(t, r, 2));
    flor_table_free(t);
    flor_project_free(p);
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--verify") == 0)
        return verify();
    return record(argc, argv);
}
