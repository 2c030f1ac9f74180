/*
 * test_ranks.c -- a process's rank in a job of several, as the launchers
 * set it in the environment (src/record/ranks.c).
 */
#include "check.h"
#include "internal.h"

#include <stdlib.h>

static const char *const VARS[] = {
    "FLOR_RANK", "FLOR_WORLD_SIZE", "FLOR_JOB", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE",
    "OMPI_MCA_ess_base_jobid", "OMPI_MCA_orte_hnp_uri", "PMI_RANK", "PMI_SIZE", "RANK",
    "WORLD_SIZE", "TORCHELASTIC_RUN_ID", "MASTER_ADDR", "MASTER_PORT", "SLURM_PROCID",
    "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS", "SLURM_JOB_ID", "SLURM_STEP_ID", NULL};

static void clean_env(void)
{
    for (int i = 0; VARS[i]; i++)
        unsetenv(VARS[i]);
}

static void test_a_lone_process_is_rank_0_of_1(void)
{
    clean_env();
    flor__rank r;
    CHECK_EQ_INT(flor__rank_detect(&r), 0);
    CHECK_EQ_INT((int)r.rank, 0);
    CHECK_EQ_INT((int)r.world, 1);
    CHECK(r.kind == NULL && r.job == NULL);
    /* a world of one is no job either */
    setenv("OMPI_COMM_WORLD_RANK", "0", 1);
    setenv("OMPI_COMM_WORLD_SIZE", "1", 1);
    CHECK_EQ_INT(flor__rank_detect(&r), 0);
    CHECK(r.world == 1 && r.job == NULL);
    flor__rank_release(&r);
}

static void test_open_mpi_names_the_job_by_its_id(void)
{
    clean_env();
    setenv("OMPI_COMM_WORLD_RANK", "1", 1);
    setenv("OMPI_COMM_WORLD_SIZE", "4", 1);
    setenv("OMPI_MCA_ess_base_jobid", "751239169", 1);
    setenv("OMPI_MCA_orte_hnp_uri", "751239168.0;tcp://10.0.0.1:47733", 1);
    flor__rank r;
    CHECK_EQ_INT(flor__rank_detect(&r), 0);
    CHECK_EQ_INT((int)r.rank, 1);
    CHECK_EQ_INT((int)r.world, 4);
    CHECK_EQ_STR(r.kind, "mpi");
    CHECK_EQ_STR(r.job, "mpi:751239169:751239168.0;tcp://10.0.0.1:47733");
    flor__rank_release(&r);
}

static void test_torchrun_and_slurm_and_their_keys(void)
{
    clean_env();
    setenv("RANK", "3", 1);
    setenv("WORLD_SIZE", "8", 1);
    setenv("TORCHELASTIC_RUN_ID", "abc", 1);
    setenv("MASTER_ADDR", "node1", 1);
    setenv("MASTER_PORT", "29500", 1);
    flor__rank r;
    CHECK_EQ_INT(flor__rank_detect(&r), 0);
    CHECK(r.rank == 3 && r.world == 8);
    CHECK_EQ_STR(r.kind, "torchrun");
    CHECK_EQ_STR(r.job, "torchrun:abc:node1:29500");
    flor__rank_release(&r);
    clean_env();
    setenv("SLURM_PROCID", "2", 1);
    setenv("SLURM_STEP_NUM_TASKS", "3", 1);
    setenv("SLURM_JOB_ID", "77", 1);
    setenv("SLURM_STEP_ID", "0", 1);
    CHECK_EQ_INT(flor__rank_detect(&r), 0);
    CHECK(r.rank == 2 && r.world == 3);
    CHECK_EQ_STR(r.kind, "slurm");
    CHECK_EQ_STR(r.job, "slurm:77:0");
    flor__rank_release(&r);
    /* a batch script has a SLURM_PROCID but no step: one process */
    clean_env();
    setenv("SLURM_PROCID", "0", 1);
    setenv("SLURM_NTASKS", "4", 1);
    CHECK_EQ_INT(flor__rank_detect(&r), 0);
    CHECK(r.world == 1 && r.job == NULL);
    flor__rank_release(&r);
}

