/*
 * ranks.c -- this process's place in a job of several processes, read
 * from the environment its launcher set (flor.h, "Runs of several
 * processes").
 *
 * In order, the first that applies:
 *   FLOR_RANK, FLOR_WORLD_SIZE (and FLOR_JOB)  set by hand, or by a launcher
 *                                              flor does not know
 *   OMPI_COMM_WORLD_RANK, _SIZE                Open MPI's mpirun
 *   PMI_RANK, PMI_SIZE                         MPICH's and Intel MPI's mpiexec
 *   RANK, WORLD_SIZE with TORCHELASTIC_RUN_ID  torchrun
 *   RANK, WORLD_SIZE without it                processes started with
 *                                              torchrun's variables by other
 *                                              means (by hand, a script):
 *                                              "local"
 *   SLURM_PROCID, SLURM_STEP_NUM_TASKS         a task of srun (not a batch
 *                                              script, which has no step)
 * A world of one process is no job: the run is recorded as usual.
 *
 * The job key is what every rank of one job, and no rank of another,
 * shares: the launcher's own identity of the job where it gives one, else
 * the identity of the process that started this one (all the local ranks
 * of mpirun, torchrun or srun are children of one process).  Ranks started
 * with torchrun's variables but not by torchrun are keyed by MASTER_ADDR
 * and MASTER_PORT, their process group's meeting point: those started from
 * different shells join one run, and no two jobs that run at once can
 * share it (rank 0's store holds the port).  A job that reuses the port
 * later cannot join an earlier one either: a rank joins only a run whose
 * row for its rank is still free (flor__runs_find_leader).
 */
#include "record/record.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The integer in variable NAME, into *OUT: 1 if set and well-formed, 0
 * when unset, -1 (with the error set) when set to something else. */
static int env_long(const char *name, long lo, long *out)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end || errno || v < lo || v > 1000000) {
        flor__err(FLOR_EINVAL, "%s='%s': expected an integer from %ld to 1000000", name, s, lo);
        return -1;
    }
    *out = v;
    return 1;
}

/* "PREFIX:" then the values of the variables named, ':' between. */
static char *key_of(const char *prefix, const char *const *vars)
{
    flor__buf b = {0};
    int rc = flor__buf_puts(&b, prefix);
    for (int i = 0; !rc && vars[i]; i++) {
        const char *v = getenv(vars[i]);
        rc = flor__buf_printf(&b, ":%s", v ? v : "");
    }
    if (rc) {
        flor__buf_release(&b);
        return NULL;
    }
    return b.p;
}

static bool is_set(const char *name)
{
    const char *v = name ? getenv(name) : NULL;
    return v && *v;
}

/* Whether any of the NULL-ended VARS is set. */
static bool any_set(const char *const *vars)
{
    for (int i = 0; vars[i]; i++)
        if (is_set(vars[i]))
            return true;
    return false;
}

/* The parent process's identity: the job key of last resort. */
static char *parent_key(const char *prefix)
{
    long ppid = (long)getppid();
    char *ident = flor__proc_identity(ppid);
    char *key = flor__printf("%s:parent:%s:%ld:%s", prefix, flor__hostname(), ppid,
                             ident ? ident : "");
    free(ident);
    return key;
}

typedef struct launcher_env {
    const char *kind;      /* runs.launcher */
    const char *rank, *size;
    const char *key[4];    /* variables that name the job; NULL-ended; none set: the parent */
    const char *needs;     /* the entry applies only when this variable is set */
    const char *unless;    /* ... or only when it is not */
} launcher_env;

static const launcher_env LAUNCHERS[] = {
    {"env", "FLOR_RANK", "FLOR_WORLD_SIZE", {"FLOR_JOB", NULL}, NULL, NULL},
    {"mpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE",
     {"OMPI_MCA_ess_base_jobid", "OMPI_MCA_orte_hnp_uri", NULL}, NULL, NULL},
    {"mpi", "PMI_RANK", "PMI_SIZE", {NULL}, NULL, NULL},
    {"torchrun", "RANK", "WORLD_SIZE", {"TORCHELASTIC_RUN_ID", "MASTER_ADDR", "MASTER_PORT", NULL},
     "TORCHELASTIC_RUN_ID", NULL},
    {"local", "RANK", "WORLD_SIZE", {"MASTER_ADDR", "MASTER_PORT", NULL}, NULL,
     "TORCHELASTIC_RUN_ID"},
    {"slurm", "SLURM_PROCID", "SLURM_STEP_NUM_TASKS", {"SLURM_JOB_ID", "SLURM_STEP_ID", NULL}, NULL,
     NULL},
};

int flor__rank_detect(flor__rank *out)
{
    memset(out, 0, sizeof *out);
    out->world = 1;
    for (size_t i = 0; i < sizeof LAUNCHERS / sizeof LAUNCHERS[0]; i++) {
        const launcher_env *l = &LAUNCHERS[i];
        if ((l->needs && !is_set(l->needs)) || is_set(l->unless))
            continue;
        long rank = 0, world = 0;
        int has_rank = env_long(l->rank, 0, &rank);
        if (has_rank < 0)
            return FLOR_EINVAL;
        if (!has_rank)
            continue;
        int has_world = env_long(l->size, 1, &world);
        if (has_world < 0)
            return FLOR_EINVAL;
        if (!has_world) {
            if (i == 0)
                return flor__err(FLOR_EINVAL, "FLOR_RANK is set but FLOR_WORLD_SIZE is not: "
                                              "expected the number of processes of the job");
            continue; /* e.g. a RANK of the program's own */
        }
        if (rank >= world)
            return flor__err(FLOR_EINVAL, "%s=%ld: expected a rank below %s=%ld", l->rank, rank,
                             l->size, world);
        if (world == 1)
            return 0;
        /* a job key given by FLOR_JOB wins over the launcher's */
        const char *given = getenv("FLOR_JOB");
        char *key;
        if (given && *given)
            key = flor__printf("job:%s", given);
        else if (any_set(l->key))
            key = key_of(l->kind, l->key);
        else
            key = parent_key(l->kind);
        if (!key)
            return flor__err(FLOR_ENOMEM, "out of memory");
        out->rank = rank;
        out->world = world;
        out->kind = l->kind;
        out->job = key;
        return 0;
    }
    return 0;
}

void flor__rank_release(flor__rank *r)
{
    free(r->job);
    memset(r, 0, sizeof *r);
    r->world = 1;
}