static void test_torchruns_variables_without_torchrun_are_local_keyed_by_the_master(void)
{
    /* RANK and WORLD_SIZE set by hand, as torchrun would but without its
     * rendezvous id: the process group's MASTER_ADDR:MASTER_PORT is the key */
    clean_env();
    setenv("RANK", "1", 1);
    setenv("WORLD_SIZE", "2", 1);
    setenv("MASTER_ADDR", "127.0.0.1", 1);
    setenv("MASTER_PORT", "29611", 1);
    flor__rank r;
    CHECK_EQ_INT(flor__rank_detect(&r), 0);
    CHECK(r.rank == 1 && r.world == 2);
    CHECK_EQ_STR(r.kind, "local");
    CHECK_EQ_STR(r.job, "local:127.0.0.1:29611");
    flor__rank_release(&r);
    /* no master either: the parent */
    unsetenv("MASTER_ADDR");
    unsetenv("MASTER_PORT");
    CHECK_EQ_INT(flor__rank_detect(&r), 0);
    CHECK_EQ_STR(r.kind, "local");
    CHECK(r.job && strncmp(r.job, "local:parent:", 13) == 0);
    flor__rank_release(&r);
    clean_env();
}

static void test_flor_job_wins_and_the_parent_is_the_last_resort(void)
{
    clean_env();
    setenv("PMI_RANK", "0", 1);
    setenv("PMI_SIZE", "2", 1);
    flor__rank r;
    CHECK_EQ_INT(flor__rank_detect(&r), 0);
    CHECK_EQ_STR(r.kind, "mpi");
    CHECK(r.job && strncmp(r.job, "mpi:parent:", 11) == 0);
    flor__rank_release(&r);
    setenv("FLOR_JOB", "nightly-7", 1);
    CHECK_EQ_INT(flor__rank_detect(&r), 0);
    CHECK_EQ_STR(r.job, "job:nightly-7");
    flor__rank_release(&r);
    /* FLOR_RANK comes before every launcher's variables */
    setenv("FLOR_RANK", "1", 1);
    setenv("FLOR_WORLD_SIZE", "2", 1);
    CHECK_EQ_INT(flor__rank_detect(&r), 0);
    CHECK(r.rank == 1 && r.world == 2);
    CHECK_EQ_STR(r.kind, "env");
    flor__rank_release(&r);
}

static void test_malformed_variables_are_errors_that_name_them(void)
{
    clean_env();
    flor__rank r;
    setenv("OMPI_COMM_WORLD_RANK", "x", 1);
    setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
    CHECK_EQ_INT(flor__rank_detect(&r), FLOR_EINVAL);
    CHECK(strstr(flor_errmsg(), "OMPI_COMM_WORLD_RANK='x'") != NULL);
    setenv("OMPI_COMM_WORLD_RANK", "2", 1);
    CHECK_EQ_INT(flor__rank_detect(&r), FLOR_EINVAL);
    CHECK(strstr(flor_errmsg(), "expected a rank below OMPI_COMM_WORLD_SIZE=2") != NULL);
    setenv("OMPI_COMM_WORLD_SIZE", "0", 1);
    CHECK_EQ_INT(flor__rank_detect(&r), FLOR_EINVAL);
    clean_env();
    setenv("FLOR_RANK", "0", 1);
    CHECK_EQ_INT(flor__rank_detect(&r), FLOR_EINVAL);
    CHECK(strstr(flor_errmsg(), "FLOR_WORLD_SIZE is not") != NULL);
    clean_env();
}

int main(void)
{
    RUN(test_a_lone_process_is_rank_0_of_1);
    RUN(test_open_mpi_names_the_job_by_its_id);
    RUN(test_torchrun_and_slurm_and_their_keys);
    RUN(test_torchruns_variables_without_torchrun_are_local_keyed_by_the_master);
    RUN(test_flor_job_wins_and_the_parent_is_the_last_resort);
    RUN(test_malformed_variables_are_errors_that_name_them);
    return check_summary();
}
